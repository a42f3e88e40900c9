"""NfcReader with nfcpy's real udp driver and the tag emulator on loopback.

pytest-mock is used only for faults that cannot be made for real here: a USB reader that
cannot be opened, a device that fails mid-poll, an exception inside nfcpy.
"""

from __future__ import annotations

import errno
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import nfc
import nfc.clf.udp
import pytest
from pytest_mock import MockerFixture

from edge.readers import build_reader
from edge.readers.nfc_reader import NfcReader
from firmware_config.schema import NfcReaderConfig
from hardware_sim.local_ports import free_udp_port
from hardware_sim.tag_emulator import TagEmulator
from tests.edge.reader_recorder import Recorder

UID_A = "04A1B2C3D4E5F6"
UID_B = "A1B2C3D4"


def wait_until(predicate: Callable[[], bool], timeout: float = 8.0) -> bool:
    """Poll a condition no Recorder notifies about."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def emulator() -> Iterator[TagEmulator]:
    with TagEmulator("127.0.0.1", free_udp_port(0)) as emu:
        yield emu


@pytest.fixture
def recorder() -> Recorder:
    return Recorder(timeout=8.0)


@pytest.fixture
def start_reader(emulator: TagEmulator, recorder: Recorder) -> Iterator[Callable[..., NfcReader]]:
    readers: list[NfcReader] = []

    def start(debounce: float = 1.0, retry_initial: float = 0.05,
              retry_max: float = 0.2) -> NfcReader:
        config = NfcReaderConfig(emulator.reader_path, debounce, retry_initial, retry_max)
        reader = NfcReader(config)
        reader.start(recorder.on_card, recorder)
        readers.append(reader)
        return reader

    yield start
    for reader in readers:
        reader.stop()


def test_one_tap_is_one_card(emulator: TagEmulator, recorder: Recorder,
                             start_reader: Callable[..., NfcReader]) -> None:
    start_reader()
    result = emulator.present(UID_A)
    assert recorder.wait_for(lambda: len(recorder.cards) >= 1)
    time.sleep(0.3)  # nothing more may trickle in
    assert recorder.cards == [UID_A]
    assert result.reads == 1
    assert recorder.kinds() == ["reader_available"]


def test_card_held_for_three_seconds_counts_once(
        emulator: TagEmulator, recorder: Recorder,
        start_reader: Callable[..., NfcReader]) -> None:
    start_reader(debounce=1.0)
    result = emulator.present(UID_A, hold_s=3.0)
    assert result.reads > 3, "the reader should have read the held card many times"
    assert recorder.wait_for(lambda: len(recorder.cards) >= 1)
    time.sleep(0.3)
    assert recorder.cards == [UID_A]


def test_two_different_cards_both_count(emulator: TagEmulator, recorder: Recorder,
                                        start_reader: Callable[..., NfcReader]) -> None:
    start_reader(debounce=2.0)
    emulator.present(UID_A)
    emulator.present(UID_B)
    assert recorder.wait_for(lambda: len(recorder.cards) >= 2)
    assert recorder.cards == [UID_A, UID_B]


def test_same_card_counts_again_only_after_the_window(
        emulator: TagEmulator, recorder: Recorder,
        start_reader: Callable[..., NfcReader]) -> None:
    start_reader(debounce=0.5)
    emulator.present(UID_A)
    emulator.present(UID_A)  # a quick second tap, within the window: the same tap
    assert recorder.wait_for(lambda: len(recorder.cards) >= 1)
    time.sleep(0.6)  # the card is away for longer than the window
    emulator.present(UID_A)
    assert recorder.wait_for(lambda: len(recorder.cards) >= 2)
    assert recorder.cards == [UID_A, UID_A]


def test_stop_is_prompt_and_releases_the_thread(
        recorder: Recorder, start_reader: Callable[..., NfcReader]) -> None:
    reader = start_reader()
    assert recorder.wait_for(lambda: "reader_available" in recorder.kinds())
    time.sleep(0.2)  # let it sit inside a poll that nothing answers
    reader.stop()  # joins with a bound; a thread stuck in a poll would still be alive
    assert not reader.is_running


def test_reader_that_cannot_be_opened_is_retried_with_capped_backoff(
        emulator: TagEmulator, recorder: Recorder, mocker: MockerFixture,
        start_reader: Callable[..., NfcReader], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edge.readers")
    real_open = nfc.ContactlessFrontend.open
    attempts: list[float] = []

    def unplugged_five_times(self: Any, path: str) -> Any:
        attempts.append(time.monotonic())
        if len(attempts) <= 5:
            raise OSError(errno.ENODEV, "No such device")
        return real_open(self, path)

    mocker.patch.object(nfc.ContactlessFrontend, "open", autospec=True,
                        side_effect=unplugged_five_times)
    start_reader(retry_initial=0.05, retry_max=0.2)
    assert recorder.wait_for(lambda: "reader_available" in recorder.kinds())

    delays = [r.retry_in_s for r in caplog.records if hasattr(r, "retry_in_s")]
    assert delays == [0.05, 0.1, 0.2, 0.2, 0.2]  # doubling, capped at retry_max
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    for gap, delay in zip(gaps, delays, strict=False):
        assert gap >= delay * 0.95  # it really waited

    (down, up) = recorder.events
    assert down[0] == "reader_unavailable" and down[2] is True  # one alarm, not five
    assert down[1]["retry_in_s"] == 0.05 and "No such device" in str(down[1]["error"])
    assert up[0] == "reader_available" and up[2] is False
    assert up[1]["failed_attempts"] == 5

    emulator.present(UID_A)
    assert recorder.wait_for(lambda: recorder.cards == [UID_A])


def test_reader_that_vanishes_and_returns(
        emulator: TagEmulator, recorder: Recorder, mocker: MockerFixture,
        start_reader: Callable[..., NfcReader]) -> None:
    unplugged = threading.Event()
    opens_while_unplugged: list[float] = []
    real_sense = nfc.clf.udp.Device.sense_tta
    real_open = nfc.ContactlessFrontend.open

    def sense(self: Any, target: Any) -> Any:
        if unplugged.is_set():  # what a PN53x transport raises when the USB link is gone
            raise OSError(errno.ENODEV, "No such device")
        return real_sense(self, target)

    def open_(self: Any, path: str) -> Any:
        if unplugged.is_set():
            opens_while_unplugged.append(time.monotonic())
            raise OSError(errno.ENODEV, "No such device")
        return real_open(self, path)

    mocker.patch.object(nfc.clf.udp.Device, "sense_tta", autospec=True, side_effect=sense)
    mocker.patch.object(nfc.ContactlessFrontend, "open", autospec=True, side_effect=open_)
    reader = start_reader(retry_initial=0.05, retry_max=0.2)
    assert recorder.wait_for(lambda: "reader_available" in recorder.kinds())

    unplugged.set()
    assert recorder.wait_for(lambda: "reader_unavailable" in recorder.kinds())
    assert wait_until(lambda: len(opens_while_unplugged) >= 3)
    assert not reader.is_available
    unplugged.clear()
    assert recorder.wait_for(lambda: recorder.kinds().count("reader_available") == 2)
    assert recorder.kinds() == ["reader_available", "reader_unavailable", "reader_available"]
    assert recorder.events[1][2] is True  # the outage is an alarm
    assert "nfcpy lost the reader" in str(recorder.events[1][1]["error"])

    emulator.present(UID_A)
    assert recorder.wait_for(lambda: recorder.cards == [UID_A])


def test_thread_survives_an_exception_inside_connect(
        emulator: TagEmulator, recorder: Recorder, mocker: MockerFixture,
        start_reader: Callable[..., NfcReader]) -> None:
    real_connect = nfc.ContactlessFrontend.connect
    calls: list[int] = []

    def connect(self: Any, **options: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom inside nfcpy")
        return real_connect(self, **options)

    mocker.patch.object(nfc.ContactlessFrontend, "connect", autospec=True, side_effect=connect)
    reader = start_reader()
    assert recorder.wait_for(lambda: recorder.kinds().count("reader_available") == 2)
    assert reader.is_running
    _, data, alarm = recorder.events[1]
    assert data["error"] == "RuntimeError: boom inside nfcpy" and alarm is True

    emulator.present(UID_B)
    assert recorder.wait_for(lambda: recorder.cards == [UID_B])


def test_a_failing_on_card_does_not_stop_reading(
        emulator: TagEmulator, recorder: Recorder) -> None:
    seen: list[str] = []

    def on_card(uid: str) -> None:
        seen.append(uid)
        if len(seen) == 1:
            raise ValueError("a bug in the gate")
        recorder.on_card(uid)

    reader = NfcReader(NfcReaderConfig(emulator.reader_path, 1.0, 0.05, 0.2))
    reader.start(on_card, recorder)
    try:
        emulator.present(UID_A)
        emulator.present(UID_B)
        assert recorder.wait_for(lambda: recorder.cards == [UID_B])
        assert seen == [UID_A, UID_B]
        assert recorder.kinds() == ["reader_available"]  # not mistaken for a reader fault
    finally:
        reader.stop()


def test_build_reader_picks_nfc() -> None:
    reader = build_reader(NfcReaderConfig("udp:127.0.0.1:1", 2.0, 1.0, 30.0))
    assert isinstance(reader, NfcReader)
