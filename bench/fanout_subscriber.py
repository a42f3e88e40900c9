"""A bare MQTT subscriber for the fan-out baseline: prints ``ready`` once subscribed, then
``<monotonic time> <payload>`` for every message, until stdin closes."""

from __future__ import annotations

import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def main() -> None:
    """Usage: fanout_subscriber PORT USERNAME PASSWORD TOPIC."""
    port, username, password, topic = sys.argv[1:5]
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"fanout-{username}",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)

    def on_connect(c: mqtt.Client, *_args: object) -> None:
        c.subscribe(topic, qos=1)

    def on_subscribe(*_args: object) -> None:
        print("ready", flush=True)

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        print(f"{time.monotonic():.6f} {message.payload.decode()}", flush=True)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect("127.0.0.1", int(port))
    threading.Thread(target=client.loop_forever, daemon=True).start()
    sys.stdin.read()  # the benchmark closes our stdin to stop us
    client.disconnect()


if __name__ == "__main__":
    main()
