"""A card on nfcpy's udp wire: an ISO 14443-A Type 2 tag (NTAG213-like) for the simulator.

nfcpy's ``udp`` driver (``ContactlessFrontend('udp:127.0.0.1:PORT')``) plays the reader: it
sends every frame as one datagram ``"106A <hex>"`` to the port and takes the answer from
the same port; ``"RFOFF"`` means it switched its field off. This module is the card side,
so the edge's real nfcpy code path runs in simulation.

The card answers SENS_REQ/WUPA, SDD_REQ and SEL_REQ for each cascade level (4- or 7-byte
UIDs), GET_VERSION (as an NTAG213, so nfcpy identifies it without a probe timeout), READ
(blank NTAG213 memory), NAKs AUTHENTICATE (0x1A, as a tag without Ultralight C crypto does,
which again spares nfcpy's 10 ms probe timeout), obeys HLTA, and keeps silent on anything
else, dropping to IDLE as real Type 2 tags do. 10-byte UIDs are refused (no Type 2 tag has
one; nfcpy's own udp listener mishandles cascade level 3 — its reader side selects them fine).

The emulator binds a loopback address only: a simulated card must never be reachable from
the network.
"""

from __future__ import annotations

import enum
import ipaddress
import select
import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType

from edge.uid import normalize_uid

BRTY = "106A"
DEFAULT_PORT = 54321  # nfcpy's default for a bare "udp" path
NTAG213_VERSION = bytes.fromhex("0004040201000F03")
NAK = b"\x00"
_SAK_CASCADE = 0x04  # UID not complete: the reader must go on to the next cascade level
_SAK_TYPE2 = 0x00  # a Type 2 tag, selected
_CASCADE_TAG = 0x88


@dataclass(frozen=True)
class PresentResult:
    """When a presented card was seen, on CLOCK_MONOTONIC (``time.monotonic()``).

    ``field_at_mono``: the first SENS_REQ the card answered and the reader followed up (an
    answer to a poll whose reader had already given up does not count). ``read_at_mono``:
    the first time the reader completed selecting it (SEL_RES of the last cascade level
    sent) — the moment the reader holds the UID. ``reads``: how many times the reader read
    the card in the whole presentation (more than one when it was held).
    """

    read_at_mono: float
    field_at_mono: float
    reads: int


def blank_ntag213_memory(uid: bytes) -> bytes:
    """The 45 pages of a factory-fresh NTAG213 with ``uid``: UID/BCC pages, the capability
    container for 144 data bytes, an empty NDEF message, default configuration pages."""
    if len(uid) == 7:
        head = (uid[:3] + bytes([_CASCADE_TAG ^ uid[0] ^ uid[1] ^ uid[2]]) + uid[3:7]
                + bytes([uid[3] ^ uid[4] ^ uid[5] ^ uid[6], 0x48, 0x00, 0x00]))
    else:  # a 4-byte UID is not an NTAG, but the reader gets the same plausible layout
        head = uid + bytes([uid[0] ^ uid[1] ^ uid[2] ^ uid[3], 0x48, 0x00, 0x00]) + bytes(4)
    memory = bytearray(head)  # pages 0-2
    memory += bytes.fromhex("E1101200")  # page 3: CC, NDEF 1.0, 144 bytes, read/write
    memory += bytes.fromhex("0103A00C 340300FE".replace(" ", ""))  # lock TLV, empty NDEF
    memory += bytes(4 * 40 - len(memory))  # user memory up to page 39
    memory += bytes.fromhex("000000BD")  # page 40: dynamic lock bytes
    memory += bytes.fromhex("040000FF")  # page 41: CFG0 (AUTH0=FF: no password)
    memory += bytes.fromhex("00050000")  # page 42: CFG1
    memory += bytes(8)  # pages 43-44: PWD and PACK read as zeros
    return bytes(memory)


class _State(enum.Enum):
    IDLE = "idle"
    READY = "ready"  # answered SENS_REQ, in anticollision/selection
    ACTIVE = "active"  # selected: takes memory commands
    HALT = "halt"  # only WUPA wakes it


class CardEvent(enum.Enum):
    """What a frame did to the card, for the presentation loop."""

    SENSED = "sensed"  # answered SENS_REQ/WUPA
    ANTICOLLISION = "anticollision"  # answered SDD_REQ of cascade level 1: a fresh poll
    SELECTED = "selected"  # sent the final SEL_RES
    VERSION = "version"  # answered GET_VERSION


class Type2Card:
    """The ISO 14443-3 state machine of one Type 2 tag; frames in, frames out, no I/O."""

    def __init__(self, uid: bytes) -> None:
        if len(uid) == 10:
            raise ValueError("10-byte UIDs cannot be emulated: this emulator, like nfcpy's "
                             "own udp listener, does single and double size UIDs only; "
                             "use a 4- or 7-byte UID")
        if len(uid) not in (4, 7):
            raise ValueError(f"a Type 2 tag UID has 4 or 7 bytes, not {len(uid)}")
        if uid[0] == _CASCADE_TAG:
            raise ValueError("a UID cannot start with 88 (the cascade tag)")
        self.uid = uid
        # The UID as sent per cascade level: CT + 3 bytes for a 7-byte UID's first level.
        parts = [uid] if len(uid) == 4 else [bytes([_CASCADE_TAG]) + uid[:3], uid[3:]]
        self._levels = [p + bytes([p[0] ^ p[1] ^ p[2] ^ p[3]]) for p in parts]
        self._memory = blank_ntag213_memory(uid)
        self._state = _State.IDLE
        self._level = 0

    @property
    def is_nxp(self) -> bool:
        """NXP manufacturer byte: nfcpy probes such tags (0x1A, GET_VERSION) after selecting."""
        return self.uid[0] == 0x04

    def field_off(self) -> None:
        """The reader switched its field off: the card loses power and starts over."""
        self._state = _State.IDLE

    def handle(self, frame: bytes) -> tuple[bytes | None, CardEvent | None]:
        """Process one frame; the answer (None: stay silent) and what happened."""
        if frame in (b"\x26", b"\x52"):  # SENS_REQ (REQA) / ALL_REQ (WUPA)
            if self._state is _State.HALT and frame == b"\x26":
                return None, None
            self._state, self._level = _State.READY, 0
            return (b"\x04\x00" if len(self.uid) == 4 else b"\x44\x00"), CardEvent.SENSED
        if self._state is _State.READY:
            return self._anticollision(frame)
        if self._state is _State.ACTIVE:
            return self._command(frame)
        return None, None

    def _anticollision(self, frame: bytes) -> tuple[bytes | None, CardEvent | None]:
        # Cascade level n is addressed by 0x93/0x95; a reader may skip SDD_REQ and select
        # straight away when it already knows the UID (nfcpy does when re-sensing).
        level = {0x93: 0, 0x95: 1}.get(frame[0]) if frame else None
        if level is None or level >= len(self._levels) or level > self._level:
            return self._mute()
        self._level = level
        if frame[1:] == b"\x20":  # SDD_REQ: the reader asks for this level's UID part
            event = CardEvent.ANTICOLLISION if level == 0 else None
            return self._levels[level], event
        if frame[1:2] == b"\x70" and frame[2:7] == self._levels[level]:  # SEL_REQ for us
            if level + 1 < len(self._levels):
                self._level = level + 1
                return bytes([_SAK_CASCADE]), None
            self._state = _State.ACTIVE
            return bytes([_SAK_TYPE2]), CardEvent.SELECTED
        return self._mute()

    def _command(self, frame: bytes) -> tuple[bytes | None, CardEvent | None]:
        if frame == b"\x60":
            return NTAG213_VERSION, CardEvent.VERSION
        if len(frame) == 2 and frame[0] == 0x30:  # READ: 4 pages, rolling over at the end
            pages = len(self._memory) // 4
            if frame[1] >= pages:
                self._state = _State.IDLE
                return NAK, None
            start = frame[1] * 4
            doubled = self._memory + self._memory
            return doubled[start:start + 16], None
        if frame[:1] == b"\x1a":  # AUTHENTICATE: not an Ultralight C
            self._state = _State.IDLE
            return NAK, None
        if frame == b"\x50\x00":  # HLTA
            self._state = _State.HALT
            return None, None
        return self._mute()

    def _mute(self) -> tuple[None, None]:
        self._state = _State.IDLE
        return None, None


def parse_udp_path(path: str) -> tuple[str, int]:
    """Host and port from an nfcpy udp path (``udp``, ``udp:PORT``, ``udp:HOST:PORT``)."""
    parts = path.split(":")
    if parts[0] != "udp" or len(parts) > 3:
        raise ValueError(f"{path!r} is not an nfcpy udp path (udp:127.0.0.1:PORT)")
    host, port = "127.0.0.1", str(DEFAULT_PORT)
    if len(parts) == 2:
        (port,) = parts[1:]
    elif len(parts) == 3:
        host, port = parts[1] or host, parts[2] or port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{path!r}: {port!r} is not a UDP port")
    return host, int(port)


def _loopback(host: str) -> str:
    address = "127.0.0.1" if host == "localhost" else host
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        raise ValueError(f"{host!r} is not an IPv4 loopback address") from None
    if not ip.is_loopback:
        raise ValueError(f"the tag emulator binds loopback only, not {host!r}")
    return address


class TagEmulator:
    """A simulated card slot at ``host:port`` (loopback only) where cards are presented.

    Use as a context manager: the socket stays bound between presentations, because a
    reader's poll sent while nothing is bound is lost (binding again costs up to 1 s).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
        self._host = _loopback(host)
        self._port = port
        self._sock: socket.socket | None = None
        self._presenting = threading.Lock()  # one card at a time: one reader of the socket

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); before binding, the requested ones."""
        if self._sock is not None:
            host, port = self._sock.getsockname()[:2]
            return str(host), int(port)
        return self._host, self._port

    @property
    def reader_path(self) -> str:
        """The nfcpy path a reader uses to reach this emulator."""
        host, port = self.address
        return f"udp:{host}:{port}"

    def open(self) -> None:
        """Bind the socket (no-op when bound)."""
        if self._sock is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((self._host, self._port))
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, f"cannot bind {self._host}:{self._port}: "
                                     f"{exc.strerror}") from exc
        self._sock = sock

    def close(self) -> None:
        """Release the socket."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def __enter__(self) -> TagEmulator:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def present(self, uid_hex: str, hold_s: float = 0.0, timeout_s: float = 10.0
                ) -> PresentResult:
        """Hold a card with ``uid_hex`` to the reader until it has read it once, then for
        ``hold_s`` more seconds (it keeps being read, as a card left on the reader is).

        A read is complete when the reader has the UID and is done activating the card:
        at the final SEL_RES, or — for NXP UIDs (first byte 04), which nfcpy probes — when
        it asked for GET_VERSION (or began a fresh poll instead). Raises TimeoutError when
        no read completed within ``timeout_s``.
        """
        sock = self._sock
        if sock is None:
            raise RuntimeError("the emulator is not bound: use it as a context manager")
        card = Type2Card(bytes.fromhex(normalize_uid(uid_hex)))
        if not self._presenting.acquire(blocking=False):
            raise RuntimeError("a card is already being presented on this emulator")
        try:
            return self._present(_Presentation(sock, card), hold_s, timeout_s)
        finally:
            self._presenting.release()

    def _present(self, loop: _Presentation, hold_s: float, timeout_s: float) -> PresentResult:
        loop.take_pending_poll()
        deadline = time.monotonic() + timeout_s
        while loop.done_at is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if loop.field_at is None and loop.sensed_at is None:
                    raise TimeoutError(f"no reader polled {self.reader_path} "
                                       f"within {timeout_s:g} s")
                raise TimeoutError(f"a reader polled {self.reader_path} but did not read "
                                   f"the card within {timeout_s:g} s")
            loop.serve(remaining)
        until = loop.done_at + hold_s
        while (remaining := until - time.monotonic()) > 0:
            loop.serve(remaining)
        assert loop.field_at is not None and loop.read_at is not None
        return PresentResult(loop.read_at, loop.field_at, loop.reads)


class _Presentation:
    """The socket side of one presentation: frames to the card, timestamps of its events."""

    def __init__(self, sock: socket.socket, card: Type2Card) -> None:
        self._sock = sock
        self._card = card
        self._peer: tuple[str, int] | None = None
        self._selected = False  # selected since the last completed read
        self.sensed_at: float | None = None  # the last SENS_REQ answered
        self.field_at: float | None = None
        self.read_at: float | None = None
        self.done_at: float | None = None
        self.reads = 0

    def take_pending_poll(self) -> None:
        """Drop datagrams queued while no card was present, except a last SENS_REQ: its
        reader may still be waiting for the answer (it waits 1 s)."""
        last: tuple[bytes, tuple[str, int]] | None = None
        while select.select([self._sock], [], [], 0)[0]:
            data, addr = self._sock.recvfrom(1024)
            last = (data, addr)
        if last is not None and last[0] in (b"106A 26", b"106A 52"):
            self._dispatch(*last)

    def serve(self, timeout: float) -> None:
        """Answer at most one datagram, waiting up to ``timeout`` seconds for it."""
        if not select.select([self._sock], [], [], max(0.0, timeout))[0]:
            return
        data, addr = self._sock.recvfrom(1024)
        self._dispatch(data, addr)

    def _dispatch(self, data: bytes, addr: tuple[str, int]) -> None:
        if data.startswith(b"RFOFF"):
            if addr == self._peer:
                self._card.field_off()
            return
        try:
            brty, payload = data.split()
            frame = bytes.fromhex(payload.decode("ascii"))
        except ValueError:
            return  # not a frame; a real card would not hear it either
        if brty.decode("ascii", "replace") != BRTY or not frame:
            return
        if frame in (b"\x26", b"\x52"):
            self._peer = addr  # a new poll; the reader opens a new socket for each
        elif addr != self._peer:
            return
        elif self.field_at is None and self.sensed_at is not None:
            self.field_at = self.sensed_at  # the reader heard the card: its field is live
        answer, event = self._card.handle(frame)
        if answer is not None:
            try:
                self._sock.sendto(f"{BRTY} {answer.hex()}".encode("ascii"), addr)
            except OSError:
                return  # the reader's socket is gone; it will poll again
        self._note(event, time.monotonic())

    def _note(self, event: CardEvent | None, now: float) -> None:
        if event is CardEvent.SENSED:
            self.sensed_at = now
        elif event is CardEvent.SELECTED:
            if self.read_at is None:
                self.read_at = now
            self._selected = True
            if not self._card.is_nxp:
                self._complete(now)  # nfcpy sends nothing more to such a tag
        elif event is CardEvent.VERSION or (event is CardEvent.ANTICOLLISION
                                            and self._card.is_nxp):
            # GET_VERSION is nfcpy's last activation step for an NXP tag; a fresh
            # anticollision means a reader that skipped it has moved on.
            self._complete(now)

    def _complete(self, now: float) -> None:
        if not self._selected:
            return
        self._selected = False
        self.reads += 1
        if self.done_at is None:
            self.done_at = now


def present_card(reader_path: str, uid_hex: str, hold_s: float = 0.0,
                 timeout_s: float = 10.0) -> PresentResult:
    """Present a card once to the reader polling ``reader_path`` (``udp:127.0.0.1:PORT``)
    and return when it was read (plus ``hold_s``). Binds for this call only, so the
    reader's first poll may take up to 1 s to arrive."""
    card_uid = normalize_uid(uid_hex)
    Type2Card(bytes.fromhex(card_uid))  # refuse a bad UID before binding anything
    host, port = parse_udp_path(reader_path)
    with TagEmulator(host, port) as emulator:
        return emulator.present(card_uid, hold_s=hold_s, timeout_s=timeout_s)


__all__ = ["BRTY", "DEFAULT_PORT", "NTAG213_VERSION", "CardEvent", "PresentResult",
           "TagEmulator", "Type2Card", "blank_ntag213_memory", "parse_udp_path",
           "present_card"]
