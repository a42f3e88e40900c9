"""The gate's single control thread: work from reader and GPIO threads is queued here and
run one item at a time, with timers, so door and barrier state machines need no locks."""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True)
class Timer:
    """A pending callback ordered by due time; ``cancel`` makes it a no-op."""

    due: float
    order: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        """Stop the call from happening."""
        self.cancelled = True


class GateThread:
    """A minimal event loop: ``call_soon_threadsafe`` from any thread, timers on monotonic time."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._timers: list[Timer] = []
        self._order = itertools.count()
        self._stopping = False
        self.thread_id: int | None = None

    def now(self) -> float:
        """Monotonic seconds."""
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Schedule ``callback``; only call this on the control thread."""
        timer = Timer(self.now() + max(0.0, delay), next(self._order), callback)
        heapq.heappush(self._timers, timer)
        return timer

    def call_soon_threadsafe(self, callback: Callable[[], None]) -> None:
        """Queue ``callback`` to run on the control thread; safe from any thread."""
        self._queue.put(callback)

    @property
    def stopping(self) -> bool:
        """``stop`` was called."""
        return self._stopping

    def in_loop_thread(self) -> bool:
        """Whether the caller is the control thread."""
        return self.thread_id == threading.get_ident()

    def stop(self) -> None:
        """Ask ``run`` to return after the item it is running; safe from any thread."""
        self._stopping = True
        self._queue.put(None)

    def run(self, on_idle: Callable[[], object] | None = None, idle_every: float = 1.0,
            on_error: Callable[[Exception], bool] | None = None) -> None:
        """Run queued work and due timers until ``stop``; ``on_idle`` runs at least every
        ``idle_every`` seconds (the systemd watchdog is fed from there, so a hung loop is
        noticed). An exception from a callback ends the loop unless ``on_error`` returns
        True for it (the gate absorbs storage errors there; a bug still ends the process)."""
        self.thread_id = threading.get_ident()
        next_idle = self.now()
        while not self._stopping:
            now = self.now()
            while self._timers and (self._timers[0].cancelled or self._timers[0].due <= now):
                timer = heapq.heappop(self._timers)
                if not timer.cancelled:
                    self._call(timer.callback, on_error)
                now = self.now()
            if on_idle is not None and now >= next_idle:
                on_idle()
                next_idle = now + idle_every
            wait = next_idle - now if on_idle is not None else idle_every
            if self._timers:
                wait = min(wait, self._timers[0].due - now)
            try:
                item = self._queue.get(timeout=max(0.0, wait))
            except queue.Empty:
                continue
            if item is None:
                continue
            self._call(item, on_error)
            # Drain what queued up meanwhile before looking at timers again.
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    self._call(item, on_error)

    @staticmethod
    def _call(callback: Callable[[], None],
              on_error: Callable[[Exception], bool] | None) -> None:
        try:
            callback()
        except Exception as exc:
            if on_error is None or not on_error(exc):
                raise
