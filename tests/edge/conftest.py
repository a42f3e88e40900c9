"""Fixtures for gate-level tests: a real Gate on real SQLite files with simulated pins."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from edge.auth_store import AuthStore
from edge.card_csv import parse_cards_csv
from edge.gate import Gate
from edge.gpio_pins import GpioInput, GpioOutput
from edge.ports import SystemClock
from firmware_config.schema import EdgeConfig, parse_config
from hardware_sim.observed_pins import ObservedMockFactory
from hardware_sim.virtual_time import VirtualScheduler

CARDS_CSV = """uid,status,valid_from,valid_until,access_groups,schedule,holder_kind,plate
04A1B2C3,active,2020-01-01,2099-12-31,b1|parking,,owner,
0A0B0C0D,lost,2020-01-01,2099-12-31,b1|parking,,owner,
0E0E0E0E,active,2020-01-01,2021-01-01,b1,,tenant,
"""


def door_doc(data_dir: Path, **door: Any) -> dict[str, Any]:
    """A simulated door's config document."""
    return {
        "site": {"id": "test-site", "timezone": "Asia/Shanghai"},
        "device": {"id": "door-1", "role": "door", "access_groups": ["b1"],
                   "data_dir": str(data_dir)},
        "gpio": {"backend": "simulated"},
        "door": {"strike": {"pin": 17}, "pulse": "3s",
                 "rex": {"pin": 27, "active_high": False, "pull_up": True},
                 "contact": {"pin": 22, "pull_up": True}, **door},
    }


def barrier_doc(data_dir: Path, role: str = "barrier_entry", apb: str = "hard",
                presence: Path | None = None) -> dict[str, Any]:
    """A simulated barrier lane's config document."""
    return {
        "site": {"id": "test-site", "timezone": "Asia/Shanghai"},
        "device": {"id": f"lane-{role}", "role": role, "access_groups": ["parking"],
                   "data_dir": str(data_dir)},
        "gpio": {"backend": "simulated"},
        "barrier": {
            "raise_out": {"pin": 5}, "lower_out": {"pin": 6},
            "open_limit": {"pin": 13, "active_high": False, "pull_up": True},
            "closed_limit": {"pin": 19, "active_high": False, "pull_up": True},
            "arming_loop": {"pin": 20}, "safety_loop": {"pin": 21},
        },
        "antipassback": {"mode": apb, "reset_after": "12h",
                         "presence_db": str(presence or data_dir / "presence.db")},
    }


def write_doc(path: Path, doc: dict[str, Any]) -> EdgeConfig:
    """Write a config document and return it validated."""
    path.write_text(tomli_w.dumps(doc))
    return parse_config(doc, path)


def commission(config: EdgeConfig, cards: str = CARDS_CSV) -> None:
    """Load test cards into a gate's whitelist, as an installer would with load-cards."""
    store = AuthStore(config.auth_db)
    try:
        store.upsert(parse_cards_csv(cards))
    finally:
        store.close()


@dataclass
class FixedClockSync:
    """The ClockSync port with a state the test sets: the kernel's NTP status cannot be made
    for real in a test (and must not leak in from the machine running it)."""

    synced: bool = True

    def synchronised(self) -> bool:
        return self.synced


@dataclass
class GateRig:
    """A gate with everything a test needs to look at."""

    gate: Gate
    config: EdgeConfig
    factory: ObservedMockFactory
    scheduler: VirtualScheduler
    transitions: list[tuple[str, bool, float]]


@pytest.fixture
def make_gate(tmp_path: Path) -> Iterator[Callable[..., GateRig]]:
    """Build a started gate from a config document, with the test cards loaded."""
    rigs: list[GateRig] = []

    def build(doc: dict[str, Any], *, start: bool = True, cards: str = CARDS_CSV,
              before_start: Callable[[GateRig], None] | None = None,
              clock_sync: FixedClockSync | None = None) -> GateRig:
        config = write_doc(tmp_path / f"gate{len(rigs)}.toml", doc)
        commission(config, cards)
        factory = ObservedMockFactory()
        transitions: list[tuple[str, bool, float]] = []
        factory.observers.append(lambda pin, high, mono: transitions.append((pin, high, mono)))
        scheduler = VirtualScheduler()
        gate = Gate(
            config, clock=SystemClock(), scheduler=scheduler,
            make_output=lambda name, pin, initial: GpioOutput(name, pin, factory, initial),
            make_input=lambda name, pin: GpioInput(name, pin, factory, lambda fn: fn()),
            # An NTP-synchronised Pi, unless the test says otherwise (time trust tests).
            clock_sync=clock_sync or FixedClockSync(),
        )
        rig = GateRig(gate, config, factory, scheduler, transitions)
        rigs.append(rig)
        if before_start is not None:
            before_start(rig)
        if start:
            gate.start()
        return rig

    yield build
    for rig in rigs:
        rig.gate.shutdown()
        rig.factory.close()
