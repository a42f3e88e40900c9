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


class RebuildingWorker(WakeableWorker):
    """A worker publishing what it builds from the desk's records (a booth's list, the site
    rules). Without ``refresh_s`` it builds at every round; with it, only when told the
    records may have changed (``rebuild``: a company's desk tells it, central/
    list_changes.py) and at least every ``refresh_s`` seconds — what it cannot be told of,
    a day passing or a write the desk does not see, arrives within that."""

    def __init__(self, refresh_s: float | None = None) -> None:
        super().__init__()
        self.refresh_s = refresh_s
        self._changed = threading.Event()
        self._changed.set()  # the first round builds
        self._built_at = float("-inf")

    def rebuild(self) -> None:
        """What the desk holds for this worker may have changed: build it again now."""
        self._changed.set()
        self.wake()

    def _build_again(self) -> None:
        """Build at the next round (what was built could not all be sent, or failed)."""
        self._changed.set()

    def _build_due(self, now: float) -> bool:
        """Whether to build in this round (``now`` by the worker's clock); if so, the
        change it answers is taken: one told while building is built at the next round."""
        if self.refresh_s is not None and not self._changed.is_set() \
                and now - self._built_at < self.refresh_s:
            return False
        self._changed.clear()
        self._built_at = now
        return True
