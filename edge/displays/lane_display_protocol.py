"""The lane display's serial protocol (docs/lane-display.md): frames, their commands and
payloads, encoded and decoded without touching a device, so that the adapter
(edge.displays.serial_display) and the simulator (hardware_sim.lane_display_sim) share one
definition.

A frame, every multi-byte field big-endian::

    AA 55 | address u8 | seq u16 | command u8 | length u16 | payload | crc u16

The CRC is CRC-16/MODBUS over address .. payload. Text is UTF-8. A row payload (SHOW, IDLE)
is a row count, then per row its byte length and its bytes; a voice payload (SAY) is the
text alone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

SYNC = b"\xaa\x55"
# Address of the one display on a lane's line; 0 is broadcast (no device answers it).
DEFAULT_ADDRESS = 0x01
BROADCAST_ADDRESS = 0x00
HEADER_BYTES = len(SYNC) + 1 + 2 + 1 + 2
CRC_BYTES = 2
MAX_PAYLOAD_BYTES = 512
MAX_ROWS = 4
# 16 Chinese characters, the width of the common 64-pixel-high double-row lane displays
# at two rows of 16x16 characters, with room for wider four-row panels.
MAX_ROW_BYTES = 48
MAX_VOICE_BYTES = 120


class Command(enum.IntEnum):
    """What a frame asks of the display, or (ACK) what the display answers."""

    SHOW = 0x01  # show these rows now
    SAY = 0x02  # speak this text once
    CLEAR = 0x03  # blank every row
    IDLE = 0x04  # show these rows as the idle screen (between vehicles)
    ACK = 0x06  # from the display: the frame with this seq was taken (or refused)


class AckStatus(enum.IntEnum):
    """The second payload byte of an ACK."""

    DONE = 0
    UNKNOWN_COMMAND = 1
    BAD_PAYLOAD = 2


class ProtocolError(ValueError):
    """Bytes or values that are not a valid frame or payload."""


@dataclass(frozen=True)
class Frame:
    """One decoded frame; ``command`` stays a plain number when it is not a known Command."""

    address: int
    seq: int
    command: int
    payload: bytes


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF): ``b"123456789"`` → 0x4B37."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def encode_frame(command: int, payload: bytes, seq: int,
                 address: int = DEFAULT_ADDRESS) -> bytes:
    """The bytes of one frame; ProtocolError for values that do not fit their fields."""
    if not 0 <= address <= 0xFF or not 0 <= command <= 0xFF:
        raise ProtocolError(f"address {address} or command {command} is not one byte")
    if not 0 <= seq <= 0xFFFF:
        raise ProtocolError(f"sequence number {seq} is not 0..65535")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ProtocolError(f"payload of {len(payload)} bytes is over {MAX_PAYLOAD_BYTES}")
    body = bytes([address]) + seq.to_bytes(2, "big") + bytes([command]) \
        + len(payload).to_bytes(2, "big") + payload
    return SYNC + body + crc16_modbus(body).to_bytes(2, "big")


def encode_rows(rows: tuple[str, ...]) -> bytes:
    """A SHOW or IDLE payload; ProtocolError for too many rows or a row too long."""
    if len(rows) > MAX_ROWS:
        raise ProtocolError(f"{len(rows)} rows: a lane display has at most {MAX_ROWS}")
    out = bytearray([len(rows)])
    for row in rows:
        data = row.encode("utf-8")
        if len(data) > MAX_ROW_BYTES:
            raise ProtocolError(f"row {row!r} is {len(data)} bytes, over {MAX_ROW_BYTES}")
        out.append(len(data))
        out += data
    return bytes(out)


def decode_rows(payload: bytes) -> tuple[str, ...]:
    """The rows of a SHOW or IDLE payload; ProtocolError for anything malformed."""
    if not payload:
        raise ProtocolError("empty row payload")
    count, pos, rows = payload[0], 1, []
    if count > MAX_ROWS:
        raise ProtocolError(f"{count} rows: at most {MAX_ROWS}")
    for _ in range(count):
        if pos >= len(payload):
            raise ProtocolError("row payload ends before its rows")
        size = payload[pos]
        data = payload[pos + 1: pos + 1 + size]
        if size > MAX_ROW_BYTES or len(data) != size:
            raise ProtocolError(f"row of {size} bytes does not fit")
        rows.append(_text(data))
        pos += 1 + size
    if pos != len(payload):
        raise ProtocolError(f"{len(payload) - pos} bytes after the last row")
    return tuple(rows)


def encode_voice(text: str) -> bytes:
    """A SAY payload; ProtocolError for an empty or too long text."""
    data = text.encode("utf-8")
    if not data or len(data) > MAX_VOICE_BYTES:
        raise ProtocolError(f"voice text of {len(data)} bytes is not 1..{MAX_VOICE_BYTES}")
    return data


def decode_voice(payload: bytes) -> str:
    """The text of a SAY payload."""
    if not payload or len(payload) > MAX_VOICE_BYTES:
        raise ProtocolError(f"voice text of {len(payload)} bytes is not 1..{MAX_VOICE_BYTES}")
    return _text(payload)


def encode_ack(acked: int, status: AckStatus) -> bytes:
    """An ACK payload: the command taken and how."""
    return bytes([acked & 0xFF, status])


def decode_ack(payload: bytes) -> tuple[int, AckStatus]:
    """The command an ACK answers and its status."""
    if len(payload) != 2:
        raise ProtocolError(f"ACK payload of {len(payload)} bytes, not 2")
    try:
        return payload[0], AckStatus(payload[1])
    except ValueError as exc:
        raise ProtocolError(f"unknown ACK status {payload[1]}") from exc


def fit_row(text: str) -> str:
    """``text`` cut, at a character boundary, to what one row takes (MAX_ROW_BYTES)."""
    while len(text.encode("utf-8")) > MAX_ROW_BYTES:
        text = text[:-1]
    return text


def fit_voice(text: str) -> str:
    """``text`` cut, at a character boundary, to what one SAY takes (MAX_VOICE_BYTES)."""
    while len(text.encode("utf-8")) > MAX_VOICE_BYTES:
        text = text[:-1]
    return text


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"text is not UTF-8: {exc}") from exc


class FrameDecoder:
    """Frames out of a byte stream that may start mid-frame, lose bytes or carry noise.

    Bytes before a sync pattern are skipped; a frame with a bad CRC or an impossible length
    costs one skipped byte and a search for the next sync, so one bad frame never swallows
    the good one after it. ``errors`` counts the frames thrown away, ``skipped`` the bytes."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.errors = 0
        self.skipped = 0

    def feed(self, data: bytes) -> list[Frame]:
        """Add received bytes; the frames they complete, in order."""
        self._buffer += data
        frames: list[Frame] = []
        while True:
            start = self._buffer.find(SYNC)
            if start < 0:
                # Keep a last byte that may be the first half of the next sync.
                keep = 1 if self._buffer.endswith(SYNC[:1]) else 0
                self.skipped += len(self._buffer) - keep
                del self._buffer[: len(self._buffer) - keep]
                return frames
            if start:
                self.skipped += start
                del self._buffer[:start]
            if len(self._buffer) < HEADER_BYTES:
                return frames
            length = int.from_bytes(self._buffer[6:8], "big")
            if length > MAX_PAYLOAD_BYTES:
                self._resync()
                continue
            end = HEADER_BYTES + length + CRC_BYTES
            if len(self._buffer) < end:
                return frames
            body = bytes(self._buffer[2: HEADER_BYTES + length])
            crc = int.from_bytes(self._buffer[end - CRC_BYTES: end], "big")
            if crc != crc16_modbus(body):
                self._resync()
                continue
            del self._buffer[:end]
            frames.append(Frame(address=body[0], seq=int.from_bytes(body[1:3], "big"),
                                command=body[3], payload=body[6:]))

    def idle(self) -> list[Frame]:
        """The line has been quiet (the reader's call, longer than a frame takes): a frame
        still incomplete never will be, so its start is dropped and what follows is
        searched again for frames. Without this, a damaged length field would hold the
        frames behind it until that many bytes had come."""
        if not self._buffer.startswith(SYNC):
            return []
        self._resync()
        return self.feed(b"")

    def _resync(self) -> None:
        self.errors += 1
        self.skipped += 1
        del self._buffer[:1]


__all__ = ["BROADCAST_ADDRESS", "DEFAULT_ADDRESS", "MAX_PAYLOAD_BYTES", "MAX_ROWS",
           "MAX_ROW_BYTES", "MAX_VOICE_BYTES", "SYNC", "AckStatus", "Command", "Frame",
           "FrameDecoder", "ProtocolError", "crc16_modbus", "decode_ack", "decode_rows",
           "decode_voice", "encode_ack", "encode_frame", "encode_rows", "encode_voice",
           "fit_row", "fit_voice"]
