"""The lane's LED display and voice module on a serial line (RS-485 or RS-232), speaking the
protocol of edge.displays.lane_display_protocol (docs/lane-display.md).

``show`` only hands the message to a writer thread, so the gate's control thread never
waits for a slow or absent display; a message not yet written when a newer one comes is
replaced by it (its voice line is not said: the car it was for has gone). The writer:

- writes SHOW with the message's rows, then SAY with its voice line;
- after the message's ``hold_s`` writes IDLE with the idle rows (``[display] idle_text``
  until the gate sets others with ``set_idle``, e.g. "余位 12");
- after every (re)open writes what should be on the display now, so a display that was
  unplugged or power-cycled shows the right thing at once; a voice line is said late only
  within ``VOICE_FRESH_S`` of its ``show`` (a welcome said half a minute late is wrong);
- survives the device vanishing like the card readers (edge.readers): reopen with
  exponential backoff, one ``display_unavailable`` alarm per outage and
  ``display_available`` (``display``, ``failed_attempts``, ``down_s``) when it is back;
- reads the display's optional ACKs and counts them; a refusal is logged;
- on ``close`` writes CLEAR (a dark display says the lane is not served, a welcome would
  not) and releases the port.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

import serial

from edge.displays.lane_display_protocol import (
    DEFAULT_ADDRESS,
    MAX_ROWS,
    AckStatus,
    Command,
    FrameDecoder,
    ProtocolError,
    decode_ack,
    encode_frame,
    encode_rows,
    encode_voice,
    fit_row,
    fit_voice,
)
from edge.ports import EventSink, LaneMessage
from edge.readers import Backoff, supervise
from firmware_config.lane_tables import DisplayConfig

log = logging.getLogger(__name__)

# How often the writer looks at the line for ACKs (and so notices a vanished device while
# nothing is shown), and the longest a shown message outlives its hold_s.
POLL_S = 0.2
# A write that the line does not take within this (a stalled USB adapter) ends the session.
WRITE_TIMEOUT_S = 0.5
# close() waits this long for the writer: one write timeout and a poll, with margin.
CLOSE_JOIN_S = 1.5
VOICE_FRESH_S = 3.0
RETRY_INITIAL_S = 0.5
RETRY_MAX_S = 30.0


class SerialDisplay:
    """A ``LaneDisplay`` on a serial port; the writer thread starts with the object."""

    def __init__(
        self, config: DisplayConfig, *, emit: EventSink | None = None,
        retry_initial: float = RETRY_INITIAL_S, retry_max: float = RETRY_MAX_S,
        address: int = DEFAULT_ADDRESS, now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = config.path
        self._baudrate = config.baudrate
        self._address = address
        self._emit_to = emit
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._now = now
        self._cond = threading.Condition()
        # Shared with show()/set_idle()/close(), under _cond:
        self._pending: tuple[LaneMessage, float] | None = None
        self._idle: tuple[str, ...] = (config.idle_text,)
        self._idle_changed = False
        self._closing = False
        # The writer's own:
        self._current: tuple[LaneMessage, float] | None = None
        self._voice_due: str | None = None
        self._screen_stale = True
        self._seq = 0
        self._port: serial.Serial | None = None
        self._decoder = FrameDecoder()
        self._available: bool | None = None
        self._down_since: float | None = None
        self._failed_attempts = 0
        self._counts = {"frames_written": 0, "acks": 0, "refusals": 0}
        self._thread = threading.Thread(target=self._run, name=f"display {self._path}",
                                        daemon=True)
        self._thread.start()

    @property
    def path(self) -> str:
        """The serial device from the configuration."""
        return self._path

    @property
    def is_available(self) -> bool:
        """Whether the port is open and taking writes."""
        return self._available is True

    def show(self, message: LaneMessage) -> None:
        """Queue ``message``, replacing one not yet written; never blocks on the device."""
        with self._cond:
            self._pending = (message, self._now())
            self._cond.notify_all()

    def set_idle(self, message: LaneMessage) -> None:
        """What to show between vehicles from now on (its voice line is never said)."""
        with self._cond:
            self._idle = message.lines
            self._idle_changed = True
            self._cond.notify_all()

    def close(self) -> None:
        """Clear the display, release the port and end the writer (within about a second)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(CLOSE_JOIN_S)
            if self._thread.is_alive():
                log.warning("display %s did not close within %.1f s", self._path,
                            CLOSE_JOIN_S)

    def status(self) -> Mapping[str, object]:
        """A snapshot for the gate's status: availability and what the line carried."""
        return {"display": self._path, "available": self.is_available,
                "bad_frames_received": self._decoder.errors, **self._counts}

    # -- the writer thread ----------------------------------------------------------------

    def _run(self) -> None:
        supervise(open_device=self._open, serve=self._session, close=self._close_port,
                  stopping=self._is_closing, now=self._now, available=self._mark_available,
                  unavailable=self._mark_unavailable, pause=self._wait_closing,
                  backoff=Backoff(self._retry_initial, self._retry_max),
                  retry_max=self._retry_max)

    def _wait_closing(self, delay: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._closing, delay)

    def _is_closing(self) -> bool:
        with self._cond:
            return self._closing

    def _open(self) -> None:
        # exclusive=True: a second process writing the same line would garble both.
        self._port = serial.Serial(self._path, self._baudrate, timeout=0,
                                   write_timeout=WRITE_TIMEOUT_S, exclusive=True)
        self._screen_stale = True  # a replugged display shows whatever it powered up with

    def _close_port(self) -> None:
        port, self._port = self._port, None
        if port is None:
            return
        try:
            port.close()
        except Exception:
            log.debug("closing display %s failed", self._path, exc_info=True)

    def _session(self) -> None:
        """Write what is due, until closing; raises when the device fails."""
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._closing or self._pending is not None or self._idle_changed,
                    self._wait_s())
                closing, idle = self._closing, self._idle
                if self._pending is not None:
                    self._current, self._pending = self._pending, None
                    self._voice_due = self._current[0].voice
                    self._screen_stale = True
                if self._idle_changed:
                    self._idle_changed = False
                    self._screen_stale = self._screen_stale or self._current is None
            if closing:
                self._clear_on_close()
                return
            self._write_due(idle)
            self._read_acks()

    def _wait_s(self) -> float:
        if self._current is None:
            return POLL_S
        message, shown_at = self._current
        return max(0.0, min(POLL_S, shown_at + message.hold_s - self._now()))

    def _write_due(self, idle: tuple[str, ...]) -> None:
        now = self._now()
        if self._current is not None:
            message, shown_at = self._current
            if now >= shown_at + message.hold_s:  # hold_s=math.inf: until the next one
                self._current, self._voice_due = None, None
                self._screen_stale = True
        if self._screen_stale:
            if self._current is not None:
                self._write(Command.SHOW, encode_rows(_fit_rows(self._current[0].lines)))
            else:
                self._write(Command.IDLE, encode_rows(_fit_rows(idle)))
            self._screen_stale = False
        if self._voice_due is not None and self._current is not None:
            voice, self._voice_due = self._voice_due, None
            if now - self._current[1] <= VOICE_FRESH_S and voice.strip():
                try:
                    self._write(Command.SAY, encode_voice(fit_voice(voice)))
                except Exception:
                    self._voice_due = voice  # said after the reopen, if still fresh
                    raise

    def _write(self, command: Command, payload: bytes) -> None:
        port = self._port
        assert port is not None
        self._seq = (self._seq + 1) & 0xFFFF
        port.write(encode_frame(command, payload, self._seq, self._address))
        port.flush()
        self._counts["frames_written"] += 1

    def _read_acks(self) -> None:
        port = self._port
        assert port is not None
        # read() with timeout 0 never waits; a vanished device raises here even while
        # nothing is being written.
        data = port.read(max(1, port.in_waiting))
        for frame in self._decoder.feed(data):
            if frame.command != Command.ACK:
                continue
            try:
                acked, status = decode_ack(frame.payload)
            except ProtocolError as exc:
                log.info("display %s sent a bad ACK: %s", self._path, exc)
                continue
            if status is AckStatus.DONE:
                self._counts["acks"] += 1
            else:
                self._counts["refusals"] += 1
                log.warning("display %s refused frame %d (command %d): %s", self._path,
                            frame.seq, acked, status.name)

    def _clear_on_close(self) -> None:
        try:
            self._write(Command.CLEAR, b"")
        except Exception as exc:
            log.info("display %s not cleared at close: %s", self._path, exc)

    # -- availability events, as the readers report theirs (edge.readers) -----------------

    def _emit(self, kind: str, data: Mapping[str, object], *, alarm: bool = False) -> None:
        if self._emit_to is None:
            return
        try:
            self._emit_to(kind, data, alarm=alarm)
        except Exception:
            log.exception("emitting %s failed", kind)

    def _mark_available(self) -> None:
        if self._available is True:
            return
        down_s = 0.0 if self._down_since is None else self._now() - self._down_since
        log.info("display %s available", self._path)
        self._emit("display_available", {"display": self._path,
                                         "failed_attempts": self._failed_attempts,
                                         "down_s": round(down_s, 3)})
        self._available, self._down_since, self._failed_attempts = True, None, 0

    def _mark_unavailable(self, error: BaseException, delay: float) -> None:
        self._failed_attempts += 1
        text = f"{type(error).__name__}: {error}"
        level = logging.INFO if self._available is False else logging.WARNING
        log.log(level, "display %s unavailable (%s); retrying in %.3f s", self._path, text,
                delay, exc_info=not isinstance(error, OSError))
        if self._available is False:
            return
        self._available = False
        self._down_since = self._now()
        self._emit("display_unavailable", {"display": self._path, "error": text[:200],
                                           "retry_in_s": round(delay, 3)}, alarm=True)


def _fit_rows(lines: tuple[str, ...]) -> tuple[str, ...]:
    """The rows a display takes: at most MAX_ROWS, each cut to a row's width. What does not
    fit is logged, never a reason to show nothing."""
    rows = tuple(fit_row(line) for line in lines[:MAX_ROWS])
    if rows != lines:
        log.info("display lines %r cut to %r", lines, rows)
    return rows


__all__ = ["CLOSE_JOIN_S", "POLL_S", "VOICE_FRESH_S", "SerialDisplay"]
