"""The gate: reader in, decision, journal, actuator out. Runs on the control thread only.

Nothing here touches the network: a tap is decided from ``auth.db`` alone, so the gate keeps
working with the broker, the central service or the cable gone (rule G2).

Longer than ~400 lines on purpose: this is the one place where reader, decision, journal,
actuator and standing modes meet on the control thread, and the order of those steps (journal
before anything moves) is the gate's contract; each part it orders lives in its own module
(decision, gate_mode, gate_storage, journal_guard, door, barrier)."""

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

from edge.clock_trust import DEFAULT_SKEW_S, GateClockTrust, TrustChange
from edge.decision import Decision, GateRules, Reason, decide
from edge.gate_mode import NORMAL, GateMode, ModeFile, ModeFileError, ModeState
from edge.gate_storage import TICK_S, Dispatch, GateStorage
from edge.journal_guard import GuardedJournal, JournalUnavailable
from edge.ports import (
    Actuator,
    CardReader,
    Clock,
    ClockSync,
    DigitalInput,
    DigitalOutput,
    Scheduler,
)
from edge.shared_store import StoreUnavailable
from edge.storage_check import is_storage_error
from edge.uid import normalize_uid
from firmware_config.schema import AntiPassbackMode, EdgeConfig, Role

SOFTWARE_VERSION = "0.1.0"
# How often the clock is judged again (new evidence from the sync agent, a jump, NTP); the
# mark is saved every clock.hwm_interval.
TRUST_CHECK_S = 5.0


@dataclass(frozen=True)
class TapOutcome:
    """What the gate did with one tap."""

    seq: int  # 0: not journalled (sequence numbers start at 1), so not granted
    uid: str
    granted: bool
    reason: Reason
    latency_us: int


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
    ) -> None:
        self.config = config
        self.clock = clock
        self.scheduler = scheduler
        self.reader = reader
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
        self.actuator = self._build_actuator(make_output, make_input)
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
        self.actuator.start()
        self._restore_mode()
        self._schedule_trust_tick()
        self._schedule_storage_tick()
        if self.reader is not None:
            self.reader.start(self._on_card_from_reader, self._emit_from_thread)

    def _on_card_from_reader(self, uid: str) -> None:
        def tap() -> None:
            self.handle_tap(uid)

        self._dispatch(tap)

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
            self._schedule_storage_tick()

        self._storage_timer = self.scheduler.call_later(TICK_S, tick)

    def check_storage(self) -> bool:
        """``quick_check`` every file not checked yet (slow on big files: the daemon runs it
        in a thread once the gate is ready); damage found is handled on the control thread.
        False while a file could not be checked: call again later."""
        return self.storage.check_all(self._dispatch)

    def handle_tap(self, uid: str) -> TapOutcome:
        """Decide one tap, make its event durable, then (if granted) drive the actuator."""
        started = time.perf_counter()
        card, whitelist_error = self.storage.lookup(uid)
        wall = self.clock.wall()
        role = self.config.device.role
        inside = role is Role.BARRIER_ENTRY and self.storage.is_inside(uid, wall)
        trusted, floor = self.clock_trust.view(wall)
        decision: Decision = decide(
            card, self.rules, datetime.fromtimestamp(wall, self.tz),
            already_inside=inside, clock_trusted=trusted,
            floor=None if floor is None else datetime.fromtimestamp(floor, self.tz),
        ) if whitelist_error is None else Decision(False, Reason.WHITELIST_UNAVAILABLE)
        granted, reason = decision.granted, decision.reason
        if granted and self.mode_state.mode is GateMode.LOCKDOWN:
            granted, reason = False, Reason.LOCKDOWN
        elif granted and not self.actuator.in_service:
            granted, reason = False, Reason.OUT_OF_SERVICE
        latency_us = int((time.perf_counter() - started) * 1e6)
        data: dict[str, object] = {"latency_us": latency_us}
        if decision.flags:
            data["flags"] = [f.value for f in decision.flags]
        if card is not None:
            data["holder_kind"] = card.holder_kind
        if whitelist_error is not None:
            data["error"] = whitelist_error
        try:
            seq = self.journal.append("tap", data, uid=uid, granted=granted,
                                      reason=reason.value)
        except JournalUnavailable:
            # No durable record, no opening; the tap is counted among the unwritten events.
            seq = 0
            if granted:
                granted, reason = False, Reason.JOURNAL_UNAVAILABLE
        # The event above is committed and fsynced: only now may the relay move.
        if granted:
            self.actuator.grant()
            self.storage.record_presence(uid, role is Role.BARRIER_ENTRY, wall)
        outcome = TapOutcome(seq, uid, granted, reason, latency_us)
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
        if not self.actuator.set_mode(state.mode.value):
            self.journal.record("mode_not_applied", {"mode": state.mode.value,
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
        return {
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
                for t in self.recent
            ],
        }

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
        self.actuator.shutdown()
        if self.reader is not None:
            # Before the journal closes: the reader reports the garbage it still counted.
            self._reader_stopping = True
            self.reader.stop()
        self.journal.record("shutdown", {"pid": os.getpid()})
        self.storage.close()
