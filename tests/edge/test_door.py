"""The door state machine on real gpiozero mock pins, a simulated door and virtual time.

Electrical levels are read from the MockPins themselves; ``pin.states`` timestamps are real
time, so pulse lengths are measured with DoorSim's release/relock times (virtual time) and
by sampling the pin either side of the expected edge.

Longer than ~400 lines on purpose: one module per state machine, its cases read together.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from edge.door import CONTACT_SETTLE, REX_QUIET, Door
from edge.gpio_pins import GpioInput, GpioOutput
from firmware_config.schema import DoorConfig, LockType, PinConfig
from hardware_sim.door_physics import DoorSim
from hardware_sim.virtual_time import VirtualScheduler

PULSE = 3.0
HELD_AFTER = 30.0
PASS_TIME = 1.0

BASE = DoorConfig(
    strike=PinConfig("GPIO17", active_high=True),
    lock_type=LockType.FAIL_SECURE,
    pulse=PULSE,
    # A REX button to ground with the internal pull-up, a contact that goes high when open.
    rex=PinConfig("GPIO27", active_high=False, pull_up=True),
    contact=PinConfig("GPIO22", active_high=True, pull_up=False),
    held_open_after=HELD_AFTER,
    shutdown_state="locked",
)


@dataclass
class Event:
    at: float
    kind: str
    data: dict[str, Any]
    alarm: bool


@dataclass
class Recorder:
    """An EventSink that keeps what it is told, stamped with virtual time."""

    scheduler: VirtualScheduler
    events: list[Event] = field(default_factory=list)

    def __call__(self, kind: str, data: Any, *, alarm: bool = False) -> None:
        self.events.append(Event(self.scheduler.now(), kind, dict(data), alarm))

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]


@dataclass
class Rig:
    config: DoorConfig
    scheduler: VirtualScheduler
    events: Recorder
    door: Door
    sim: DoorSim
    factory: MockFactory

    @property
    def strike_pin(self) -> Any:
        return self.factory.pin(self.config.strike.pin)

    def strike_level(self, *, locked: bool) -> bool:
        """The electrical level of the strike pin in the given lock state."""
        relay_active = Door.locked_relay_state(self.config) == locked
        return relay_active == self.config.strike.active_high

    def levels(self) -> list[bool]:
        return [bool(s.state) for s in self.strike_pin.states]

    def advance(self, seconds: float) -> None:
        self.scheduler.advance(seconds)


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    mock = MockFactory()
    yield mock
    mock.reset()
    # The adapters get the factory passed in; nothing may fall back to a global one.
    assert Device.pin_factory is None


@pytest.fixture
def build(factory: MockFactory) -> Iterator[Any]:
    closers: list[Any] = []

    def make(config: DoorConfig = BASE, *, start: bool = True) -> Rig:
        scheduler = VirtualScheduler()
        events = Recorder(scheduler)
        strike = GpioOutput("strike", config.strike, factory,
                            initial=Door.locked_relay_state(config))
        closers.append(strike)
        rex = contact = None
        if config.rex is not None:
            rex = GpioInput("rex", config.rex, factory, dispatch=lambda fn: fn())
            closers.append(rex)
        if config.contact is not None:
            contact = GpioInput("contact", config.contact, factory, dispatch=lambda fn: fn())
            closers.append(contact)
        sim = DoorSim(factory, config, scheduler, pass_time=PASS_TIME)
        door = Door(config, strike, rex, contact, scheduler, events)
        if start:
            door.start()
        return Rig(config, scheduler, events, door, sim, factory)

    yield make
    for device in closers:
        device.close()


LOCKS = pytest.mark.parametrize(
    ("lock_type", "active_high"),
    [(LockType.FAIL_SECURE, True), (LockType.FAIL_SECURE, False),
     (LockType.FAIL_SAFE, True), (LockType.FAIL_SAFE, False)],
)


def with_lock(lock_type: LockType, active_high: bool, **changes: Any) -> DoorConfig:
    return replace(BASE, lock_type=lock_type,
                   strike=PinConfig("GPIO17", active_high=active_high), **changes)


# ------------------------------------------------------------------------- strike pulses


@LOCKS
def test_start_makes_no_transition(build, lock_type, active_high):
    rig = build(with_lock(lock_type, active_high), start=False)
    before = rig.levels()
    rig.door.start()
    rig.advance(60)
    assert rig.levels() == before
    assert rig.strike_pin.state == rig.strike_level(locked=True)
    assert rig.sim.releases == []
    assert rig.sim.push() is False
    assert rig.events.events == []


@LOCKS
def test_grant_pulses_the_strike_for_exactly_the_pulse(build, lock_type, active_high):
    rig = build(with_lock(lock_type, active_high))
    before = rig.levels()
    t0 = rig.scheduler.now()
    assert rig.door.grant() is True
    assert rig.strike_pin.state == rig.strike_level(locked=False)
    rig.advance(PULSE - 0.01)
    assert rig.strike_pin.state == rig.strike_level(locked=False)
    rig.advance(0.02)
    assert rig.strike_pin.state == rig.strike_level(locked=True)
    rig.advance(60)
    assert rig.levels() == [*before, rig.strike_level(locked=False), rig.strike_level(locked=True)]
    assert len(rig.strike_pin.states) == len(before) + 2
    assert rig.sim.releases == [t0]
    assert rig.sim.relocks == [t0 + PULSE]
    assert [(e.kind, e.data) for e in rig.events.events] == [
        ("door_unlocked", {"cause": "grant"}), ("door_locked", {"cause": "pulse_end"})]


def test_second_grant_extends_the_pulse(build):
    rig = build()
    t0 = rig.scheduler.now()
    rig.door.grant()
    rig.advance(2.0)
    assert rig.door.grant() is True
    rig.advance(PULSE - 0.01)
    # Past the end of the first pulse, the strike is still free for the second person.
    assert rig.sim.push() is True
    rig.advance(60)
    assert rig.sim.releases == [t0]
    assert rig.sim.relocks == [t0 + 2.0 + PULSE]
    assert len(rig.events.of("door_unlocked")) == 1


def test_second_grant_extends_the_pulse_without_opening(build):
    rig = build()
    t0 = rig.scheduler.now()
    rig.door.grant()
    rig.advance(2.0)
    rig.door.grant()
    rig.advance(60)
    assert rig.sim.releases == [t0]
    assert rig.sim.relocks == [t0 + 2.0 + PULSE]
    assert len(rig.strike_pin.states) == 3  # boot level, release, relock


def test_manual_open_pulses_like_a_grant(build):
    rig = build()
    assert rig.door.manual_open() is True
    rig.advance(60)
    assert rig.sim.relocks[0] - rig.sim.releases[0] == PULSE
    assert rig.events.of("door_unlocked")[0].data == {"cause": "manual"}


# -------------------------------------------------------------------------------- REX


def test_rex_opens(build):
    rig = build()
    assert rig.sim.push() is False
    rig.sim.press_rex()
    assert rig.events.kinds()[:2] == ["rex", "door_unlocked"]
    assert rig.events.of("door_unlocked")[0].data == {"cause": "rex"}
    assert rig.sim.push() is True
    rig.advance(CONTACT_SETTLE + 0.01)
    assert rig.events.of("door_opened")[0].data == {"cause": "rex"}
    assert not any(e.alarm for e in rig.events.events)


def test_rex_debounce_counts_two_quick_presses_once(build):
    rig = build()
    pin = rig.factory.pin("GPIO27")  # active low
    pin.drive_low()
    rig.advance(0.03)
    pin.drive_high()
    rig.advance(0.05)
    pin.drive_low()
    rig.advance(0.05)
    pin.drive_high()
    assert len(rig.events.of("rex")) == 1
    rig.advance(REX_QUIET + 0.1)
    pin.drive_low()
    assert len(rig.events.of("rex")) == 2


def test_lockdown_refuses_grants_but_rex_still_opens(build):
    rig = build()
    rig.door.set_mode("lockdown")
    assert rig.door.grant() is False
    assert rig.door.manual_open() is False
    assert rig.sim.push() is False
    assert rig.sim.releases == []
    rig.sim.press_rex()
    assert rig.events.of("rex")[0].data == {"mode": "lockdown"}
    assert rig.sim.push() is True
    rig.advance(CONTACT_SETTLE + 0.01)
    assert rig.events.of("door_opened")[0].data == {"cause": "rex"}
    assert rig.events.of("door_forced_open") == []
    assert rig.door.status()["mode"] == "lockdown"


def test_lockdown_ends_a_running_pulse(build):
    rig = build()
    rig.door.grant()
    rig.advance(1.0)
    rig.door.set_mode("lockdown")
    assert rig.sim.push() is False
    assert rig.events.of("door_locked")[0].data == {"cause": "mode_lockdown"}


# -------------------------------------------------------------------------- contact


@pytest.mark.parametrize("contact_active_high", [True, False])
def test_forced_open_raises_an_alarm_and_close_clears_it(build, contact_active_high):
    contact = PinConfig("GPIO22", active_high=contact_active_high, pull_up=None)
    rig = build(replace(BASE, contact=contact))
    rig.sim.force()
    rig.advance(CONTACT_SETTLE + 0.01)
    forced = rig.events.of("door_forced_open")
    assert len(forced) == 1
    assert forced[0].alarm is True
    assert rig.door.status()["alarms"] == ["door_forced_open"]
    assert rig.door.status()["door_open"] is True
    rig.advance(PASS_TIME)
    closed = rig.events.of("door_closed")
    assert len(closed) == 1
    assert closed[0].data["cleared"] == ["door_forced_open"]
    assert rig.door.status()["alarms"] == []
    assert rig.door.status()["door_open"] is False


def test_no_forced_alarm_when_a_person_opens_after_a_grant(build):
    rig = build()
    rig.door.grant()
    rig.advance(0.5)
    assert rig.sim.push() is True
    rig.advance(60)
    assert rig.events.of("door_opened")[0].data == {"cause": "grant"}
    assert rig.events.of("door_forced_open") == []
    assert not any(e.alarm for e in rig.events.events)


def test_door_pushed_just_before_the_pulse_ends_is_not_forced(build):
    # The contact settles after the relock; the opening began while the strike was free.
    rig = build()
    rig.door.grant()
    rig.advance(PULSE - 0.01)
    assert rig.sim.push() is True
    rig.advance(CONTACT_SETTLE + 0.01)
    assert rig.door.locked
    assert rig.events.of("door_opened")[0].data == {"cause": "grant"}
    assert rig.events.of("door_forced_open") == []


def test_contact_bounce_is_ignored(build):
    rig = build()
    pin = rig.factory.pin("GPIO22")  # active high: high = open
    # A door rattling in its frame while locked: flickers shorter than the settle time.
    for _ in range(5):
        pin.drive_high()
        rig.advance(CONTACT_SETTLE / 3)
        pin.drive_low()
        rig.advance(CONTACT_SETTLE / 3)
    rig.advance(1.0)
    assert rig.events.events == []
    # A bouncing but real opening after a grant counts once.
    rig.door.grant()
    for _ in range(3):
        pin.drive_high()
        rig.advance(0.005)
        pin.drive_low()
        rig.advance(0.005)
    pin.drive_high()
    rig.advance(CONTACT_SETTLE + 0.01)
    assert len(rig.events.of("door_opened")) == 1
    assert rig.events.of("door_forced_open") == []


def test_held_open_alarm_after_the_limit_and_cleared_on_close(build):
    rig = build()
    rig.door.grant()
    assert rig.sim.prop_open(HELD_AFTER + 10) is True
    rig.advance(HELD_AFTER - 0.1)
    assert rig.events.of("door_held_open") == []
    rig.advance(0.2)
    held = rig.events.of("door_held_open")
    assert len(held) == 1
    assert held[0].alarm is True
    assert rig.door.status()["alarms"] == ["door_held_open"]
    rig.advance(10)
    closed = rig.events.of("door_closed")
    assert len(closed) == 1
    assert closed[0].data["cleared"] == ["door_held_open"]
    assert rig.door.status()["alarms"] == []


def test_strike_relocks_when_the_door_closes(build):
    rig = build()
    rig.door.grant()
    rig.sim.push()
    rig.advance(PASS_TIME + CONTACT_SETTLE + 0.01)
    # Relocked at the close, well before the pulse would have ended.
    assert rig.door.locked
    assert rig.sim.relocks[0] - rig.sim.releases[0] == pytest.approx(PASS_TIME + CONTACT_SETTLE)
    assert rig.sim.push() is False
    assert rig.events.kinds() == ["door_unlocked", "door_opened", "door_closed", "door_locked"]
    assert rig.events.of("door_locked")[0].data == {"cause": "door_closed"}
    rig.advance(60)
    assert len(rig.strike_pin.states) == 3  # boot level, release, relock: no pulse-end edge


# ---------------------------------------------------------------------------- modes


def test_hold_open_keeps_the_door_unlocked_until_normal(build):
    rig = build()
    rig.door.set_mode("hold_open")
    assert rig.events.of("door_mode")[0].data == {"mode": "hold_open", "previous": "normal"}
    rig.advance(3600)
    assert not rig.door.locked
    assert rig.sim.prop_open(HELD_AFTER * 4) is True
    rig.advance(HELD_AFTER * 4 + 1)
    assert rig.events.of("door_held_open") == []
    assert rig.events.of("door_opened")[0].data == {"cause": "hold_open"}
    assert not rig.door.locked  # closing does not relock in hold_open
    rig.door.set_mode("normal")
    assert rig.door.locked
    assert rig.sim.push() is False
    assert rig.events.of("door_locked")[-1].data == {"cause": "mode_normal"}


def test_unknown_mode_is_refused(build):
    rig = build()
    with pytest.raises(ValueError):
        rig.door.set_mode("party")
    assert rig.door.mode == "normal"


@pytest.mark.parametrize("lock_type", [LockType.FAIL_SECURE, LockType.FAIL_SAFE])
@pytest.mark.parametrize("state", ["locked", "unlocked"])
def test_shutdown_puts_the_strike_in_its_safe_state(build, lock_type, state):
    rig = build(with_lock(lock_type, True, shutdown_state=state))
    rig.door.grant()  # mid-pulse: the pulse's timer must not fire after shutdown
    rig.advance(1.0)
    rig.door.shutdown()
    expected = rig.strike_level(locked=state == "locked")
    assert rig.strike_pin.state == expected
    transitions = len(rig.strike_pin.states)
    rig.advance(60)
    assert rig.strike_pin.state == expected
    assert len(rig.strike_pin.states) == transitions
    assert rig.door.in_service is False
    assert rig.door.grant() is False


def test_door_without_rex_or_contact(build):
    rig = build(replace(BASE, rex=None, contact=None))
    assert rig.door.grant() is True
    assert rig.sim.push() is True
    rig.advance(PULSE + 0.01)
    assert rig.door.locked
    assert rig.sim.relocks[0] - rig.sim.releases[0] == PULSE
    status = rig.door.status()
    assert status["door_open"] is None
    json.dumps(status)
    with pytest.raises(RuntimeError):
        rig.sim.press_rex()


def test_status_is_json_and_tells_the_state(build):
    rig = build()
    rig.door.grant()
    rig.sim.push()
    rig.advance(CONTACT_SETTLE + 0.01)
    status = json.loads(json.dumps(rig.door.status()))
    assert status == {"mode": "normal", "locked": False, "door_open": True, "alarms": [],
                      "in_service": True}
