"""The lane display: its frame protocol, and the serial adapter writing to the simulated
display on a real pseudo-terminal (unplugged and plugged back in)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.displays import build_display
from edge.displays.lane_display_protocol import (
    MAX_PAYLOAD_BYTES,
    MAX_ROW_BYTES,
    SYNC,
    AckStatus,
    Command,
    Frame,
    FrameDecoder,
    ProtocolError,
    crc16_modbus,
    decode_ack,
    decode_rows,
    decode_voice,
    encode_ack,
    encode_frame,
    encode_rows,
    encode_voice,
    fit_row,
)
from edge.displays.serial_display import SerialDisplay
from edge.ports import LaneMessage
from firmware_config.lane_tables import DisplayConfig, DisplayKind
from hardware_sim.lane_display_sim import LaneDisplaySim, read_state, wait_for_state
from tests.edge.reader_recorder import Recorder

# -- the protocol -------------------------------------------------------------------------


def test_crc_is_crc16_modbus() -> None:
    assert crc16_modbus(b"123456789") == 0x4B37


def test_show_frame_round_trip() -> None:
    rows = ("欢迎光临", "粤B12345", "月卡剩余15天")
    data = encode_frame(Command.SHOW, encode_rows(rows), seq=0x1234)
    assert data.startswith(SYNC)
    assert data[2] == 0x01 and data[3:5] == b"\x12\x34" and data[5] == Command.SHOW
    frames = FrameDecoder().feed(data)
    assert frames == [Frame(address=1, seq=0x1234, command=Command.SHOW,
                            payload=encode_rows(rows))]
    assert decode_rows(frames[0].payload) == rows


def test_the_example_frame_of_the_docs() -> None:
    assert encode_frame(Command.SHOW, encode_rows(("一路顺风",)), 7).hex(" ").upper() == (
        "AA 55 01 00 07 01 00 0E 01 0C E4 B8 80 E8 B7 AF E9 A1 BA E9 A3 8E 99 72")


def test_voice_ack_and_empty_frames_round_trip() -> None:
    decoder = FrameDecoder()
    stream = (encode_frame(Command.SAY, encode_voice("欢迎光临 月卡剩余15天"), 1)
              + encode_frame(Command.CLEAR, b"", 2)
              + encode_frame(Command.ACK, encode_ack(Command.SAY, AckStatus.BAD_PAYLOAD), 3))
    frames = decoder.feed(stream)
    assert [f.command for f in frames] == [Command.SAY, Command.CLEAR, Command.ACK]
    assert decode_voice(frames[0].payload) == "欢迎光临 月卡剩余15天"
    assert frames[1].payload == b""
    assert decode_ack(frames[2].payload) == (Command.SAY, AckStatus.BAD_PAYLOAD)
    assert decoder.errors == 0 and decoder.skipped == 0


def test_frames_split_at_every_byte_decode_the_same() -> None:
    stream = encode_frame(Command.SHOW, encode_rows(("一路顺风",)), 7) \
        + encode_frame(Command.SAY, encode_voice("一路顺风"), 8)
    decoder = FrameDecoder()
    frames = [f for byte in stream for f in decoder.feed(bytes([byte]))]
    assert [f.seq for f in frames] == [7, 8]


def test_corrupted_frame_is_dropped_and_the_next_one_kept() -> None:
    bad = bytearray(encode_frame(Command.SHOW, encode_rows(("此卡已挂失",)), 1))
    bad[12] ^= 0x40  # a flipped bit in the text
    good = encode_frame(Command.SHOW, encode_rows(("车位已满",)), 2)
    decoder = FrameDecoder()
    frames = decoder.feed(b"\x00\xff noise" + bytes(bad) + good)
    assert [decode_rows(f.payload) for f in frames] == [("车位已满",)]
    assert decoder.errors >= 1 and decoder.skipped > 0


def test_impossible_length_is_skipped_at_once() -> None:
    header = SYNC + b"\x01\x00\x01\x01" + (MAX_PAYLOAD_BYTES + 1).to_bytes(2, "big")
    good = encode_frame(Command.CLEAR, b"", 9)
    frames = FrameDecoder().feed(header + good)
    assert [f.seq for f in frames] == [9]


def test_damaged_length_waits_only_until_the_line_is_quiet() -> None:
    frame = bytearray(encode_frame(Command.CLEAR, b"", 3))
    frame[7] = 200  # the length now says 200 bytes follow
    good = encode_frame(Command.CLEAR, b"", 4)
    decoder = FrameDecoder()
    assert decoder.feed(bytes(frame) + good) == []  # still waiting for 200 bytes
    assert [f.seq for f in decoder.idle()] == [4]
    assert decoder.idle() == []


def test_payload_limits() -> None:
    with pytest.raises(ProtocolError):
        encode_rows(("a", "b", "c", "d", "e"))
    with pytest.raises(ProtocolError):
        encode_rows(("长" * 17,))  # 51 bytes
    with pytest.raises(ProtocolError):
        encode_voice("")
    with pytest.raises(ProtocolError):
        encode_frame(Command.SHOW, b"x" * (MAX_PAYLOAD_BYTES + 1), 1)
    with pytest.raises(ProtocolError):
        encode_frame(Command.SHOW, b"", 70000)
    with pytest.raises(ProtocolError):
        decode_rows(b"\x02\x03abc")  # says two rows, holds one
    with pytest.raises(ProtocolError):
        decode_rows(b"\x01\x02\xe6\xac")  # half a character
    with pytest.raises(ProtocolError):
        decode_ack(b"\x01\x09")
    assert fit_row("长" * 20) == "长" * 16
    assert len(fit_row("长" * 20).encode()) <= MAX_ROW_BYTES


# -- the adapter on the simulated display ------------------------------------------------


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[LaneDisplaySim]:
    display = LaneDisplaySim(tmp_path / "ttyLED", tmp_path / "display.json")
    display.start()
    yield display
    display.stop()


@pytest.fixture
def make_display(sim: LaneDisplaySim) -> Iterator[Callable[..., SerialDisplay]]:
    made: list[SerialDisplay] = []

    def make(emit: Recorder | None = None, idle_text: str = "欢迎光临") -> SerialDisplay:
        config = DisplayConfig(DisplayKind.SERIAL, str(sim.link), 9600, idle_text)
        display = SerialDisplay(config, emit=emit, retry_initial=0.05, retry_max=0.2)
        made.append(display)
        return display

    yield make
    for display in made:
        display.close()


def _showing(lines: list[str], mode: str = "message") -> Callable[[Any], bool]:
    return lambda state: state.get("mode") == mode and state.get("lines") == lines


def test_adapter_shows_idle_then_message_and_says_voice(
        sim: LaneDisplaySim, make_display: Callable[..., SerialDisplay]) -> None:
    display = make_display()
    wait_for_state(sim.state_file, _showing(["欢迎光临"], "idle"))
    display.show(LaneMessage(("欢迎光临", "粤B12345", "月卡剩余15天"), "欢迎光临 月卡剩余15天"))
    state = wait_for_state(sim.state_file,
                           _showing(["欢迎光临", "粤B12345", "月卡剩余15天"]))
    state = wait_for_state(sim.state_file, lambda s: s["said"] == ["欢迎光临 月卡剩余15天"])
    assert state["bad_frames"] == 0 and state["refused"] == 0
    # The simulator's ACKs reach the adapter.
    deadline = time.monotonic() + 3
    while _acks(display) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _acks(display) >= 3


def _acks(display: SerialDisplay) -> int:
    acks = display.status()["acks"]
    assert isinstance(acks, int)
    return acks


def test_returns_to_idle_after_hold_and_idle_can_be_changed(
        sim: LaneDisplaySim, make_display: Callable[..., SerialDisplay]) -> None:
    display = make_display()
    wait_for_state(sim.state_file, _showing(["欢迎光临"], "idle"))
    shown = time.monotonic()
    display.show(LaneMessage(("一路顺风",), None, hold_s=0.4))
    wait_for_state(sim.state_file, _showing(["一路顺风"]))
    wait_for_state(sim.state_file, _showing(["欢迎光临"], "idle"))
    assert time.monotonic() - shown >= 0.4
    assert read_state(sim.state_file)["said"] == []
    display.set_idle(LaneMessage(("欢迎光临", "余位 12")))
    wait_for_state(sim.state_file, _showing(["欢迎光临", "余位 12"], "idle"))


def test_infinite_hold_stays(sim: LaneDisplaySim,
                             make_display: Callable[..., SerialDisplay]) -> None:
    display = make_display()
    display.show(LaneMessage(("暂停服务",), None, hold_s=math.inf))
    wait_for_state(sim.state_file, _showing(["暂停服务"]))
    time.sleep(0.5)
    assert read_state(sim.state_file)["lines"] == ["暂停服务"]


def test_show_never_blocks_and_the_newest_message_wins(
        tmp_path: Path, make_display: Callable[..., SerialDisplay],
        sim: LaneDisplaySim) -> None:
    sim.unplug()  # nothing to write to: show() must still return at once
    display = make_display()
    started = time.monotonic()
    for n in range(200):
        display.show(LaneMessage((f"第{n}辆",), f"第{n}辆"))
    assert time.monotonic() - started < 0.2
    sim.plug()
    state = wait_for_state(sim.state_file, _showing(["第199辆"]))
    state = wait_for_state(sim.state_file, lambda s: s["said"] == ["第199辆"])
    assert state["frames"] == 2  # the first open wrote only what is due now


def test_long_lines_are_cut_not_lost(sim: LaneDisplaySim,
                                     make_display: Callable[..., SerialDisplay]) -> None:
    display = make_display()
    display.show(LaneMessage(("甲", "乙", "丙", "丁", "戊"), "长" * 60))
    wait_for_state(sim.state_file, _showing(["甲", "乙", "丙", "丁"]))
    state = wait_for_state(sim.state_file, lambda s: len(s["said"]) == 1)
    assert state["said"] == ["长" * 40]


def test_display_vanishing_and_coming_back(
        sim: LaneDisplaySim, make_display: Callable[..., SerialDisplay]) -> None:
    events = Recorder(timeout=5.0)
    display = make_display(emit=events)
    assert events.wait_for(lambda: "display_available" in events.kinds())
    display.show(LaneMessage(("欢迎光临", "粤B12345"), "欢迎光临", hold_s=30))
    wait_for_state(sim.state_file, _showing(["欢迎光临", "粤B12345"]))

    sim.unplug()
    assert events.wait_for(lambda: "display_unavailable" in events.kinds())
    [(_kind, data, alarm)] = [e for e in events.events if e[0] == "display_unavailable"]
    assert alarm and data["display"] == str(sim.link)
    assert not display.is_available
    time.sleep(0.5)  # several failed reopens: still one alarm
    assert events.kinds().count("display_unavailable") == 1

    sim.plug()  # a fresh display powers up blank; the adapter puts the message back
    state = wait_for_state(sim.state_file, _showing(["欢迎光临", "粤B12345"]))
    assert state["said"] == ["欢迎光临"]  # said once, before the outage; not said again
    assert events.wait_for(lambda: events.kinds().count("display_available") == 2)
    back = events.of_kind("display_available")[-1]
    assert back["failed_attempts"] >= 2 and back["down_s"] > 0  # type: ignore[operator]


def test_voice_lost_in_an_outage_is_said_after_it_while_fresh(
        sim: LaneDisplaySim, make_display: Callable[..., SerialDisplay]) -> None:
    display = make_display()
    wait_for_state(sim.state_file, _showing(["欢迎光临"], "idle"))
    sim.unplug()
    display.show(LaneMessage(("车位已满",), "车位已满"))
    time.sleep(0.1)
    sim.plug()
    state = wait_for_state(sim.state_file, lambda s: s["said"] == ["车位已满"])
    assert state["lines"] == ["车位已满"]


def test_close_clears_the_display_and_is_quick(
        sim: LaneDisplaySim, make_display: Callable[..., SerialDisplay]) -> None:
    display = make_display()
    display.show(LaneMessage(("一路顺风",)))
    wait_for_state(sim.state_file, _showing(["一路顺风"]))
    started = time.monotonic()
    display.close()
    assert time.monotonic() - started < 1.0
    wait_for_state(sim.state_file, lambda s: s["mode"] == "blank")
    assert not any(t.name == f"display {sim.link}" for t in threading.enumerate())
    display.close()  # twice is harmless


def test_close_while_unplugged_is_quick(
        sim: LaneDisplaySim, make_display: Callable[..., SerialDisplay]) -> None:
    display = make_display()
    sim.unplug()
    time.sleep(0.3)
    started = time.monotonic()
    display.close()
    assert time.monotonic() - started < 1.0


def test_build_display_from_config(sim: LaneDisplaySim) -> None:
    display = build_display(DisplayConfig(DisplayKind.SERIAL, str(sim.link), 9600, "停车场"))
    try:
        wait_for_state(sim.state_file, _showing(["停车场"], "idle"))
    finally:
        display.close()
