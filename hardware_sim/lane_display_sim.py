"""A simulated lane LED display and voice module on a pseudo-terminal.

The gate's display adapter (edge.displays.serial_display) opens the pty's slave through a
stable symlink, as it would open /dev/serial/by-id/...; the simulator reads the master end,
decodes the frames (edge.displays.lane_display_protocol), keeps the rows shown and every
voice line said, answers ACKs, and writes its state atomically to a JSON file that tests and
other processes read (``read_state``). It can be unplugged and plugged back in at the same
path, as a USB adapter can.

State file: ``plugged``, ``mode`` (``blank`` after power-up or CLEAR, ``message`` after
SHOW, ``idle`` after IDLE), ``lines`` (the rows shown), ``said`` (every voice line, oldest
first), ``frames`` (good frames taken), ``bad_frames`` (thrown away by the decoder),
``refused`` (good frames it refused: unknown command, bad payload), ``last_seq``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import select
import threading
import time
import tty
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from edge.atomic_file import write_atomically
from edge.displays.lane_display_protocol import (
    BROADCAST_ADDRESS,
    DEFAULT_ADDRESS,
    AckStatus,
    Command,
    Frame,
    FrameDecoder,
    ProtocolError,
    decode_rows,
    decode_voice,
    encode_ack,
    encode_frame,
)

log = logging.getLogger(__name__)

# The line is quiet for this long: a frame still incomplete never will be (FrameDecoder.idle).
QUIET_S = 0.5
_POLL_S = 0.05


def read_state(path: Path) -> dict[str, Any]:
    """The state a simulated display last wrote; an empty dict before it wrote any."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    assert isinstance(state, dict)
    return state


def wait_for_state(path: Path, predicate: Callable[[Mapping[str, Any]], bool],
                   timeout: float = 5.0) -> dict[str, Any]:
    """Poll the state file until ``predicate`` holds; TimeoutError naming the last state."""
    deadline = time.monotonic() + timeout
    while True:
        state = read_state(path)
        if state and predicate(state):
            return state
        if time.monotonic() >= deadline:
            raise TimeoutError(f"display state never matched; last {state}")
        time.sleep(0.02)


class LaneDisplaySim:
    """A display on a pty whose slave is symlinked at ``link``. ``start`` plugs it in."""

    def __init__(self, link: Path, state_file: Path, *, address: int = DEFAULT_ADDRESS,
                 ack: bool = True) -> None:
        self.link = link
        self.state_file = state_file
        self.address = address
        self.ack = ack
        self._requests: queue.Queue[tuple[str, threading.Event]] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self.slave_name: str | None = None
        self._decoder = FrameDecoder()
        self._state: dict[str, Any] = {"plugged": False, "mode": "blank", "lines": [],
                                       "said": [], "frames": 0, "bad_frames": 0,
                                       "refused": 0, "last_seq": None}

    def start(self) -> None:
        """Plug the display in and start answering the line."""
        self._plug()
        self._thread = threading.Thread(target=self._run, name="display-sim", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop and unplug."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        self._unplug()

    def plug(self) -> None:
        """Plug a fresh (blank) display in at the same path."""
        self._request("plug")

    def unplug(self) -> None:
        """Pull the display off the line: the pty goes away, and the symlink with it."""
        self._request("unplug")

    def snapshot(self) -> dict[str, Any]:
        """The current state (as the state file has it)."""
        return json.loads(json.dumps(self._state))  # type: ignore[no-any-return]

    def _request(self, op: str) -> None:
        done = threading.Event()
        self._requests.put((op, done))
        if not done.wait(2.0):
            raise TimeoutError(f"display simulator did not {op}")

    # -- the thread owns the pty ----------------------------------------------------------

    def _run(self) -> None:
        last_data = time.monotonic()
        while not self._stop.is_set():
            self._serve_requests()
            master = self._master
            if master is None:
                self._stop.wait(_POLL_S)
                continue
            ready, _, _ = select.select([master], [], [], _POLL_S)
            if not ready:
                if time.monotonic() - last_data >= QUIET_S:
                    self._take(self._decoder.idle())
                    last_data = time.monotonic()
                continue
            try:
                data = os.read(master, 4096)
            except OSError:
                data = b""
            if data:
                last_data = time.monotonic()
                self._take(self._decoder.feed(data))

    def _serve_requests(self) -> None:
        while True:
            try:
                op, done = self._requests.get_nowait()
            except queue.Empty:
                return
            if op == "plug":
                self._unplug()
                self._plug()
            else:
                self._unplug()
            done.set()

    def _plug(self) -> None:
        master, slave = os.openpty()
        # Raw from the start: nothing written before the adapter opens the port is cooked.
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        # The slave stays open here too: with no slave open, reading the master fails (EIO).
        self.slave_name = os.ttyname(slave)
        self.link.unlink(missing_ok=True)
        self.link.symlink_to(self.slave_name)
        self._decoder = FrameDecoder()
        self._state.update(plugged=True, mode="blank", lines=[])
        self._save()

    def _unplug(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        if self.link.is_symlink():
            self.link.unlink()
        if self._state["plugged"]:
            self._state.update(plugged=False, mode="blank", lines=[])
            self._save()

    def _take(self, frames: list[Frame]) -> None:
        self._state["bad_frames"] = self._decoder.errors
        for frame in frames:
            if frame.address not in (self.address, BROADCAST_ADDRESS):
                continue  # another display on the same RS-485 line
            status = self._apply(frame)
            self._state["last_seq"] = frame.seq
            if status is AckStatus.DONE:
                self._state["frames"] += 1
            else:
                self._state["refused"] += 1
            if self.ack and frame.address != BROADCAST_ADDRESS:
                self._answer(frame, status)
        self._save()

    def _apply(self, frame: Frame) -> AckStatus:
        try:
            if frame.command == Command.SHOW:
                self._state.update(mode="message", lines=list(decode_rows(frame.payload)))
            elif frame.command == Command.IDLE:
                self._state.update(mode="idle", lines=list(decode_rows(frame.payload)))
            elif frame.command == Command.SAY:
                self._state["said"].append(decode_voice(frame.payload))
            elif frame.command == Command.CLEAR:
                self._state.update(mode="blank", lines=[])
            else:
                return AckStatus.UNKNOWN_COMMAND
        except ProtocolError as exc:
            log.info("display sim refused frame %d: %s", frame.seq, exc)
            return AckStatus.BAD_PAYLOAD
        return AckStatus.DONE

    def _answer(self, frame: Frame, status: AckStatus) -> None:
        if self._master is None:
            return
        # Nobody reads the line and its buffer is full: an ACK is optional.
        with contextlib.suppress(BlockingIOError):
            os.write(self._master, encode_frame(Command.ACK, encode_ack(frame.command, status),
                                                frame.seq, self.address))

    def _save(self) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.state_file, json.dumps(self._state, ensure_ascii=False))


__all__ = ["QUIET_S", "LaneDisplaySim", "read_state", "wait_for_state"]
