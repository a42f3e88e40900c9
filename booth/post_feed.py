"""What the guard sees at the post: each gate's state (door or barrier, mode, in service,
reachable), the live feed of the post's taps and controls merged from every gate, and the
gates' alarms (forced door, held open, stuck barrier, reader gone, storage faults) with the
guard's acknowledgements.

Everything shown comes from the gates themselves over their control sockets (``status`` and
``events``), asked of every gate at once so that the page answers in a few milliseconds; a
gate that does not answer is shown as unreachable, never with a stale state. The booth's
own table holds only the acknowledgements, keyed by (gate, gate sequence), each journalled
as ``alarm_ack`` (docs/booth.md)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from booth.post_gates import PostGate, PostGates
from booth.refusals import BoothRefusal
from booth.store import BoothStore

MIGRATIONS = [
    """
    CREATE TABLE alarm_acks (
        gate TEXT NOT NULL,
        gate_seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        alarm_at REAL NOT NULL,
        guard TEXT NOT NULL,
        comment TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (gate, gate_seq)
    ) WITHOUT ROWID
    """,
]

# How far back each gate is read: the feed shows the newest of these, the alarm list every
# alarm among them (a post's gates write far fewer events than this between two looks).
EVENTS_PER_GATE = 150
FEED_LENGTH = 30
MAX_COMMENT = 200
# What the feed shows: taps and what guards and the desk did at the gates; the alarms show
# whatever the gates flagged as one.
FEED_KINDS = frozenset({
    "tap", "plate", "manual_open", "manual_open_failed", "remote_command", "remote_command_failed",
    "mode_command", "mode_expired", "mode_restored", "actuator_reset", "actuator_reset_failed",
    "presence_cleared", "rex", "door_forced_open", "door_held_open", "barrier_stuck",
    "tailgate", "reader_unavailable", "reader_available", "lot_corrected",
})
# Both threads of the pool are blocked on sockets, not the CPU; one per gate is plenty.
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="post-feed")


def mask_uid(uid: str | None) -> str | None:
    """A card UID as the feed shows it: only the last four hex digits (enough for a guard
    to tell two cards apart, not enough to clone one)."""
    if not uid:
        return None
    return "*" * max(0, len(uid) - 4) + uid[-4:] if len(uid) > 4 else "*" * len(uid)


@dataclass(frozen=True)
class GateView:
    """One gate as the page shows it. ``state`` is the arm's state for a barrier
    (closed, opening, open, closing, stuck, unknown) and ``locked``/``unlocked`` for a door."""

    device: str
    role: str
    is_barrier: bool
    reachable: bool
    mode: str | None = None
    mode_until: float | None = None
    mode_set_by: str | None = None
    in_service: bool | None = None
    state: str | None = None
    door_open: bool | None = None
    active_alarms: tuple[str, ...] = ()
    clock_trusted: bool | None = None


@dataclass(frozen=True)
class GateEvent:
    """One event of a gate's journal, as the feed and the alarm list show it (the card's
    UID masked)."""

    gate: str
    seq: int
    wall: float
    kind: str
    alarm: bool
    granted: bool | None
    reason: str | None
    holder_kind: str | None
    masked_uid: str | None
    guard: str | None
    detail: str | None


@dataclass(frozen=True)
class AlarmAck:
    """A guard's acknowledgement of one alarm."""

    gate: str
    gate_seq: int
    guard: str
    comment: str
    at: float


@dataclass(frozen=True)
class PostAlarm:
    """An alarm of a gate and, once a guard has seen to it, its acknowledgement."""

    event: GateEvent
    ack: AlarmAck | None


@dataclass(frozen=True)
class PostView:
    """The whole post at one moment."""

    gates: tuple[GateView, ...]
    feed: tuple[GateEvent, ...]
    alarms: tuple[PostAlarm, ...]

    @property
    def unacknowledged(self) -> int:
        """How many alarms no guard has acknowledged yet."""
        return sum(1 for a in self.alarms if a.ack is None)


def _gate_view(gate: PostGate, status: Mapping[str, Any] | None) -> GateView:
    role = gate.role.value
    if status is None:
        return GateView(gate.device, role, gate.is_barrier, reachable=False)
    actuator = status.get("actuator") or {}
    if gate.is_barrier:
        state = actuator.get("state")
    else:
        state = "locked" if actuator.get("locked") else "unlocked"
    return GateView(
        gate.device, role, gate.is_barrier, reachable=True, mode=status.get("mode"),
        mode_until=status.get("mode_until"), mode_set_by=status.get("mode_set_by"),
        in_service=status.get("in_service"), state=None if state is None else str(state),
        door_open=actuator.get("door_open"),
        active_alarms=tuple(str(a) for a in actuator.get("alarms") or ()),
        clock_trusted=status.get("clock_trusted"))


def _detail(kind: str, data: Mapping[str, Any]) -> str | None:
    """The one word of an event's data worth showing beside its kind (a raw code the page
    translates, or the guard's own reason)."""
    if kind in ("barrier_stuck", "barrier_state"):
        return str(data.get("reason") or data.get("to") or "") or None
    if kind in ("mode_command", "mode_expired", "mode_restored"):
        return str(data.get("mode") or "") or None
    if kind == "remote_command":
        return str(data.get("command") or "") or None
    if kind == "plate":
        # The plate as the lane display shows it to everyone at the barrier.
        return str(data.get("plate") or "") or None
    reason = data.get("reason")
    return str(reason) if reason else None


def _event(gate: str, raw: Mapping[str, Any]) -> GateEvent:
    data = raw.get("data") or {}
    uid = raw.get("uid") or data.get("uid")
    guard = data.get("guard")
    return GateEvent(
        gate, int(raw["seq"]), float(raw["wall"]), str(raw["kind"]), bool(raw.get("alarm")),
        raw.get("granted"), raw.get("reason"), data.get("holder_kind"),
        mask_uid(str(uid) if uid else None), str(guard) if guard else None,
        _detail(str(raw["kind"]), data))


def _ack(row: sqlite3.Row) -> AlarmAck:
    return AlarmAck(row["gate"], row["gate_seq"], row["guard"], row["comment"], row["at"])


class PostFeed:
    """The post's gates, feed and alarms; see the module docstring."""

    def __init__(self, store: BoothStore, gates: PostGates) -> None:
        self.store = store
        self.gates = gates
        store.migrate("post_feed", MIGRATIONS)

    def _read_gate(self, gate: PostGate) -> tuple[GateView, list[GateEvent]]:
        status = self.gates.status(gate.device)
        if status is None:
            return _gate_view(gate, None), []
        try:
            raw = self.gates.call(gate.device, "events", n=EVENTS_PER_GATE)
        except BoothRefusal:
            raw = []
        events = [_event(gate.device, e) for e in raw if isinstance(e, dict)]
        return _gate_view(gate, status), events

    def view(self) -> PostView:
        """Every gate's state, the newest of the post's taps and controls (newest first)
        and the alarms among the gates' recent events, each with its acknowledgement."""
        read = list(_POOL.map(self._read_gate, self.gates.gates))
        events = sorted((e for _view, evs in read for e in evs),
                        key=lambda e: (e.wall, e.seq), reverse=True)
        feed = tuple(e for e in events if e.kind in FEED_KINDS)[:FEED_LENGTH]
        alarm_events = [e for e in events if e.alarm]
        acks = self._acks(alarm_events)
        alarms = tuple(PostAlarm(e, acks.get((e.gate, e.seq))) for e in alarm_events)
        return PostView(tuple(v for v, _evs in read), feed, alarms)

    def _acks(self, alarms: list[GateEvent]) -> dict[tuple[str, int], AlarmAck]:
        if not alarms:
            return {}
        oldest = min(e.seq for e in alarms)
        rows = self.store.query("SELECT * FROM alarm_acks WHERE gate_seq >= ?", (oldest,))
        return {(r["gate"], r["gate_seq"]): _ack(r) for r in rows}

    def alarm(self, device: str, seq: int) -> PostAlarm:
        """One alarm among the gate's recent events (what the guard was shown); refused
        when the gate does not answer or has no such alarm."""
        gate = self.gates.gate(device)
        raw = self.gates.call(gate.device, "events", n=EVENTS_PER_GATE)
        found = next((e for e in raw if isinstance(e, dict) and e.get("seq") == seq), None)
        if found is None or not found.get("alarm"):
            raise BoothRefusal("找不到这条报警（可能已过久），请刷新页面",
                               f"gate {device} has no recent alarm {seq}", "alarm")
        event = _event(gate.device, found)
        row = self.store.one("SELECT * FROM alarm_acks WHERE gate = ? AND gate_seq = ?",
                             (device, seq))
        return PostAlarm(event, None if row is None else _ack(row))

    def acknowledge(self, device: str, seq: int, guard: str, comment: str) -> AlarmAck:
        """A guard has seen to an alarm: their comment says what they found or did."""
        comment = comment.strip()
        if not comment:
            raise BoothRefusal("请填写处理情况", "write what you found or did", "comment")
        if len(comment) > MAX_COMMENT:
            raise BoothRefusal(f"处理情况不能超过 {MAX_COMMENT} 个字",
                               f"the comment is over {MAX_COMMENT} characters", "comment")
        alarm = self.alarm(device, seq)
        if alarm.ack is not None:
            raise BoothRefusal(f"这条报警已由 {alarm.ack.guard} 确认",
                               f"already acknowledged by {alarm.ack.guard}", "alarm")
        now = self.store.clock.wall()
        with self.store.record() as rec:
            if rec.execute("SELECT 1 FROM alarm_acks WHERE gate = ? AND gate_seq = ?",
                           (device, seq)).fetchone():
                raise BoothRefusal("这条报警已有人确认", "already acknowledged", "alarm")
            rec.execute("INSERT INTO alarm_acks (gate, gate_seq, kind, alarm_at, guard, comment, "
                        "at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (device, seq, alarm.event.kind, alarm.event.wall, guard, comment, now))
            rec.append("alarm_ack", {"gate": device, "gate_seq": seq, "kind": alarm.event.kind,
                                     "guard": guard, "comment": comment})
        return AlarmAck(device, seq, guard, comment, now)
