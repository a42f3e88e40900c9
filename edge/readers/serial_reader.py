"""The serial reader adapter: UART card readers and Wiegand-to-UART bridges.

Such devices send one card number per line. ``uid_format`` says how to read the number:

- ``hex``: hex digits, optionally separated by ``:``, ``-`` or spaces (``04:A1:B2:C3``),
  read as the UID bytes in the order written (edge.uid.normalize_uid).
- ``decimal``: a decimal card number (``1234567``), read as an unsigned big-endian integer
  and written as the fewest whole bytes that hold it, zero-padded on the left to at least
  4 bytes: ``1234567`` -> ``0012D687``, ``4294967296`` -> ``0100000000``. Numbers above 10
  bytes (2**80 - 1) are refused. Leading zeros in the line do not change the UID.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

import serial

from edge.readers import SupervisedReader
from edge.readers.garbage import GARBAGE_INTERVAL_S
from edge.uid import normalize_uid
from firmware_config.schema import SerialReaderConfig

log = logging.getLogger(__name__)

# A bridge that talks without the configured terminator (wrong setting, line noise) must not
# grow the buffer forever; no card number comes near this length.
MAX_LINE_BYTES = 64
# Garbage is journalled (coalesced, edge.readers.garbage); the sample of a bad line is cut
# to this so one long line cannot bloat the journal.
GARBAGE_SHOWN_CHARS = 64
# How long one read waits for bytes, and so the longest stop() waits for the thread.
READ_TIMEOUT_S = 0.2

_DECIMAL = re.compile(r"^[0-9]+$")
_MAX_UID_BYTES = 10


def decimal_to_uid(number: int) -> str:
    """The UID for a decimal card number: big-endian, minimal whole bytes, at least 4."""
    if number < 0:
        raise ValueError(f"{number} is not a card number (negative)")
    size = max(4, (number.bit_length() + 7) // 8)
    if size > _MAX_UID_BYTES:
        raise ValueError(f"{number} is too large for a card UID (over {_MAX_UID_BYTES} bytes)")
    return number.to_bytes(size, "big").hex().upper()


def parse_card_line(line: str, uid_format: str) -> str:
    """The canonical UID in one line from the device; ValueError for anything else."""
    text = line.strip()
    if uid_format == "hex":
        return normalize_uid(text)
    if uid_format == "decimal":
        if not _DECIMAL.match(text):
            raise ValueError(f"{text!r} is not a decimal card number")
        return decimal_to_uid(int(text))
    raise ValueError(f"unknown uid_format {uid_format!r}")


def _shown(raw: bytes) -> str:
    return raw.decode("ascii", "backslashreplace")[:GARBAGE_SHOWN_CHARS]


class SerialReader(SupervisedReader):
    """A ``CardReader`` on a serial port that delivers one card number per line.

    Lines that are not card numbers are skipped and reported, coalesced, as
    ``reader_garbage`` events (``count``, a sample ``line`` escaped and truncated to 64
    characters, ``error``; see edge.readers): a noisy line costs the journal one event a
    minute, not one per line, and a card read in between is handled at once. A port that
    vanishes (USB adapter unplugged: SerialException/OSError on read) is reopened with backoff
    like every reader (see edge.readers). A partial line left when the port went away is
    dropped, not glued to the next line.
    """

    def __init__(
        self, config: SerialReaderConfig, *, now: Callable[[], float] = time.monotonic,
        garbage_interval: float = GARBAGE_INTERVAL_S,
    ) -> None:
        super().__init__(
            path=config.path,
            debounce_s=config.debounce,
            retry_initial=config.retry_initial,
            retry_max=config.retry_max,
            now=now,
            garbage_interval=garbage_interval,
        )
        if config.uid_format not in ("hex", "decimal"):
            raise ValueError(f"unknown uid_format {config.uid_format!r}")
        self._baudrate = config.baudrate
        self._terminator = config.line_terminator.encode("ascii")
        self._uid_format = config.uid_format
        self._port: serial.Serial | None = None
        self._buffer = bytearray()

    def _open(self) -> None:
        # exclusive=True: a second process on the same UART would steal half the bytes.
        self._port = serial.Serial(
            self.path, self._baudrate, timeout=READ_TIMEOUT_S, exclusive=True
        )
        self._buffer.clear()

    def _read(self) -> None:
        port = self._port
        assert port is not None
        while not self._stopping():
            chunk = port.read(max(1, port.in_waiting))
            if chunk:
                self._feed(chunk)
            self._tick()

    def _close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            port.close()

    def _feed(self, chunk: bytes) -> None:
        self._buffer += chunk
        while (end := self._buffer.find(self._terminator)) >= 0:
            line = bytes(self._buffer[:end])
            del self._buffer[: end + len(self._terminator)]
            self._line(line)
        if len(self._buffer) > MAX_LINE_BYTES:
            raw = bytes(self._buffer)
            self._buffer.clear()
            self._garbage(raw, f"no line terminator within {MAX_LINE_BYTES} bytes")

    def _line(self, raw: bytes) -> None:
        if not raw.strip():
            return  # blank lines are keep-alives on some bridges, not garbage
        try:
            uid = parse_card_line(raw.decode("ascii"), self._uid_format)
        except ValueError as exc:  # UnicodeDecodeError is a ValueError too
            self._garbage(raw, str(exc))
            return
        self._card(uid)

    def _garbage(self, raw: bytes, error: str) -> None:
        log.debug("reader %s sent garbage %r: %s", self.path, raw[:GARBAGE_SHOWN_CHARS], error)
        self._report_garbage(_shown(raw), error)


__all__ = ["GARBAGE_SHOWN_CHARS", "MAX_LINE_BYTES", "SerialReader", "decimal_to_uid",
           "parse_card_line"]
