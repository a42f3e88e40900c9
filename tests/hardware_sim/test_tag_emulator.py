"""The tag emulator against nfcpy's real udp driver, and on the raw wire."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import nfc
import pytest

from hardware_sim.local_ports import free_udp_port
from hardware_sim.tag_emulator import (
    PresentResult,
    TagEmulator,
    Type2Card,
    parse_udp_path,
    present_card,
)

UID4 = "A1B2C3D4"
UID7 = "04A1B2C3D4E5F6"


@pytest.fixture
def emulator() -> Iterator[TagEmulator]:
    with TagEmulator("127.0.0.1", free_udp_port(0)) as emu:
        yield emu


class Presenter:
    """Runs ``present`` on a thread, as the card side of a test."""

    def __init__(self, emu: TagEmulator, uid: str, **kwargs: Any) -> None:
        self.result: PresentResult | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(emu, uid, kwargs), daemon=True)
        self._thread.start()

    def _run(self, emu: TagEmulator, uid: str, kwargs: dict[str, Any]) -> None:
        try:
            self.result = emu.present(uid, **kwargs)
        except BaseException as exc:
            self.error = exc

    def join(self, timeout: float = 15.0) -> PresentResult:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "present() did not return"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def nfcpy_read(path: str, timeout: float = 8.0) -> Any:
    """One read by nfcpy, as the edge's reader does it; the tag, or None on timeout."""
    clf = nfc.ContactlessFrontend(path)
    deadline = time.monotonic() + timeout
    try:
        return clf, clf.connect(
            rdwr={"targets": ["106A"], "on-connect": lambda tag: False,
                  "iterations": 1, "interval": 0.0, "beep-on-connect": False},
            terminate=lambda: time.monotonic() > deadline,
        )
    except BaseException:
        clf.close()
        raise


@pytest.mark.parametrize("uid", [UID4, UID7])
def test_nfcpy_reads_the_presented_uid(emulator: TagEmulator, uid: str) -> None:
    presenter = Presenter(emulator, uid)
    clf, tag = nfcpy_read(emulator.reader_path)
    clf.close()
    result = presenter.join()
    assert tag, "nfcpy found no tag"
    assert bytes(tag.identifier).hex().upper() == uid
    assert result.reads == 1
    assert result.field_at_mono <= result.read_at_mono <= time.monotonic()


def test_seven_byte_nxp_uid_is_identified_as_ntag213(emulator: TagEmulator) -> None:
    # nfcpy names the product only when GET_VERSION was answered (no probe timeout path).
    presenter = Presenter(emulator, UID7)
    clf, tag = nfcpy_read(emulator.reader_path)
    clf.close()
    presenter.join()
    assert tag.product == "NXP NTAG213"


def test_a_held_card_serves_reads_of_blank_ntag_memory(emulator: TagEmulator) -> None:
    presenter = Presenter(emulator, UID7, hold_s=1.0)
    clf, tag = nfcpy_read(emulator.reader_path)
    try:
        page0 = bytes(tag.read(0))
        ndef = tag.ndef
    finally:
        clf.close()
    presenter.join()
    assert len(page0) == 16
    assert page0[:3] == bytes.fromhex("04A1B2")
    assert page0[3] == 0x88 ^ 0x04 ^ 0xA1 ^ 0xB2  # BCC0
    assert page0[4:8] == bytes.fromhex("C3D4E5F6")
    assert page0[12:16] == bytes.fromhex("E1101200")  # capability container, 144 bytes
    assert ndef is not None and ndef.length == 0  # formatted, empty


def test_card_held_on_the_reader_is_read_again_and_again(emulator: TagEmulator) -> None:
    presenter = Presenter(emulator, UID4, hold_s=0.5)
    clf = nfc.ContactlessFrontend(emulator.reader_path)
    reads = 0
    deadline = time.monotonic() + 6.0
    try:
        while presenter.result is None and presenter.error is None and reads < 5:
            tag = clf.connect(rdwr={"targets": ["106A"], "on-connect": lambda tag: False,
                                    "iterations": 1, "beep-on-connect": False},
                              terminate=lambda: time.monotonic() > deadline)
            reads += bool(tag)
    finally:
        clf.close()
    result = presenter.join()
    assert reads >= 2
    assert result.reads >= 2


def test_ten_byte_uid_is_refused_with_a_clear_error(emulator: TagEmulator) -> None:
    with pytest.raises(ValueError, match="10-byte UIDs cannot be emulated"):
        emulator.present("04112233445566778899", timeout_s=0.1)
    with pytest.raises(ValueError, match="10-byte"):
        present_card(emulator.reader_path, "04112233445566778899", timeout_s=0.1)


@pytest.mark.parametrize(("uid", "message"), [
    ("A1B2C3", "4 or 7 bytes"), ("88A1B2C3", "cascade tag")])
def test_other_impossible_uids_are_refused(uid: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Type2Card(bytes.fromhex(uid))


def test_a_uid_that_is_not_hex_is_refused_before_binding() -> None:
    with pytest.raises(ValueError, match="not a card UID"):
        present_card("udp:127.0.0.1:1", "not hex")


def test_binds_loopback_only(emulator: TagEmulator) -> None:
    host, port = emulator.address
    assert host == "127.0.0.1"
    assert emulator.reader_path == f"udp:127.0.0.1:{port}"
    for host in ("0.0.0.0", "192.168.1.10", "example.org"):
        with pytest.raises(ValueError, match="loopback"):
            TagEmulator(host, port)


def test_times_out_when_no_reader_polls(emulator: TagEmulator) -> None:
    with pytest.raises(TimeoutError, match="no reader polled"):
        emulator.present(UID4, timeout_s=0.2)


def test_present_card_binds_for_one_tap(emulator: TagEmulator) -> None:
    port = free_udp_port(0)
    path = f"udp:127.0.0.1:{port}"
    outcome: dict[str, Any] = {}

    def tap() -> None:
        outcome["result"] = present_card(path, "04:a1:b2:c3:d4:e5:f6", timeout_s=8.0)

    thread = threading.Thread(target=tap, daemon=True)
    thread.start()
    # The reader's first polls may be lost until present_card has bound the port.
    clf, tag = nfcpy_read(path)
    clf.close()
    thread.join(10.0)
    assert bytes(tag.identifier).hex().upper() == UID7
    assert outcome["result"].reads == 1
    # The port is free again: the emulator did not keep it.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", port))


def test_parse_udp_path() -> None:
    assert parse_udp_path("udp:127.0.0.1:5000") == ("127.0.0.1", 5000)
    assert parse_udp_path("udp:5000") == ("127.0.0.1", 5000)
    assert parse_udp_path("udp") == ("127.0.0.1", 54321)
    for bad in ("tty:AMA0:pn532", "udp:127.0.0.1:notaport", "udp:127.0.0.1:70000"):
        with pytest.raises(ValueError):
            parse_udp_path(bad)


class WireReader:
    """A raw socket speaking the udp driver's datagrams, for protocol-level checks."""

    def __init__(self, addr: tuple[str, int]) -> None:
        self.addr = addr
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(0.15)  # the emulator answers in well under a millisecond

    def send(self, hexframe: str) -> str | None:
        self.sock.sendto(f"106A {hexframe}".encode(), self.addr)
        try:
            data, _ = self.sock.recvfrom(1024)
        except TimeoutError:
            return None
        brty, payload = data.decode().split()
        assert brty == "106A"
        return payload.upper()


def test_wire_protocol_of_a_seven_byte_uid(emulator: TagEmulator) -> None:
    presenter = Presenter(emulator, UID7, timeout_s=5.0)
    wire = WireReader(emulator.address)
    try:
        assert wire.send("3000") is None  # not selected: silent
        assert wire.send("26") == "4400"  # ATQA of a double-size UID
        assert wire.send("9320") == "8804A1B29F"  # CT, 3 UID bytes, BCC
        assert wire.send("93708804A1B29F") == "04"  # SAK: cascade
        assert wire.send("9520") == "C3D4E5F604"
        assert wire.send("9570C3D4E5F604") == "00"  # SAK: Type 2, selected
        assert wire.send("99") is None  # unknown: silent, back to IDLE
        assert wire.send("60") is None  # ...so no longer answers
        assert wire.send("26") == "4400"
        assert wire.send("93708804A1B29F") == "04"  # select without anticollision
        assert wire.send("9570C3D4E5F604") == "00"
        assert wire.send("60") == "0004040201000F03"  # NTAG213 version
    finally:
        wire.sock.close()
    result = presenter.join()
    assert result.reads == 1


def test_wire_protocol_of_a_four_byte_uid(emulator: TagEmulator) -> None:
    presenter = Presenter(emulator, UID4, hold_s=1.5, timeout_s=5.0)
    wire = WireReader(emulator.address)
    try:
        assert wire.send("26") == "0400"
        assert wire.send("9320") == "A1B2C3D4" + f"{0xA1 ^ 0xB2 ^ 0xC3 ^ 0xD4:02X}"
        select = "9370A1B2C3D4" + f"{0xA1 ^ 0xB2 ^ 0xC3 ^ 0xD4:02X}"
        assert wire.send(select) == "00"
        first = wire.send("3000")
        assert first is not None and first[:8] == "A1B2C3D4"
        last = wire.send("302C")  # PACK (the last page), then rolling over to page 0
        assert last is not None and last[:16] == "00000000A1B2C3D4"
        assert wire.send("302D") == "00"  # NAK: beyond the last page (44)
        assert wire.send("3000") is None  # a NAK sends the tag to IDLE
        assert wire.send("26") == "0400"
        assert wire.send(select) == "00"
        assert wire.send("5000") is None  # HLTA
        assert wire.send("26") is None  # a halted tag ignores REQA...
        assert wire.send("52") == "0400"  # ...but wakes on WUPA
    finally:
        wire.sock.close()
    presenter.join()


def test_field_time_ignores_a_poll_nobody_followed_up(emulator: TagEmulator) -> None:
    stale = WireReader(emulator.address)  # a poll queued before the card came...
    stale.sock.sendto(b"106A 26", emulator.address)
    time.sleep(0.05)
    presenter = Presenter(emulator, UID4, timeout_s=5.0)
    time.sleep(0.2)  # ...is answered, but its reader never goes on
    live = WireReader(emulator.address)
    try:
        polled_at = time.monotonic()
        assert live.send("26") == "0400"
        sdd = live.send("9320")
        assert sdd is not None
        assert live.send("9370" + sdd) == "00"
    finally:
        live.sock.close()
        stale.sock.close()
    result = presenter.join()
    assert result.field_at_mono >= polled_at
    assert result.read_at_mono >= result.field_at_mono
