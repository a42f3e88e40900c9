"""SerialReader on real pseudo-terminals: the test writes to the master end, the reader opens
the slave through a stable symlink (as udev's /dev/serial/by-id links are)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge.control_socket import wait_until_answering
from edge.readers import build_reader
from edge.readers.garbage import GarbageCounter, GarbageReport
from edge.readers.serial_reader import (
    GARBAGE_SHOWN_CHARS,
    SerialReader,
    decimal_to_uid,
    parse_card_line,
)
from firmware_config.schema import EdgeConfig, SerialReaderConfig
from tests.edge.conftest import commission, door_doc, write_doc
from tests.edge.reader_recorder import Recorder


class PtyDevice:
    """A serial device that can be unplugged and plugged back in at the same path."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.master: int | None = None

    def plug(self) -> None:
        master, slave = os.openpty()
        name = os.ttyname(slave)
        os.close(slave)  # the reader opens its own; the pty lives while the master is open
        self.master = master
        self.link.unlink(missing_ok=True)
        self.link.symlink_to(name)

    def unplug(self) -> None:
        if self.master is not None:
            os.close(self.master)
            self.master = None
        self.link.unlink(missing_ok=True)

    def write(self, data: bytes) -> None:
        assert self.master is not None
        os.write(self.master, data)


@pytest.fixture
def device(tmp_path: Path) -> Iterator[PtyDevice]:
    dev = PtyDevice(tmp_path / "ttyCARD")
    dev.plug()
    yield dev
    dev.unplug()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder(timeout=5.0)


@pytest.fixture
def start_reader(device: PtyDevice, recorder: Recorder) -> Iterator[Callable[..., SerialReader]]:
    readers: list[SerialReader] = []

    def start(uid_format: str = "hex", debounce: float = 1.0, terminator: str = "\r\n",
              wait_available: bool = True, garbage_interval: float | None = None
              ) -> SerialReader:
        config = SerialReaderConfig(str(device.link), 9600, terminator, uid_format,
                                    debounce, 0.05, 0.2)
        reader = SerialReader(config) if garbage_interval is None else \
            SerialReader(config, garbage_interval=garbage_interval)
        reader.start(recorder.on_card, recorder)
        readers.append(reader)
        if wait_available:
            # Bytes written before the reader has the port in raw mode would be cooked by
            # the pty's line discipline.
            assert recorder.wait_for(lambda: "reader_available" in recorder.kinds())
        return reader

    yield start
    for reader in readers:
        reader.stop()


def test_hex_lines_with_separators(device: PtyDevice, recorder: Recorder,
                                   start_reader: Callable[..., SerialReader]) -> None:
    start_reader()
    device.write(b"04:a1:b2:c3:d4:e5:f6\r\nA1-B2-C3-D4\r\n 0a 0b 0c 0d \r\n")
    assert recorder.wait_for(lambda: len(recorder.cards) >= 3)
    assert recorder.cards == ["04A1B2C3D4E5F6", "A1B2C3D4", "0A0B0C0D"]
    assert "reader_garbage" not in recorder.kinds()


def test_decimal_lines(device: PtyDevice, recorder: Recorder,
                       start_reader: Callable[..., SerialReader]) -> None:
    start_reader(uid_format="decimal")
    device.write(b"1234567\r\n0004294967295\r\n4294967296\r\n")
    assert recorder.wait_for(lambda: len(recorder.cards) >= 3)
    assert recorder.cards == ["0012D687", "FFFFFFFF", "0100000000"]


def test_partial_lines_across_writes(device: PtyDevice, recorder: Recorder,
                                     start_reader: Callable[..., SerialReader]) -> None:
    start_reader()
    for piece in (b"04A1", b"B2C3\r", b"\nA1B2", b"C3D4\r\n"):
        device.write(piece)
        time.sleep(0.05)  # each piece reaches the reader in its own read
    assert recorder.wait_for(lambda: len(recorder.cards) >= 2)
    assert recorder.cards == ["04A1B2C3", "A1B2C3D4"]
    assert "reader_garbage" not in recorder.kinds()


def test_other_terminator_and_stray_carriage_returns(
        device: PtyDevice, recorder: Recorder,
        start_reader: Callable[..., SerialReader]) -> None:
    start_reader(terminator="\n")
    device.write(b"A1B2C3D4\r\n04A1B2C3\n")
    assert recorder.wait_for(lambda: len(recorder.cards) >= 2)
    assert recorder.cards == ["A1B2C3D4", "04A1B2C3"]


def test_garbage_is_reported_and_skipped(device: PtyDevice, recorder: Recorder,
                                         start_reader: Callable[..., SerialReader]) -> None:
    reader = start_reader()
    device.write(b"hello\r\n\xff\xfe\r\nABC\r\n\r\n")
    device.write(b"Z" * 300)  # no terminator at all: must not grow without bound
    time.sleep(0.1)
    device.write(b"\r\nA1B2C3D4\r\n")
    assert recorder.wait_for(lambda: recorder.cards == ["A1B2C3D4"])
    reader.stop()  # what is still counted is reported at stop
    garbage = recorder.of_kind("reader_garbage")
    # The first bad line at once, the rest counted into one report.
    assert [(g["line"], g["count"]) for g in garbage[:1]] == [("hello", 1)]
    assert len(garbage) == 2 and garbage[1]["line"] == "\\xff\\xfe"
    # hello, \xff\xfe, ABC, and the Zs in as many pieces as they were read in (each read
    # that leaves over 64 bytes without a terminator drops them all).
    assert sum(int(str(g["count"])) for g in garbage) >= 4
    assert all(len(str(g["line"])) <= GARBAGE_SHOWN_CHARS for g in garbage)
    assert all(g["reader"] == str(device.link) and g["error"] for g in garbage)
    assert recorder.kinds()[0] == "reader_available"
    assert "reader_unavailable" not in recorder.kinds()


def test_a_flood_of_garbage_is_coalesced_and_a_card_still_gets_through(
        device: PtyDevice, recorder: Recorder,
        start_reader: Callable[..., SerialReader]) -> None:
    reader = start_reader()
    device.write(b"NOISE\r\n" * 5000)
    device.write(b"A1B2C3D4\r\n")
    assert recorder.wait_for(lambda: recorder.cards == ["A1B2C3D4"]), \
        "the card behind the noise was not read"
    device.write(b"\x00\x13garbage\r\n" * 5000)
    # The reader has consumed everything once a card written after it is read.
    device.write(b"B1B2C3D4\r\n")
    assert recorder.wait_for(lambda: recorder.cards == ["A1B2C3D4", "B1B2C3D4"])
    reader.stop()

    garbage = recorder.of_kind("reader_garbage")
    # The first line at once; the other 9,999 within the minute, reported at stop.
    assert [g["count"] for g in garbage] == [1, 9999]
    assert garbage[0] == {"reader": str(device.link), "count": 1, "line": "NOISE",
                          "error": garbage[0]["error"], "seconds": 0.0}
    assert garbage[1]["line"] == "NOISE" and garbage[1]["error"]


def test_garbage_is_reported_once_per_interval_while_it_lasts(
        device: PtyDevice, recorder: Recorder,
        start_reader: Callable[..., SerialReader]) -> None:
    start_reader(garbage_interval=0.3)
    device.write(b"NOISE\r\n" * 3)
    # Reported when the interval ends, while the reader runs.
    assert recorder.wait_for(lambda: len(recorder.of_kind("reader_garbage")) == 2)
    assert [g["count"] for g in recorder.of_kind("reader_garbage")] == [1, 2]
    started = time.monotonic()
    for _ in range(10):
        device.write(b"NOISE\r\n" * 100)
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    assert recorder.wait_for(
        lambda: sum(int(str(g["count"])) for g in recorder.of_kind("reader_garbage")) == 1003)
    assert len(recorder.of_kind("reader_garbage")) <= 2 + 1 + elapsed / 0.3 + 1


def test_debounce(device: PtyDevice, recorder: Recorder,
                  start_reader: Callable[..., SerialReader]) -> None:
    start_reader(debounce=0.5)
    device.write(b"A1B2C3D4\r\nA1B2C3D4\r\nB1B2C3D4\r\nA1B2C3D4\r\n")
    assert recorder.wait_for(lambda: len(recorder.cards) >= 2)
    time.sleep(0.6)  # away for longer than the window
    device.write(b"A1B2C3D4\r\n")
    assert recorder.wait_for(lambda: len(recorder.cards) >= 3)
    assert recorder.cards == ["A1B2C3D4", "B1B2C3D4", "A1B2C3D4"]


def test_device_vanishes_and_returns(device: PtyDevice, recorder: Recorder,
                                     start_reader: Callable[..., SerialReader]) -> None:
    reader = start_reader()
    device.write(b"A1B2C3D4\r\n")
    assert recorder.wait_for(lambda: recorder.cards == ["A1B2C3D4"])

    device.write(b"04A1")  # half a line, then the cable is pulled
    time.sleep(0.05)
    device.unplug()
    assert recorder.wait_for(lambda: "reader_unavailable" in recorder.kinds())
    time.sleep(0.5)  # several retries at the capped delay
    assert reader.is_running and not reader.is_available

    device.plug()
    assert recorder.wait_for(lambda: recorder.kinds().count("reader_available") == 2)
    device.write(b"B2C3D4E5\r\n")
    assert recorder.wait_for(lambda: len(recorder.cards) >= 2)
    assert recorder.cards == ["A1B2C3D4", "B2C3D4E5"]  # the half line was not glued on
    assert recorder.kinds() == ["reader_available", "reader_unavailable", "reader_available"]
    _, outage, alarm = recorder.events[1]
    assert alarm is True and outage["retry_in_s"] == 0.05 and outage["error"]
    back = recorder.events[2][1]
    assert int(str(back["failed_attempts"])) >= 3 and float(str(back["down_s"])) >= 0.5


def test_device_missing_at_start(device: PtyDevice, recorder: Recorder,
                                 start_reader: Callable[..., SerialReader]) -> None:
    device.unplug()
    start_reader(wait_available=False)
    assert recorder.wait_for(lambda: "reader_unavailable" in recorder.kinds())
    assert recorder.events[0][2] is True
    device.plug()
    assert recorder.wait_for(lambda: "reader_available" in recorder.kinds())
    device.write(b"A1B2C3D4\r\n")
    assert recorder.wait_for(lambda: recorder.cards == ["A1B2C3D4"])
    assert recorder.kinds() == ["reader_unavailable", "reader_available"]


def test_stop_is_prompt(recorder: Recorder, start_reader: Callable[..., SerialReader]) -> None:
    reader = start_reader()
    reader.stop()
    assert not reader.is_running


def test_build_reader_picks_serial(device: PtyDevice) -> None:
    config = SerialReaderConfig(str(device.link), 9600, "\r\n", "decimal", 2.0, 1.0, 30.0)
    assert isinstance(build_reader(config), SerialReader)


@pytest.mark.parametrize(("number", "uid"), [
    (0, "00000000"),
    (255, "000000FF"),
    (1234567, "0012D687"),
    (2**32 - 1, "FFFFFFFF"),
    (2**32, "0100000000"),
    (2**56 - 1, "FFFFFFFFFFFFFF"),
    (2**80 - 1, "FF" * 10),
])
def test_decimal_rule(number: int, uid: str) -> None:
    assert decimal_to_uid(number) == uid


def test_decimal_rule_refuses_what_no_uid_can_be() -> None:
    with pytest.raises(ValueError, match="too large"):
        decimal_to_uid(2**80)
    with pytest.raises(ValueError, match="negative"):
        decimal_to_uid(-1)


@pytest.mark.parametrize(("line", "fmt"), [
    ("-12", "decimal"), ("12a", "decimal"), ("", "decimal"), ("٣", "decimal"),
    ("ABC", "hex"), ("XYZ0", "hex"), ("", "hex"), ("A1B2", "octal"),
])
def test_parse_card_line_refuses(line: str, fmt: str) -> None:
    with pytest.raises(ValueError):
        parse_card_line(line, fmt)


# --- coalescing, by itself and in a running gate ------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_garbage_counter_reports_the_first_at_once_then_one_per_interval() -> None:
    now = FakeTime()
    counter = GarbageCounter(60.0, now)
    assert counter.add("a", "bad") == GarbageReport(1, "a", "bad", 0.0)
    assert [counter.add(f"b{i}", "worse") for i in range(3)] == [None, None, None]
    now.t += 59.9
    assert counter.due() is None
    now.t += 0.1
    assert counter.due() == GarbageReport(3, "b0", "worse", 60.0)
    # Still noisy: the next line is counted into the next interval, not reported at once.
    assert counter.add("c", "bad") is None
    now.t += 60
    assert counter.add("d", "bad") == GarbageReport(1, "c", "bad", 60.0)
    assert counter.flush() == GarbageReport(1, "d", "bad", 0.0)
    now.t += 60
    assert counter.due() is None  # a quiet interval: the next bad line is news again
    now.t += 600
    assert counter.add("e", "bad") == GarbageReport(1, "e", "bad", 0.0)
    assert counter.flush() is None


def test_a_gate_journals_garbage_coalesced_and_what_is_left_when_it_stops(
        tmp_path: Path, device: PtyDevice) -> None:
    doc = door_doc(tmp_path / "data")
    doc["reader"] = {"kind": "serial", "path": str(device.link), "debounce": "1s"}
    config = write_doc(tmp_path / "door.toml", doc)
    commission(config)
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config",
                             str(config.source)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_until_answering(config.control_socket, 20, proc)
        assert _wait(lambda: "reader_available" in _kinds(config))
        device.write(b"NOISE\r\n" * 3000 + b"04A1B2C3\r\n" + b"NOISE\r\n" * 2000)
        assert _wait(lambda: "tap" in _kinds(config)), "the card behind the noise"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with sqlite3.connect(f"file:{config.events_db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT kind, data FROM events ORDER BY seq").fetchall()
    garbage = [json.loads(data) for kind, data in rows if kind == "reader_garbage"]
    taps = [json.loads(data) for kind, data in rows if kind == "tap"]
    assert len(taps) == 1
    assert sum(g["count"] for g in garbage) == 5000
    assert len(garbage) == 2, [g["count"] for g in garbage]  # at once, and at the stop
    assert rows[-1][0] == "shutdown"


def _kinds(config: EdgeConfig) -> list[str]:
    try:
        with sqlite3.connect(f"file:{config.events_db}?mode=ro", uri=True) as conn:
            return [k for (k,) in conn.execute("SELECT kind FROM events")]
    except sqlite3.OperationalError:
        return []


def _wait(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
