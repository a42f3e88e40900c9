"""The files that carry evidence of the time between the gate and its sync agent.

Two processes, one writer per file:

- ``clock.json`` (written by the gate only): ``{"high_water_mark": <epoch seconds>}``, the
  latest time the gate had reason to trust.
- ``clock-evidence.json`` (written by the sync agent only): what the agent learnt from
  central over the signed sync link, ``{"v": 1, "command_issued_at": <epoch seconds>,
  "central_time": {"now": ..., "mono": ..., "boot_id": ..., "rtt": ...}}``. ``central_time``
  is central's clock as a signed ``time`` answer gave it, with this machine's
  CLOCK_MONOTONIC at receipt, so it can be carried forward without trusting the wall clock.

The third piece of evidence, the ``issued_at`` of the newest signed list applied, lives in
``auth.db`` (written in the same transaction as ``applied_seq``, see ``edge.auth_store``).

A missing, torn or garbage file proves nothing: it reads as "no evidence", never as a
reason to trust the clock. This module is the only one that knows these formats."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.atomic_file import write_atomically

log = logging.getLogger(__name__)

EVIDENCE_VERSION = 1
BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")


def evidence_path(clock_state: Path) -> Path:
    """Where the agent's evidence lives: next to the gate's ``clock.json``."""
    return clock_state.with_name("clock-evidence.json")


def current_boot_id() -> str:
    """This boot's id: CLOCK_MONOTONIC readings are comparable only within one boot."""
    try:
        return BOOT_ID_PATH.read_text().strip()
    except OSError:
        return ""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and number > 0 else None


def _read_object(path: Path) -> dict[str, Any] | None:
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s is unreadable (%s): it proves nothing about the time", path, exc)
        return None
    if not isinstance(obj, dict):
        log.warning("%s is not a JSON object: it proves nothing about the time", path)
        return None
    return obj


def load_mark(path: Path) -> float | None:
    """The saved high-water mark, or None when there is none (missing or unreadable file)."""
    obj = _read_object(path)
    return None if obj is None else _number(obj.get("high_water_mark"))


def save_mark(path: Path, mark: float) -> None:
    """Persist the high-water mark (fsynced, atomic). The gate is the only caller."""
    write_atomically(path, json.dumps({"high_water_mark": mark}))


@dataclass(frozen=True)
class CentralTime:
    """Central's clock (``now``) as one signed answer gave it, pinned to this machine's
    monotonic clock at receipt (``mono``, valid only while ``boot_id`` is this boot)."""

    now: float
    mono: float
    boot_id: str
    rtt: float

    def projected(self, mono_now: float, boot_id: str) -> float | None:
        """Central's time now, carried forward on the monotonic clock; None after a reboot
        (the monotonic clock restarted) or if the monotonic reading went backwards."""
        if not self.boot_id or boot_id != self.boot_id or mono_now < self.mono:
            return None
        return self.now + (mono_now - self.mono)


@dataclass(frozen=True)
class AgentEvidence:
    """What the sync agent has verified about the time (``clock-evidence.json``)."""

    command_issued_at: float | None = None
    central_time: CentralTime | None = None


def load_agent_evidence(path: Path) -> AgentEvidence:
    """The agent's evidence; empty when the file is missing or unreadable."""
    obj = _read_object(path)
    if obj is None or obj.get("v") != EVIDENCE_VERSION:
        return AgentEvidence()
    central: CentralTime | None = None
    raw = obj.get("central_time")
    if isinstance(raw, dict):
        now, mono, rtt = _number(raw.get("now")), raw.get("mono"), raw.get("rtt")
        boot_id = raw.get("boot_id")
        if (now is not None and isinstance(mono, (int, float)) and not isinstance(mono, bool)
                and isinstance(rtt, (int, float)) and isinstance(boot_id, str)):
            central = CentralTime(now, float(mono), boot_id, float(rtt))
    return AgentEvidence(_number(obj.get("command_issued_at")), central)


def save_agent_evidence(path: Path, evidence: AgentEvidence) -> None:
    """Persist the agent's evidence (fsynced, atomic). The sync agent is the only caller."""
    central = evidence.central_time
    write_atomically(path, json.dumps({
        "v": EVIDENCE_VERSION,
        "command_issued_at": evidence.command_issued_at,
        "central_time": None if central is None else {
            "now": central.now, "mono": central.mono, "boot_id": central.boot_id,
            "rtt": central.rtt},
    }))
