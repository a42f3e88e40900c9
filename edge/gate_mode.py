"""The gate's standing mode — normal, held open or locked down — and the file that keeps it
across a restart.

A remote lockdown that a power cut quietly lifts, or a hold-open that a crash ends while the
desk believes the door is open for a delivery, is the gate saying one thing and doing
another. So a mode other than ``normal`` is written to ``mode.json`` in the data folder
(written whole and fsynced, then renamed) before the actuator changes, and read back at
start. A mode may carry an end time; one that has passed by the time the gate starts is not
restored."""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass
from pathlib import Path

from edge.atomic_file import fsync_folder, write_atomically


class GateMode(enum.StrEnum):
    """What the gate does with grants, beside deciding them."""

    NORMAL = "normal"
    HOLD_OPEN = "hold_open"  # the door stays unlocked, the barrier stays up
    LOCKDOWN = "lockdown"  # every card refused; a door's REX still opens (egress)


@dataclass(frozen=True)
class ModeState:
    """The mode in force, who set it and until when (``until`` epoch seconds, None: until
    released)."""

    mode: GateMode
    set_by: str = ""
    reason: str = ""
    since: float = 0.0
    until: float | None = None

    def expired(self, wall: float) -> bool:
        """True when the mode had an end time and ``wall`` is past it."""
        return self.until is not None and wall >= self.until


NORMAL = ModeState(GateMode.NORMAL)


class ModeFileError(ValueError):
    """``mode.json`` exists but cannot be read as a mode."""


class ModeFile:
    """``mode.json``: the standing mode, or no file at all for ``normal``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> ModeState:
        """The saved mode; NORMAL when there is none. ModeFileError when the file is
        damaged (the caller raises an alarm and carries on in normal mode)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return NORMAL
        except (OSError, UnicodeDecodeError) as exc:
            raise ModeFileError(f"{self.path}: {exc}") from exc
        try:
            obj = json.loads(text)
            mode = GateMode(obj["mode"])
            until = obj.get("until")
            if until is not None and (isinstance(until, bool)
                                      or not isinstance(until, int | float)
                                      or not math.isfinite(until)):
                raise ValueError(f"until {until!r} is not a time")
            since = obj.get("since", 0.0)
            if isinstance(since, bool) or not isinstance(since, int | float):
                raise ValueError(f"since {since!r} is not a time")
            return ModeState(mode, str(obj.get("set_by", "")), str(obj.get("reason", "")),
                             float(since), None if until is None else float(until))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModeFileError(f"{self.path}: {exc}") from exc

    def save(self, state: ModeState) -> None:
        """Make ``state`` the saved mode, durably; ``normal`` removes the file."""
        if state.mode is GateMode.NORMAL:
            try:
                self.path.unlink()
            except FileNotFoundError:
                return
            fsync_folder(self.path.parent)
            return
        write_atomically(self.path, json.dumps(
            {"mode": state.mode.value, "set_by": state.set_by, "reason": state.reason,
             "since": state.since, "until": state.until}, ensure_ascii=False))


