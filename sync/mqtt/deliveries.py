"""PUBACK tracking: which QoS 1 publishes the broker has taken, and with what reason code.

MQTT v5 says in the PUBACK when the broker refused a publish (the ACL, a quota); with
v3.1.1 a refused publish is acknowledged as a success and dropped. So a sender that must
know (the hub's outbox marks a row published only once its PUBACK arrived) waits here."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from paho.mqtt.reasoncodes import ReasonCode


@dataclass
class Delivery:
    """One QoS 1 publish; ``done`` is set when the broker's PUBACK arrived, and then
    ``on_done`` is called (on paho's thread, or the publisher's own when the PUBACK came
    first): the publisher waiting for it, and no other, is woken."""

    done: threading.Event = field(default_factory=threading.Event)
    reason: ReasonCode | None = None
    on_done: Callable[[], None] | None = None

    def resolve(self, reason: ReasonCode) -> None:
        """The broker answered with ``reason``."""
        self.reason = reason
        self.done.set()
        if self.on_done is not None:
            self.on_done()

    @property
    def refused(self) -> bool:
        """The broker answered and refused it."""
        return self.reason is not None and self.reason.is_failure


class Deliveries:
    """PUBACKs by message id. paho may report a PUBACK before ``publish`` has returned its
    mid to the caller, so an early one is parked until the caller tracks it. (No lock is held
    while calling paho: paho calls on_publish holding its own message lock.)"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[int, Delivery] = {}
        self._early: dict[int, ReasonCode] = {}

    def track(self, mid: int, on_done: Callable[[], None] | None = None) -> Delivery:
        """The delivery of the publish paho numbered ``mid``; ``on_done`` is called once
        the PUBACK arrived."""
        delivery = Delivery(on_done=on_done)
        with self._lock:
            reason = self._early.pop(mid, None)
            if reason is None:
                self._waiting[mid] = delivery
        if reason is not None:
            delivery.resolve(reason)
        return delivery

    def resolve(self, mid: int, reason: ReasonCode) -> None:
        """The broker's PUBACK for ``mid`` arrived."""
        with self._lock:
            delivery = self._waiting.pop(mid, None)
            if delivery is None:
                self._early[mid] = reason
        if delivery is not None:
            delivery.resolve(reason)
