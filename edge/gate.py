"""The gate: reader in, decision, journal, actuator out. Runs on the control thread only.

Nothing here touches the network: a tap is decided from ``auth.db`` alone, so the gate keeps
working with the broker, the central service or the cable gone (rule G2).

Longer than ~400 lines on purpose: this is the one place where reader, camera, decision,
journal, actuator, standing and timed modes meet on the control thread, and the order of
those steps (journal before anything moves) is the gate's contract; each part it orders lives
in its own module (decision, gate_mode, gate_storage, journal_guard, door, barrier, lane,
timed_modes)."""

from __future__ import annotations

import collections
import hashlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from edge.cards import CardRecord
from edge.clock_trust import DEFAULT_SKEW_S, GateClockTrust, TrustChange
from edge.decision import Decision, GateRules, Reason, decide
from edge.gate_mode import NORMAL, GateMode, ModeFile, ModeFileError, ModeState
from edge.gate_storage import TICK_S, Dispatch, GateStorage
from edge.journal_guard import GuardedJournal, JournalUnavailable
from edge.lane import Lane, LaneStep
from edge.ports import (
    Actuator,
    CardReader,
    Clock,
    ClockSync,
    DigitalInput,
    DigitalOutput,
    LaneDisplay,
    PlateCamera,
    PlateRead,
    Scheduler,
)
from edge.shared_store import StoreUnavailable
from edge.site_rules import FILE_NAME, SiteRules, SiteRulesFile, TimedModeKind
from edge.storage_check import is_storage_error
from edge.timed_modes import modes_in_force, seconds_to_next_change
from edge.uid import normalize_uid
from firmware_config.schema import AntiPassbackMode, EdgeConfig, Role

SOFTWARE_VERSION = "0.1.0"
# How often the clock is judged again (new evidence from the sync agent, a jump, NTP); the
# mark is saved every clock.hwm_interval.
TRUST_CHECK_S = 5.0
# Timed modes are looked at again at least this often without any of this gate's own (a
# rules file arriving reschedules at once), and never sooner than TIMED_MIN_S apart.
TIMED_IDLE_S = 60.0
TIMED_MIN_S = 0.5
# Past the window's edge, so the look after the wait finds the new window in force.
TIMED_EDGE_S = 0.05


@dataclass(frozen=True)
class TapOutcome:
    """What the gate did with one tap (or, at a lane, one plate read)."""

    seq: int  # 0: not journalled (sequence numbers start at 1), so not granted
    uid: str  # "" for a plate read that found no card
    granted: bool
    reason: Reason
    latency_us: int
    kind: str = "tap"  # or "plate"
    plate: str | None = None


class JournaledOutput:
    """Wraps an output so every change is journalled, after the change (the relay is never
    delayed by its own log line, nor stopped by a journal that cannot take it)."""

    def __init__(self, inner: DigitalOutput, journal: GuardedJournal) -> None:
        self._inner = inner
        self._journal = journal

    @property
    def name(self) -> str:
        """The wrapped output's name."""
        return self._inner.name

    @property
    def is_active(self) -> bool:
        """The wrapped output's state."""
        return self._inner.is_active

    def set(self, active: bool) -> None:
        """Drive the output, then journal the change."""
        if active != self._inner.is_active:
            self._inner.set(active)
            self._journal.record("output", {"name": self._inner.name, "active": active})


class Gate:
    """One door or barrier lane: owns the stores, the journal and the actuator."""

    def __init__(
        self,
        config: EdgeConfig,
        *,
        clock: Clock,
        scheduler: Scheduler,
        make_output: Callable[[str, Any, bool], DigitalOutput],
        make_input: Callable[[str, Any], DigitalInput],
        reader: CardReader | None = None,
        dispatch: Dispatch | None = None,
        clock_sync: ClockSync | None = None,
        display: LaneDisplay | None = None,
        camera: PlateCamera | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.scheduler = scheduler
        self.reader = reader
        self.camera = camera
        self._dispatch = dispatch or (lambda fn: fn())
        self.tz = ZoneInfo(config.site.timezone)
        self.rules = GateRules(
            role=config.device.role,
            access_groups=frozenset(config.device.access_groups),
            antipassback=config.antipassback.mode,
            untrusted_policy=config.clock.untrusted_policy,
        )
        # Opening never fails on a storage fault: what cannot be opened is retried each tick.
        self.storage = GateStorage(
            config, clock, presence=config.device.role is not Role.DOOR
            and config.antipassback.mode is not AntiPassbackMode.OFF)
        self.storage.open_at_start()
        self.journal = self.storage.journal
        if clock_sync is None:
            from edge.kernel_clock import clock_sync_for  # noqa: PLC0415 - ctypes, Linux

            clock_sync = clock_sync_for(config.clock.trust_ntp)
        self.clock_trust = GateClockTrust(
            config.clock_state, clock, clock_sync,
            list_issued_at=self.storage.list_issued_at,
            skew=config.sync.clock_tolerance if config.sync else DEFAULT_SKEW_S,
            save_every=config.clock.hwm_interval)
        self.recent: collections.deque[TapOutcome] = collections.deque(maxlen=20)
        # The site's rules (parking policy, lots, holidays, timed modes) as the sync agent
        # last wrote them; read again on the storage tick, never per tap.
        self._rules_file = SiteRulesFile(config.device.data_dir / FILE_NAME, config.site.id)
        self.site_rules: SiteRules = self._rules_file.current()
        self._rules_error: str | None = None
        self.timed_modes: frozenset[TimedModeKind] = frozenset()
        self._timed_timer: Any = None
        self.lane: Lane | None = None  # before the actuator: the barrier reports to it
        self.actuator = self._build_actuator(make_output, make_input)
        if config.lane is not None:
            self.lane = Lane(config, storage=self.storage, journal=self.journal, clock=clock,
                             scheduler=scheduler, rules=lambda: self.site_rules,
                             credits=self._credits_left, display=display)
        self._trust_timer: Any = None
        self._storage_timer: Any = None
        self._closed = False
        self._reader_stopping = False
        # The standing mode (remote commands, a guard's hold-open or lockdown), kept in
        # mode.json so that a restart does not quietly lift it.
        self.mode_file = ModeFile(config.mode_state)
        self.mode_state: ModeState = NORMAL
        self._mode_timer: Any = None
        self.last_manual_open_worked = False

    @property
    def mode(self) -> str:
        """The standing mode's name: ``normal``, ``hold_open`` or ``lockdown``."""
        return self.mode_state.mode.value

    def _emit(self, kind: str, data: Mapping[str, object], *, alarm: bool = False) -> None:
        # What the door or barrier did is reported, never waited for: egress goes on even
        # when the journal cannot take the event (it is counted instead).
        self.journal.record(kind, data, alarm=alarm)
        if self.lane is not None:
            self.lane.barrier_event(kind, data)

    def _credits_left(self) -> int:
        credits = self.actuator.status().get("credits", 0)
        return credits if isinstance(credits, int) else 0

    def _build_actuator(self, make_output: Callable[[str, Any, bool], DigitalOutput],
                        make_input: Callable[[str, Any], DigitalInput]) -> Actuator:
        cfg = self.config

        def out(name: str, pin: Any, initial: bool = False) -> DigitalOutput:
            return JournaledOutput(make_output(name, pin, initial), self.journal)

        if cfg.door is not None:
            from edge.door import Door  # noqa: PLC0415 - a barrier controller never loads it

            door = cfg.door
            strike = out("strike", door.strike, Door.locked_relay_state(door))
            rex = make_input("rex", door.rex) if door.rex else None
            contact = make_input("contact", door.contact) if door.contact else None
            return Door(door, strike, rex, contact, self.scheduler, self._emit)
        assert cfg.barrier is not None
        from edge.barrier import Barrier  # noqa: PLC0415 - a door controller never loads it

        b = cfg.barrier
        return Barrier(
            b,
            out("barrier_raise", b.raise_out),
            out("barrier_lower", b.lower_out),
            make_input("open_limit", b.open_limit),
            make_input("closed_limit", b.closed_limit),
            make_input("arming_loop", b.arming_loop),
            make_input("safety_loop", b.safety_loop),
            self.scheduler,
            self._emit,
        )

    def start(self) -> None:
        """Journal the boot, judge the clock, bring outputs to idle (no pulse), start reading."""
        cfg = self.config
        change = self.clock_trust.at_boot()
        self.journal.clock_trusted = self.clock_trust.trusted
        self.journal.record("boot", {
            "version": SOFTWARE_VERSION, "pid": os.getpid(), "boot_id": self.journal.boot_id,
            "device": cfg.device.id, "site": cfg.site.id, "role": cfg.device.role.value,
        })
        digest = hashlib.sha256(cfg.source.read_bytes()).hexdigest() if cfg.source.exists() \
            else ""
        self.journal.record("config_loaded", {"path": str(cfg.source), "sha256": digest,
                                              "whitelist_seq": self.storage.applied_seq()})
        if change is not None:
            self._journal_trust(change)
        self.storage.tick()  # journals what was moved aside at start, and any fault
        self._note_rules(self._rules_file.last_error)
        self.actuator.start()
        self._restore_mode()
        self._timed_tick()
        self._schedule_trust_tick()
        self._schedule_storage_tick()
        if self.lane is not None:
            self.lane.show_idle()
        if self.reader is not None:
            self.reader.start(self._on_card_from_reader, self._emit_from_thread)
        if self.camera is not None and self.lane is not None:
            self.camera.start(self._on_plate_from_camera, self._emit_from_thread)

    def _on_card_from_reader(self, uid: str) -> None:
        def tap() -> None:
            self.handle_tap(uid)

        self._dispatch(tap)

    def _on_plate_from_camera(self, read: PlateRead) -> None:
        def plate() -> None:
            self.handle_plate(read)

        self._dispatch(plate)

    def _emit_from_thread(self, kind: str, data: Mapping[str, object], *,
                          alarm: bool = False) -> None:
        if self._reader_stopping:
            # Shutting down: the control loop has ended, and the control thread waits in
            # reader.stop() while the reader reports what it still counted.
            self._emit(kind, data, alarm=alarm)
            return
        self._dispatch(lambda: self._emit(kind, data, alarm=alarm))

    def _journal_trust(self, change: TrustChange) -> None:
        self.journal.clock_trusted = change.trusted
        data: dict[str, object] = {
            "trusted": change.trusted, "wall": change.wall,
            "high_water_mark": change.high_water_mark, "floor": change.floor,
            "cause": change.cause, "policy": self.config.clock.untrusted_policy.value,
        }
        if change.previous_mark is not None:
            data["previous_mark"] = change.previous_mark
        self.journal.record("clock_trust", data, alarm=change.alarm)

    def _schedule_trust_tick(self) -> None:
        def tick() -> None:
            change = self.clock_trust.tick()
            if change is not None:
                self._journal_trust(change)
            self._schedule_trust_tick()

        self._trust_timer = self.scheduler.call_later(
            min(TRUST_CHECK_S, self.config.clock.hwm_interval), tick)

    def _schedule_storage_tick(self) -> None:
        def tick() -> None:
            self.storage.tick()
            self._refresh_rules()
            self._schedule_storage_tick()

        self._storage_timer = self.scheduler.call_later(TICK_S, tick)

    def check_storage(self) -> bool:
        """``quick_check`` every file not checked yet (slow on big files: the daemon runs it
        in a thread once the gate is ready); damage found is handled on the control thread.
        False while a file could not be checked: call again later."""
        return self.storage.check_all(self._dispatch)

    def _refresh_rules(self) -> None:
        """The rules file again (the storage tick): a new version is journalled and the
        timed modes are looked at again at once."""
        rules = self._rules_file.current()
        if rules is not self.site_rules:
            self.site_rules = rules
            self.journal.record("site_rules", {"version": rules.version,
                                               "issued_at": rules.issued_at})
            if self._timed_timer is not None:
                self._timed_timer.cancel()
            self._timed_tick()
        self._note_rules(self._rules_file.last_error)

    def _note_rules(self, error: str | None) -> None:
        # Alarmed once per distinct error; the rules read before stay in force meanwhile.
        if error != self._rules_error:
            self._rules_error = error
            if error is not None:
                self.journal.record("site_rules_unreadable",
                                    {"path": str(self._rules_file.path), "error": error,
                                     "version_in_force": self.site_rules.version}, alarm=True)

    # ------------------------------------------------------------------ timed modes

    def _timed_tick(self) -> None:
        """Rule 8: the timed modes in force now, and a wait until the next window edge."""
        self._timed_timer = None
        rules, device = self.site_rules, self.config.device.id
        if rules.modes_of(device):
            local_now = datetime.fromtimestamp(self.clock.wall(), self.tz)
            modes = modes_in_force(rules, device, local_now,
                                   clock_trusted=self.clock_trust.trusted)
            delay = seconds_to_next_change(rules, device, local_now) + TIMED_EDGE_S
        else:
            modes, delay = frozenset(), TIMED_IDLE_S
        self._apply_timed(modes)
        self._timed_timer = self.scheduler.call_later(max(TIMED_MIN_S, delay),
                                                      self._timed_tick)

    def _apply_timed(self, modes: frozenset[TimedModeKind]) -> None:
        before = self.timed_modes
        if modes == before:
            return
        self.timed_modes = modes
        for kind in sorted(modes ^ before):
            self.journal.record("timed_mode", {"mode": kind.value, "active": kind in modes,
                                               "standing_mode": self.mode})
        hold = TimedModeKind.HOLD_OPEN
        # A guard's or the desk's standing mode overrides a timed one while it lasts.
        if ((hold in modes) != (hold in before) and self.mode_state.mode is GateMode.NORMAL
                and not self.actuator.set_mode(self._actuator_mode())):
            self.journal.record("mode_not_applied", {"mode": self._actuator_mode(),
                                                     "reason": "out of service"}, alarm=True)

    def _actuator_mode(self) -> str:
        """The mode the actuator should be in: the standing one, else a timed hold-open."""
        if self.mode_state.mode is not GateMode.NORMAL:
            return self.mode_state.mode.value
        if TimedModeKind.HOLD_OPEN in self.timed_modes:
            return GateMode.HOLD_OPEN.value
        return GateMode.NORMAL.value

    @property
    def monthly_only(self) -> bool:
        """A timed monthly-only window is in force (the lane refuses temporary cars)."""
        return TimedModeKind.MONTHLY_ONLY in self.timed_modes

    # ------------------------------------------------------------------ taps and plates

    def _decide(self, card: CardRecord | None, uid: str, wall: float) -> Decision:
        inside = (self.config.device.role is Role.BARRIER_ENTRY
                  and self.storage.is_inside(uid, wall))
        trusted, floor = self.clock_trust.view(wall)
        return decide(
            card, self.rules, datetime.fromtimestamp(wall, self.tz),
            already_inside=inside, clock_trusted=trusted,
            floor=None if floor is None else datetime.fromtimestamp(floor, self.tz),
            rules=self.site_rules,
        )

    def handle_tap(self, uid: str) -> TapOutcome:
        """Decide one tap, make its event durable, then (if granted) drive the actuator."""
        started = time.perf_counter()
        card, whitelist_error = self.storage.lookup(uid)
        wall = self.clock.wall()
        decision = self._decide(card, uid, wall) if whitelist_error is None \
            else Decision(False, Reason.WHITELIST_UNAVAILABLE)
        data: dict[str, object] = {}
        if card is not None:
            data["holder_kind"] = card.holder_kind
        if whitelist_error is not None:
            data["error"] = whitelist_error
        if self.lane is None:
            if decision.flags:
                data["flags"] = [f.value for f in decision.flags]
            return self._conclude("tap", uid, decision.granted, decision.reason, data=data,
                                  started=started)
        step = self.lane.card_tapped(uid, card, decision, data,
                                     monthly_only=self.monthly_only)
        return self._conclude_step(step, started)

    def handle_plate(self, read: PlateRead) -> TapOutcome | None:
        """Decide one plate read at a lane (journalled as kind ``plate``, before the relay,
        like a tap); None for a repeat of a plate already decided within ``plate_window``."""
        if self.lane is None:
            raise ValueError("a door takes no plate reads")
        started = time.perf_counter()
        wall = self.clock.wall()
        step = self.lane.plate_read(read, lambda card: self._decide(card, card.uid, wall),
                                    monthly_only=self.monthly_only)
        if step is None:
            return None
        return self._conclude_step(step, started)

    def _conclude_step(self, step: LaneStep, started: float) -> TapOutcome:
        assert self.lane is not None
        data = dict(step.data)
        if not step.opens:
            # A camera at a card-only lane: what it read is journalled, nothing opens.
            latency_us = int((time.perf_counter() - started) * 1e6)
            data["decision"] = step.verdict.reason.value
            data["latency_us"] = latency_us
            seq = self.journal.record(step.kind, data, uid=step.uid) or 0
            outcome = TapOutcome(seq, step.uid or "", False, step.verdict.reason, latency_us,
                                 step.kind, step.plate)
            self.recent.append(outcome)
            return outcome
        outcome = self._conclude(step.kind, step.uid, step.verdict.granted, step.verdict.reason,
                                 data=data, started=started, step=step)
        self.lane.show_outcome(step, outcome.granted, outcome.reason)
        return outcome

    def _conclude(self, kind: str, uid: str | None, granted: bool, reason: Reason, *,
                  data: dict[str, object], started: float,
                  step: LaneStep | None = None) -> TapOutcome:
        """The gate's last word on a decision, its durable record, then the relay."""
        if granted and self.mode_state.mode is GateMode.LOCKDOWN:
            granted, reason = False, Reason.LOCKDOWN
        elif granted and not self.actuator.in_service:
            granted, reason = False, Reason.OUT_OF_SERVICE
        latency_us = int((time.perf_counter() - started) * 1e6)
        data["latency_us"] = latency_us
        try:
            seq = self.journal.append(kind, data, uid=uid, granted=granted,
                                      reason=reason.value)
        except JournalUnavailable:
            # No durable record, no opening; the tap is counted among the unwritten events.
            seq = 0
            if granted:
                granted, reason = False, Reason.JOURNAL_UNAVAILABLE
        # The event above is committed and fsynced: only now may the relay move.
        if granted:
            took = self.actuator.grant()
            if self.lane is None and uid is not None:
                self.storage.record_presence(uid, self.config.device.role
                                             is Role.BARRIER_ENTRY, self.clock.wall())
            elif self.lane is not None and took and step is not None \
                    and step.credential is not None:
                # Presence and the lot count move when the loops see the vehicle pass.
                self.lane.let_through(step.credential)
        outcome = TapOutcome(seq, uid or "", granted, reason, latency_us, kind,
                             step.plate if step is not None and kind == "plate" else None)
        self.recent.append(outcome)
        return outcome

    def manual_open(self, guard: str, reason: str, *,
                    caller: Mapping[str, object] | None = None) -> int:
        """A guard opens by hand (rule G3); journalled with who and why before it opens.

        Egress: it opens even when the journal cannot take the event (then counted, and 0
        returned). Returns the event's sequence number; raises ValueError on a missing guard
        or reason. ``last_manual_open_worked`` then says whether the gate actually opened.
        """
        guard, reason = guard.strip(), reason.strip()
        if not guard or not reason:
            raise ValueError("a manual open needs the guard's name and a reason")
        data: dict[str, object] = {"guard": guard, "reason": reason}
        if caller is not None:
            data["caller"] = dict(caller)
        seq = self.journal.record("manual_open", data) or 0
        self.last_manual_open_worked = self.actuator.manual_open()
        if self.last_manual_open_worked and self.lane is not None:
            self.lane.guard_opened()
        if not self.last_manual_open_worked:
            self.journal.record("manual_open_failed",
                                {"guard": guard, "reason": self._why_not_open()}, alarm=True)
        return seq

    def reset_actuator(self, guard: str, reason: str, *,
                       caller: Mapping[str, object] | None = None) -> tuple[int, bool]:
        """A guard clears a stuck barrier once they have checked it: journalled with who,
        why and the state it was in before anything is driven, then the arm's position is
        learnt again from the limit switches. Returns the event's sequence number (0 when
        the journal cannot take it) and whether the gate is back in service; still out of
        service is an alarm of its own. ValueError on a missing guard or reason."""
        guard, reason = guard.strip(), reason.strip()
        if not guard or not reason:
            raise ValueError("a reset needs the guard's name and a reason")
        before = self.actuator.status().get("state")
        data: dict[str, object] = {"guard": guard, "reason": reason, "state": before}
        if caller is not None:
            data["caller"] = dict(caller)
        seq = self.journal.record("actuator_reset", data) or 0
        self.actuator.reset()
        # Whether the lane works now, not whether there was anything to clear: a barrier
        # that was not stuck stays in service (its reset() says False: nothing done).
        in_service = self.actuator.in_service
        if not in_service:
            self.journal.record("actuator_reset_failed",
                                {"guard": guard, "state": self.actuator.status().get("state")},
                                alarm=True)
        return seq, in_service

    def clear_presence(self, uid: str, guard: str, reason: str, *,
                       caller: Mapping[str, object] | None = None) -> tuple[int, bool, bool]:
        """A guard forgets one card's anti-passback presence (a missed exit read keeps a
        resident's car out): journalled with who, why, the card and the caller before the
        presence file is touched; refused when the journal cannot take it, since a cleared
        presence nobody can account for is a hole in anti-passback.

        Returns the event's sequence number, whether the card counted as inside, and whether
        the presence file took the change. ValueError on a door or a lane without
        anti-passback (no presence), a missing guard or reason, or a UID that is not one."""
        guard, reason = guard.strip(), reason.strip()
        if not guard or not reason:
            raise ValueError("clearing a card's presence needs the guard's name and a reason")
        card = normalize_uid(uid)
        if self.storage.presence is None:
            if self.config.device.role is Role.DOOR:
                raise ValueError("a door keeps no anti-passback presence: nothing to clear")
            raise ValueError("anti-passback is off on this lane: no presence to clear")
        was_inside = self.storage.is_inside(card, self.clock.wall())
        data: dict[str, object] = {"uid": card, "guard": guard, "reason": reason,
                                   "was_inside": was_inside}
        if caller is not None:
            data["caller"] = dict(caller)
        seq = self.journal.append("presence_cleared", data)
        cleared = self.storage.clear_presence(card)
        if not cleared:
            self.journal.record("presence_clear_failed",
                                {"uid": card, "guard": guard,
                                 "error": str(self.storage.presence.last_error)}, alarm=True)
        return seq, was_inside, cleared

    def _why_not_open(self) -> str:
        if self.mode_state.mode is GateMode.LOCKDOWN:
            return "lockdown"
        return "out of service"

    def remote_command(self, command: str, issued_by: str, nonce: str, *,
                       until: float | None = None,
                       caller: Mapping[str, object] | None = None) -> int:
        """Carry out a verified remote command; journalled before anything moves.

        ``open_once`` opens like a guard's manual open; ``hold_open`` keeps the door unlocked
        or the barrier up; ``lockdown`` refuses every card (a door's REX still opens, egress
        is never blocked); ``release`` returns to normal. ``hold_open`` and ``lockdown`` last
        until released or until ``until`` (epoch seconds), across restarts. ``caller`` is
        who handed the command to the gate (the control socket's peer). Returns the event's
        sequence number.
        """
        if command not in ("open_once", "hold_open", "lockdown", "release"):
            raise ValueError(f"unknown command {command!r}")
        data: dict[str, object] = {"command": command, "issued_by": issued_by, "nonce": nonce}
        if until is not None:
            data["until"] = until
        if caller is not None:
            data["caller"] = dict(caller)
        if command == "open_once":
            seq = self.journal.append("remote_command", data)
            if not self.actuator.manual_open():
                self.journal.record("remote_command_failed",
                                    {"command": command, "reason": "out of service"}, alarm=True)
            elif self.lane is not None:
                self.lane.guard_opened()
            return seq
        mode = GateMode.NORMAL if command == "release" else GateMode(command)
        return self._set_mode(ModeState(mode, issued_by, f"remote command {nonce}",
                                        self.clock.wall(), until), "remote_command", data)

    def set_local_mode(self, mode: str, guard: str, reason: str, *,
                       until: float | None = None,
                       caller: Mapping[str, object] | None = None) -> int:
        """A guard at the post holds the gate open, locks it down or returns it to normal;
        journalled with the guard, the reason and the caller before anything moves.

        Raises ValueError on an unknown mode or a missing guard or reason."""
        guard, reason = guard.strip(), reason.strip()
        if not guard or not reason:
            raise ValueError("a mode change needs the guard's name and a reason")
        new = GateMode(mode)
        data: dict[str, object] = {"mode": new.value, "guard": guard, "reason": reason}
        if until is not None:
            data["until"] = until
        if caller is not None:
            data["caller"] = dict(caller)
        return self._set_mode(ModeState(new, f"guard:{guard}", reason, self.clock.wall(),
                                        until), "mode_command", data)

    def _set_mode(self, state: ModeState, kind: str, data: Mapping[str, object]) -> int:
        if state.until is not None and state.mode is GateMode.NORMAL:
            raise ValueError("only hold_open and lockdown take an end time")
        if state.until is not None and state.until <= self.clock.wall():
            raise ValueError("the end time has already passed")
        # The file first: a crash after it restores the mode, and the restore is journalled
        # with who set it; then the record; the actuator moves last. A mode change that
        # cannot be journalled is refused, and the file put back.
        previous = self.mode_state
        self.mode_file.save(state)
        try:
            seq = self.journal.append(kind, data)
        except JournalUnavailable:
            self.mode_file.save(previous)
            raise
        self._apply_mode(state)
        return seq

    def _apply_mode(self, state: ModeState) -> None:
        self.mode_state = state
        if self._mode_timer is not None:
            self._mode_timer.cancel()
            self._mode_timer = None
        # Back to normal inside a timed hold-open window: the window holds the gate again.
        if not self.actuator.set_mode(self._actuator_mode()):
            self.journal.record("mode_not_applied", {"mode": self._actuator_mode(),
                                                     "reason": "out of service"}, alarm=True)
        if state.until is not None:
            self._mode_timer = self.scheduler.call_later(
                max(0.0, state.until - self.clock.wall()), self._mode_expired)

    def _mode_expired(self) -> None:
        self._mode_timer = None
        ended = self.mode_state
        self.mode_file.save(NORMAL)
        self.journal.record("mode_expired", {"mode": ended.mode.value, "until": ended.until,
                                             "set_by": ended.set_by})
        self._apply_mode(NORMAL)

    def _restore_mode(self) -> None:
        """At start: put back the mode a restart interrupted, unless its time ran out."""
        try:
            saved = self.mode_file.load()
        except ModeFileError as exc:
            # Unreadable: nothing can be believed about it. Normal is the state the desk
            # can see and correct; the alarm tells it to look.
            self.journal.record("mode_file_unreadable", {"error": str(exc)}, alarm=True)
            self.mode_file.save(NORMAL)
            return
        if saved.mode is GateMode.NORMAL:
            return
        if saved.expired(self.clock.wall()):
            self.mode_file.save(NORMAL)
            self.journal.record("mode_expired", {"mode": saved.mode.value, "until": saved.until,
                                                 "set_by": saved.set_by, "while_stopped": True})
            return
        self.journal.record("mode_restored", {"mode": saved.mode.value, "set_by": saved.set_by,
                                              "reason": saved.reason, "since": saved.since,
                                              "until": saved.until})
        self._apply_mode(saved)

    def status(self) -> dict[str, object]:
        """A snapshot for the guard's booth page and ``menwei-edge status``."""
        status: dict[str, object] = {
            "device": self.config.device.id,
            "site": self.config.site.id,
            "role": self.config.device.role.value,
            "boot_id": self.journal.boot_id,
            "clock_trusted": self.clock_trust.trusted,
            "clock_floor": self.clock_trust.floor,
            "journal": self._journal_position(),
            "whitelist": {"applied_seq": self.storage.applied_seq()},
            "storage": self.storage.status(),
            "actuator": dict(self.actuator.status()),
            "in_service": self.actuator.in_service,
            "mode": self.mode,
            "mode_set_by": self.mode_state.set_by or None,
            "mode_until": self.mode_state.until,
            "recent_taps": [
                {"seq": t.seq, "uid": t.uid, "granted": t.granted, "reason": t.reason.value}
                | ({"kind": t.kind, "plate": t.plate} if t.kind != "tap" else {})
                for t in self.recent
            ],
            "site_rules": {"version": self.site_rules.version, "error": self._rules_error},
            "timed_modes": sorted(m.value for m in self.timed_modes),
        }
        if self.lane is not None:
            status["lane"] = self.lane.status()
        return status

    def _journal_position(self) -> dict[str, int | None]:
        try:
            last, acked = self.journal.last_seq(), self.journal.acked_seq
        except Exception as exc:
            if not is_storage_error(exc) and not isinstance(exc, StoreUnavailable):
                raise
            return {"last_seq": None, "acked_seq": None, "backlog": None}
        return {"last_seq": last, "acked_seq": acked, "backlog": last - acked}

    def shutdown(self) -> None:
        """Safe outputs first, then the reader (its last report is journalled), then the
        journal."""
        if self._closed:
            return
        self._closed = True
        if self._trust_timer is not None:
            self._trust_timer.cancel()
        if self._mode_timer is not None:
            self._mode_timer.cancel()
        if self._storage_timer is not None:
            self._storage_timer.cancel()
        if self._timed_timer is not None:
            self._timed_timer.cancel()
        self.actuator.shutdown()
        # Before the journal closes: the reader and the camera report what they still
        # counted.
        self._reader_stopping = True
        if self.reader is not None:
            self.reader.stop()
        if self.camera is not None and self.lane is not None:
            self.camera.stop()
        if self.lane is not None:
            self.lane.close()
        self.journal.record("shutdown", {"pid": os.getpid()})
        self.storage.close()
