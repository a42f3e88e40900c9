"""What the hub's workers have in common: each runs on its own thread while the hub has a
broker link, and stops when asked (``start(link)``/``stop``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sync.mqtt.deliveries import Delivery
from sync.mqtt.link import MqttLink

log = logging.getLogger(__name__)

# (device, what, how many): something of a device's refused over its quota; the hub counts
# it and raises the quota_exceeded alarm when one is due.
OverQuota = Callable[[str, str, int], None]


@dataclass
class InFlight:
    """A signed full-state message (a booth list, the site rules) published retained and
    awaiting its PUBACK; ``version`` None for a republish of one already acknowledged."""

    delivery: Delivery
    sent_at: float
    version: int | None = None
    digest: str = ""
    payload: bytes = field(default=b"", repr=False)


class LinkWorker:
    """A thread named ``name`` running ``_run(link)`` until ``stop``."""

    name = "hub-worker"

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, link: MqttLink) -> None:
        """Work through ``link`` until ``stop``."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, args=(link,), name=self.name,
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Ask the thread to stop and wait for it (at most ``timeout``)."""
        self._stopping.set()
        self._wake_to_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("%s did not stop within %.0f s", self._thread.name, timeout)
            self._thread = None

    def _wake_to_stop(self) -> None:
        """Wake the thread from whatever it waits on, so it sees ``_stopping``."""

    def _run(self, link: MqttLink) -> None:
        raise NotImplementedError


class WakeableWorker(LinkWorker):
    """A worker that sleeps between rounds and is woken early by ``wake`` (something to look
    at: a new row, a PUBACK, a change of connection) or by ``stop``."""

    def __init__(self) -> None:
        super().__init__()
        self._wake = threading.Event()

    def wake(self) -> None:
        """Look now instead of at the end of the current sleep."""
        self._wake.set()

    def _wake_to_stop(self) -> None:
        self._wake.set()

    def _sleep(self, timeout: float) -> None:
        """Wait until woken or ``timeout`` seconds have passed."""
        self._wake.wait(timeout)
        self._wake.clear()
