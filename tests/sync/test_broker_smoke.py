"""The fixture's broker refuses anonymous clients and serves authenticated ones."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from tests.sync.conftest import Broker


def connect(broker: Broker, username: str | None, password: str | None) -> ReasonCode:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{username}",
                         protocol=mqtt.MQTTv5)
    if username is not None:
        client.username_pw_set(username, password)
    done = threading.Event()
    result: list[ReasonCode] = []

    def on_connect(_c: mqtt.Client, _u: object, _f: object, rc: ReasonCode,
                   _p: Properties | None) -> None:
        result.append(rc)
        done.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    assert done.wait(5)
    client.disconnect()
    client.loop_stop()
    return result[0]


def test_anonymous_and_wrong_password_refused(broker: Broker) -> None:
    assert connect(broker, None, None).is_failure
    assert connect(broker, "dev-a", "wrong").is_failure
    assert not connect(broker, "dev-a", "pw-dev-a").is_failure
