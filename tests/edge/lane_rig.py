"""A car-park lane for tests: a real Gate on real SQLite files with gpiozero MockFactory
pins, the simulated arm and vehicles of hardware_sim (barrier_physics, lane_physics), virtual
time, a display that records what it is asked to show, and cards with plates and monthly
parking rights."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from edge.atomic_file import write_atomically
from edge.auth_store import AuthStore
from edge.card_record import CardRow
from edge.cards import CardStatus, ParkingRight
from edge.gate import Gate, TapOutcome
from edge.gpio_pins import GpioInput, GpioOutput
from edge.journal import Event
from edge.ports import Clock, LaneMessage, PlateRead
from edge.site_rules import FILE_NAME, SiteRules
from hardware_sim.barrier_physics import BarrierArmSim
from hardware_sim.lane_physics import LaneSim
from hardware_sim.observed_pins import ObservedMockFactory
from hardware_sim.virtual_time import VirtualScheduler
from tests.edge.conftest import FixedClockSync, barrier_doc, write_doc

SITE = "test-site"
STAFF = "04A1B2C3"  # the lane's own group: opens it as before (a MONTHLY car)
STAFF_PLATE = "粤B12345"
MONTHLY = "0B0B0B0B"  # a monthly parking right paid far ahead
MONTHLY_PLATE = "粤B54321"
LOST = "0A0B0C0D"
LOST_PLATE = "粤B77777"
OTHER_PLATE = "粤A99999"  # on no card


def card(uid: str, *, groups: tuple[str, ...] = (), plate: str | None = None,
         status: CardStatus = CardStatus.ACTIVE,
         parking: tuple[ParkingRight, ...] = ()) -> CardRow:
    """A card record as the desk sends it."""
    return CardRow(uid, status, date(2020, 1, 1), date(2099, 12, 31), groups, None, "owner",
                   plate, parking=parking)


def monthly_right(plate: str | None, paid_until: date = date(2099, 12, 31), *,
                  space_kind: str = "floating") -> ParkingRight:
    """A monthly parking right for the lane's group."""
    return ParkingRight("parking", space_kind, None, plate, date(2020, 1, 1), paid_until)


CARDS = (
    card(STAFF, groups=("parking",), plate=STAFF_PLATE),
    card(MONTHLY, plate=MONTHLY_PLATE, parking=(monthly_right(MONTHLY_PLATE),)),
    card(LOST, groups=("parking",), plate=LOST_PLATE, status=CardStatus.LOST),
)


@dataclass
class RecordingDisplay:
    """The LaneDisplay port, keeping what it was asked to show."""

    shown: list[LaneMessage] = field(default_factory=list)
    closed: bool = False

    def show(self, message: LaneMessage) -> None:
        self.shown.append(message)

    def close(self) -> None:
        self.closed = True


@dataclass
class LaneRig:
    """A lane gate and the world around it."""

    gate: Gate
    config: Any
    factory: ObservedMockFactory
    scheduler: VirtualScheduler
    display: RecordingDisplay
    arm: BarrierArmSim
    lane: LaneSim

    def run(self, seconds: float) -> None:
        """Let virtual time pass."""
        self.scheduler.advance(seconds)

    def run_until(self, condition: Callable[[], bool], timeout: float = 60.0) -> None:
        """Advance in small steps until ``condition`` holds."""
        end = self.scheduler.now() + timeout
        while not condition():
            assert self.scheduler.now() < end, f"not reached within {timeout}s"
            self.scheduler.advance(0.05)

    def plate(self, plate: str, confidence: int = 95) -> TapOutcome | None:
        """The camera reads ``plate``."""
        return self.gate.handle_plate(PlateRead(plate, confidence, "cam-1"))

    def shown(self) -> tuple[str, ...]:
        """The display's lines now."""
        return self.display.shown[-1].lines

    def events(self, kind: str) -> list[Event]:
        """The journal's events of ``kind``."""
        return [e for e in self.gate.journal.read() if e.kind == kind]

    def barrier_state(self) -> object:
        """The barrier's state name."""
        return self.gate.actuator.status()["state"]

    def credits(self) -> object:
        """The barrier's credits."""
        return self.gate.actuator.status()["credits"]

    def drive_through(self) -> None:
        """The first waiting car drives on once the arm is up and leaves the loops."""
        self.lane.drive_through()
        passed = len(self.events("vehicle_passed"))
        self.run_until(lambda: len(self.events("vehicle_passed")) > passed)

    def back_out(self) -> None:
        """The first waiting car reverses away."""
        self.lane.back_out()
        backed = len(self.events("vehicle_backed_out"))
        self.run_until(lambda: len(self.events("vehicle_backed_out")) > backed)


def lane_doc(data_dir: Path, role: str = "barrier_entry", *, credentials: str = "card",
             apb: str = "hard", presence: Path | None = None, **lane: Any) -> dict[str, Any]:
    """A simulated lane's config document, with a camera for the plate modes."""
    doc = barrier_doc(data_dir, role, apb, presence=presence)
    doc["lane"] = {"credentials": credentials, **lane}
    doc["camera"] = {"camera_address": "127.0.0.1"}
    return doc


def write_rules(data_dir: Path, rules: SiteRules) -> None:
    """The site's rules as the sync agent writes them."""
    data_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(data_dir / FILE_NAME, rules.dump())


@pytest.fixture(name="make_lane")
def make_lane_fixture(tmp_path: Path) -> Iterator[Callable[..., LaneRig]]:
    """Build started lanes from config documents, with the lane cards loaded."""
    rigs: list[LaneRig] = []

    def build(doc: dict[str, Any], *, cards: tuple[CardRow, ...] = CARDS,
              clock: Clock | None = None) -> LaneRig:
        from edge.ports import SystemClock

        config = write_doc(tmp_path / f"lane{len(rigs)}.toml", doc)
        store = AuthStore(config.auth_db)
        try:
            store.upsert(cards)
        finally:
            store.close()
        factory = ObservedMockFactory()
        scheduler = VirtualScheduler()
        display = RecordingDisplay()
        gate = Gate(
            config, clock=clock or SystemClock(), scheduler=scheduler,
            make_output=lambda name, pin, initial: GpioOutput(name, pin, factory, initial),
            make_input=lambda name, pin: GpioInput(name, pin, factory, lambda fn: fn()),
            clock_sync=FixedClockSync(), display=display)
        assert config.barrier is not None
        arm = BarrierArmSim(factory, config.barrier, scheduler, 2.0)
        lane = LaneSim(factory, config.barrier, scheduler, arm)
        rig = LaneRig(gate, config, factory, scheduler, display, arm, lane)
        rigs.append(rig)
        gate.start()
        return rig

    yield build
    for rig in rigs:
        rig.gate.shutdown()
        rig.arm.close()
        rig.lane.close()
        rig.factory.close()
    for rig in rigs:
        assert rig.arm.violations == []
