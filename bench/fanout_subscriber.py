"""The revocation benchmark's baseline device: an MQTT subscriber that commits each message
to its own SQLite file with the gate's durability, and nothing else. Prints ``ready`` once
subscribed; stops when stdin closes.

Each message is ``<uid> <padding>``: the card's row in the ``cards`` table of ``DB`` (a copy
of a gate's auth.db) is set to ``lost`` in one committed transaction, opened as
edge/migrations.py ``connect`` opens a gate's files (WAL, synchronous=FULL), right on paho's
network thread: no queue, no parsing, no signature, the least a gate could do."""

from __future__ import annotations

import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.migrations import connect


def main() -> None:
    """Usage: fanout_subscriber PORT USERNAME PASSWORD TOPIC DB."""
    port, username, password, topic, db = sys.argv[1:6]
    conn = connect(db)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"fanout-{username}",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)

    def on_connect(c: mqtt.Client, *_args: object) -> None:
        c.subscribe(topic, qos=1)

    def on_subscribe(*_args: object) -> None:
        print("ready", flush=True)

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        uid = message.payload.split(b" ", 1)[0].decode()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE cards SET status = 'lost' WHERE uid = ?", (uid,))
        conn.commit()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect("127.0.0.1", int(port))
    threading.Thread(target=client.loop_forever, daemon=True).start()
    sys.stdin.read()  # the benchmark closes our stdin to stop us
    client.disconnect()
    conn.close()


if __name__ == "__main__":
    main()
