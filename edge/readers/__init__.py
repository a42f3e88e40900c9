"""Card reader adapters (the ``CardReader`` port of edge.ports).

One module per reader family — ``nfc_reader`` (nfcpy: PN532, USB readers, the udp simulator)
and ``serial_reader`` (UART readers, Wiegand-to-UART bridges) — plus ``debounce``. This
module holds what both families share, the supervised reader thread, and ``build_reader``,
which picks the adapter a configuration names.

Events every reader emits through the gate's ``EventSink``:

- ``reader_unavailable`` (alarm): ``reader`` (path), ``error`` (what failed),
  ``retry_in_s`` (the first retry delay). Once per outage, not once per retry.
- ``reader_available``: ``reader``, ``failed_attempts`` (failures during the outage, the one
  that began it included; 0 at a clean first open), ``down_s`` (seconds since the outage
  began; 0.0 at a clean first open). Emitted at the first successful open and whenever the
  reader comes back.
- ``reader_garbage``: ``reader``, ``count`` (bad lines reported by this event), ``line``
  (the first of them, escaped and truncated), ``error`` (why it was refused), ``seconds``
  (from that line to the report; 0 for a line reported on its own). Coalesced: the first
  bad line after a quiet spell at once, then at most one event per ``GARBAGE_INTERVAL_S``
  (60 s), and what is left when the reader stops (edge.readers.garbage). Serial readers
  only, today; see edge.readers.serial_reader.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping

from edge.ports import CardReader, EventSink
from edge.readers.debounce import Debouncer
from edge.readers.garbage import GARBAGE_INTERVAL_S, GarbageCounter, GarbageReport
from firmware_config.schema import NfcReaderConfig, ReaderConfig, SerialReaderConfig

log = logging.getLogger(__name__)

# stop() waits this long for the thread. The slowest thing a reader does between two checks
# of the stop flag is one nfcpy poll over udp (1 s with no card answering).
STOP_JOIN_S = 2.0


class Backoff:
    """Exponential retry delays: ``initial``, doubling on every failure, capped at ``maximum``."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._initial = initial
        self._maximum = max(initial, maximum)
        self._next = initial

    def next_delay(self) -> float:
        """The delay before the next retry; each call doubles the one after (up to the cap)."""
        delay = self._next
        self._next = min(self._maximum, self._next * 2)
        return delay

    def reset(self) -> None:
        """Start again from ``initial`` (the device has been working)."""
        self._next = self._initial


def supervise(*, open_device: Callable[[], None], serve: Callable[[], None],
              close: Callable[[], None], stopping: Callable[[], bool],
              now: Callable[[], float], available: Callable[[], None],
              unavailable: Callable[[BaseException, float], None],
              pause: Callable[[float], object], backoff: Backoff, retry_max: float) -> None:
    """Open a device and serve it until ``stopping()``; on any failure close it, report it
    once (``unavailable(error, delay)``), wait (``pause``) and open it again. A session that
    lasted ``retry_max`` starts the backoff afresh. ``serve`` returning while not stopping is
    a failure too: a device session ends only when asked. An error while stopping is not an
    outage worth reporting. ``close`` must not raise."""
    while not stopping():
        opened_at: float | None = None
        error: BaseException | None = None
        try:
            open_device()
            opened_at = now()
            available()
            serve()
            if not stopping():
                error = RuntimeError("the device session ended without an error")
        except Exception as exc:
            error = exc
        finally:
            close()
        if error is None or stopping():
            break
        if opened_at is not None and now() - opened_at >= retry_max:
            backoff.reset()
        delay = backoff.next_delay()
        unavailable(error, delay)
        pause(delay)


class SupervisedReader(ABC):
    """A reader thread that survives its device: open, read, and on any failure close,
    report once, back off and open again — until ``stop()``.

    Subclasses provide ``_open``/``_read``/``_close`` and call ``_card(uid)`` for every
    sighting; this class debounces, emits the availability events (see the module doc) and
    never lets an exception end the thread.

    Backoff resets only after a session has stayed up for ``retry_max`` seconds, so a device
    that opens and fails at once (flapping) is retried at the capped rate, not hammered.
    """

    def __init__(
        self,
        *,
        path: str,
        debounce_s: float,
        retry_initial: float,
        retry_max: float,
        now: Callable[[], float] = time.monotonic,
        garbage_interval: float = GARBAGE_INTERVAL_S,
    ) -> None:
        self._path = path
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._now = now
        self._debouncer = Debouncer(debounce_s, now)
        self._garbage_counter = GarbageCounter(garbage_interval, now)
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_card: Callable[[str], None] = lambda uid: None
        self._sink: EventSink | None = None
        self._available: bool | None = None  # None: not yet known (before the first open)
        self._down_since: float | None = None
        self._failed_attempts = 0

    @property
    def path(self) -> str:
        """The device path from the configuration."""
        return self._path

    @property
    def is_running(self) -> bool:
        """Whether the reader thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def is_available(self) -> bool:
        """Whether the device is currently open and being read."""
        return self._available is True

    def start(self, on_card: Callable[[str], None], emit: EventSink) -> None:
        """Begin reading on a daemon thread; ``on_card`` and ``emit`` run on that thread."""
        if self.is_running:
            raise RuntimeError(f"reader {self._path} is already running")
        self._on_card = on_card
        self._sink = emit
        self._stop_event = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"reader {self._path}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to finish and wait for it (at most ``STOP_JOIN_S``)."""
        self._stop_event.set()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return  # called from on_card: the thread ends after the callback returns
        thread.join(STOP_JOIN_S)
        if thread.is_alive():
            log.warning("reader %s did not stop within %.1f s", self._path, STOP_JOIN_S)

    # -- for subclasses ------------------------------------------------------------------

    @abstractmethod
    def _open(self) -> None:
        """Open the device; raise (OSError or anything) when it cannot be opened."""

    @abstractmethod
    def _read(self) -> None:
        """Read the open device, calling ``_card`` per sighting, until ``_stopping()``.

        Return only when stopping; raise when the device fails.
        """

    @abstractmethod
    def _close(self) -> None:
        """Release the device; called after every session, failed or not."""

    def _stopping(self) -> bool:
        """True once ``stop()`` has been called (also nfcpy's ``terminate`` callback)."""
        return self._stop_event.is_set()

    def _card(self, uid: str) -> None:
        """Report a sighting of ``uid`` (canonical form); debounced before ``on_card``."""
        if not self._debouncer.accept(uid):
            return
        try:
            self._on_card(uid)
        except Exception:
            # The gate's bug must not look like a reader failure (no reopen, no alarm).
            log.exception("on_card failed for %s", uid)

    def _report_garbage(self, line: str, error: str) -> None:
        """Count a line that is not a card (``line`` already escaped and truncated); it is
        journalled coalesced (see the module doc)."""
        self._emit_garbage(self._garbage_counter.add(line, error))

    def _tick(self) -> None:
        """Report what the garbage interval that just ended counted; a subclass's read loop
        calls this between reads (at least every second)."""
        self._emit_garbage(self._garbage_counter.due())

    def _emit_garbage(self, report: GarbageReport | None) -> None:
        if report is None:
            return
        log.info("reader %s sent %d line(s) that are not cards in %.0f s, the first %r: %s",
                 self._path, report.count, report.seconds, report.line, report.error)
        self._emit("reader_garbage", {
            "reader": self._path, "count": report.count, "line": report.line,
            "error": report.error[:200], "seconds": report.seconds,
        })

    def _emit(self, kind: str, data: Mapping[str, object], *, alarm: bool = False) -> None:
        """Send an event to the gate; a failing sink is logged, never fatal to reading."""
        if self._sink is None:
            return
        try:
            self._sink(kind, data, alarm=alarm)
        except Exception:
            log.exception("emitting %s failed", kind)

    # -- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        supervise(open_device=self._open, serve=self._read, close=self._close_quietly,
                  stopping=self._stopping, now=self._now, available=self._mark_available,
                  unavailable=self._mark_unavailable, pause=self._stop_event.wait,
                  backoff=Backoff(self._retry_initial, self._retry_max),
                  retry_max=self._retry_max)
        # Stopped: the device is closed; a later start() reports its state afresh.
        self._emit_garbage(self._garbage_counter.flush())
        self._available, self._down_since, self._failed_attempts = None, None, 0

    def _close_quietly(self) -> None:
        try:
            self._close()
        except Exception:
            log.debug("closing reader %s failed", self._path, exc_info=True)

    def _mark_available(self) -> None:
        if self._available is True:
            return
        down_s = 0.0 if self._down_since is None else self._now() - self._down_since
        log.info("reader %s available", self._path)
        self._emit("reader_available", {
            "reader": self._path,
            "failed_attempts": self._failed_attempts,
            "down_s": round(down_s, 3),
        })
        self._available = True
        self._down_since = None
        self._failed_attempts = 0

    def _mark_unavailable(self, error: BaseException, delay: float) -> None:
        self._failed_attempts += 1
        text = f"{type(error).__name__}: {error}"
        # OSError is the expected way for a device to go; anything else is a bug worth a
        # traceback. Retries during an outage log at INFO so a long one does not flood.
        level = logging.INFO if self._available is False else logging.WARNING
        log.log(level, "reader %s unavailable (%s); retrying in %.3f s", self._path, text,
                delay, exc_info=not isinstance(error, OSError), extra={"retry_in_s": delay})
        if self._available is False:
            return
        self._available = False
        self._down_since = self._now()
        self._emit("reader_unavailable", {
            "reader": self._path, "error": text[:200], "retry_in_s": round(delay, 3),
        }, alarm=True)


def build_reader(config: ReaderConfig) -> CardReader:
    """The reader adapter for ``config`` (not started)."""
    # Imported here so a serial installation never imports nfcpy (and its USB stack), and
    # so the adapters can import this module's base class without a cycle.
    if isinstance(config, NfcReaderConfig):
        from edge.readers.nfc_reader import NfcReader  # noqa: PLC0415

        return NfcReader(config)
    if isinstance(config, SerialReaderConfig):
        from edge.readers.serial_reader import SerialReader  # noqa: PLC0415

        return SerialReader(config)
    raise TypeError(f"no reader adapter for {type(config).__name__}")


__all__ = ["STOP_JOIN_S", "Backoff", "SupervisedReader", "build_reader"]
