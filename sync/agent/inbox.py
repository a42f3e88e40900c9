"""The sync agent's inbox: what paho's network thread hands the worker, and the byte budget
that makes the network thread wait (and so the broker, through TCP) while the worker is
behind."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Up:
    """The link is connected and subscribed."""


@dataclass(frozen=True)
class Down:
    """The link went down."""


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    ack: Callable[[], None]  # tells the broker it was handled: the next one may come


@dataclass(frozen=True)
class Stop:
    """Leave the worker loop."""


Item = Up | Down | Message | Stop


class InboxBudget:
    """How many bytes of messages the worker has waiting; makes the producer wait when full.

    The CONNECT asks for a Receive Maximum (``edge_agent.RECEIVE_MAXIMUM``) so that the
    broker holds back what the worker has not acknowledged yet, but a broker may not keep
    to it: Mosquitto 2.0.11 (Debian bookworm's package) does at first, then, once it has
    queued messages for the client and acknowledgements come back, sends the backlog
    regardless (test_a_backlog_waits_in_the_broker_not_in_the_agent saw 38 unacknowledged
    against 16). Syncing a million cards, that left ~1,600 snapshot chunks and broadcast
    changes (360 MB) waiting in the inbox. So the agent enforces the bound itself: the
    network thread waits here, stops reading the socket, and TCP holds the broker back.

    Waiting delays what arrives behind the backlog (commands included) by at most one
    worker step, which is what a broker that keeps to the Receive Maximum does too. While
    it waits paho sends no PINGREQ either, so a step longer than the broker's keepalive
    grace (1.5 x ``sync.mqtt.link.KEEPALIVE_S``) costs a reconnect and a catch-up, never data.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._used = 0
        self._closed = False
        self._cond = threading.Condition()

    def take(self, size: int) -> bool:
        """Wait until ``size`` more bytes fit; False once closed (the agent is stopping)."""
        with self._cond:
            # An empty inbox admits any message, or one above the limit would wait forever.
            self._cond.wait_for(lambda: self._closed or self._used == 0
                                or self._used + size <= self._limit)
            if self._closed:
                return False
            self._used += size
            return True

    def give_back(self, size: int) -> None:
        """The worker is done with a message of ``size`` bytes."""
        with self._cond:
            self._used -= size
            self._cond.notify_all()

    def close(self) -> None:
        """Stop waiting: ``stop`` joins paho's thread, which must not stay blocked here."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
