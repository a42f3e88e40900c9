"""Lot capacity (issue 12): the spaces per class of a car park, counted from its lanes' own
entries and exits, shared by every lane of the car park through the site broker.

Each lane keeps its own cumulative counters (entries and exits per space class, only ever
growing) in ``lot.db``; the sync agent publishes them retained and writes the other lanes'
counters it hears into the same file. Occupancy = the last guard count (a base, with the
counters of every lane it was taken against) + every lane's counts since that base.

The recount rule
----------------

``occupied[c] = max(0, base.occupied[c] + Σ over the lot's lanes L of
(entries_L[c] - base.entries_L[c]) - (exits_L[c] - base.exits_L[c]))``

where ``entries_L``/``exits_L`` are the newest counters known of lane L, never taken lower
than the base's own record of them. Why this is right after an outage and a restart:

- A lane's counters are a running total of every vehicle that ever passed it, committed
  before the lane does anything else with the passage. The newest counters of a lane are
  therefore the *whole* truth about that lane: nothing it counted while the broker was down
  is lost or needs replaying, the next message carries it all. Messages that arrive late,
  twice or out of order cannot double-count: a lane's counters are merged by taking the
  larger value of each (a smaller one is an older message).
- A lane that restarts reopens its file and goes on from its totals; a lane whose file was
  lost (a replaced SD card) takes its totals back from its own retained message, so its
  counters never go down for the others either.
- A guard's correction (``correct``) sets the base: the occupancy per class the guard counted
  and the counters of every lane as known at that moment, so only what passes after it is
  added. Corrections are ordered by (wall time, device): every lane keeps the newest, so all
  lanes agree once they have heard each other, whatever order the messages came in.
- While a lane is not heard (``stale_lanes``), its cars since the last message are missing
  from this lane's count, never counted twice; the count heals by itself when it is heard.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.migrations import connect, migrate
from edge.ports import Clock, SystemClock
from edge.site_rules import Lot, SpaceClass

# A lane not heard for this long is reported stale (its agent republishes its counters every
# HEARTBEAT_S even when nothing passed, so silence means the broker or that lane is down).
STALE_AFTER_S = 120.0
HEARTBEAT_S = 30.0
MAX_COUNT = 2**53  # counters travel as JSON numbers

MIGRATIONS = [
    """
    CREATE TABLE own_counts (
        space_class TEXT PRIMARY KEY,
        entries INTEGER NOT NULL DEFAULT 0,
        exits INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE TABLE heard_counts (
        device TEXT PRIMARY KEY,
        counters TEXT NOT NULL,
        heard_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE base (
        lot TEXT PRIMARY KEY,
        wall REAL NOT NULL,
        device TEXT NOT NULL,
        body TEXT NOT NULL
    ) WITHOUT ROWID
    """,
]


class LotCountsError(ValueError):
    """A counters or base record that does not fit; the message names the field."""


@dataclass(frozen=True)
class LaneCounters:
    """One lane's running totals per space class (entries and exits, only ever growing)."""

    entries: Mapping[SpaceClass, int] = field(default_factory=dict)
    exits: Mapping[SpaceClass, int] = field(default_factory=dict)

    def net(self, space_class: SpaceClass) -> int:
        """Entries minus exits of ``space_class``."""
        return self.entries.get(space_class, 0) - self.exits.get(space_class, 0)

    def merged(self, other: LaneCounters) -> LaneCounters:
        """The larger of each counter: counters only grow, so the larger is the newer."""
        return LaneCounters(_max_each(self.entries, other.entries),
                            _max_each(self.exits, other.exits))

    def wire(self) -> dict[str, list[int]]:
        """As it travels and is stored: ``{class: [entries, exits]}``."""
        classes = sorted(set(self.entries) | set(self.exits))
        return {c.value: [self.entries.get(c, 0), self.exits.get(c, 0)] for c in classes}

    @staticmethod
    def from_wire(obj: object, where: str = "counters") -> LaneCounters:
        """Read ``{class: [entries, exits]}``; LotCountsError names what is wrong."""
        if not isinstance(obj, dict):
            raise LotCountsError(f"{where}: expected an object")
        entries: dict[SpaceClass, int] = {}
        exits: dict[SpaceClass, int] = {}
        for key, pair in obj.items():
            space_class = _space_class(key, where)
            if (not isinstance(pair, list) or len(pair) != 2
                    or not all(_is_count(n) for n in pair)):
                raise LotCountsError(f"{where}.{key}: expected [entries, exits], two counts")
            entries[space_class], exits[space_class] = int(pair[0]), int(pair[1])
        return LaneCounters(entries, exits)


NO_COUNTS = LaneCounters()


@dataclass(frozen=True)
class LotBase:
    """A guard's count of a lot: what was occupied per class, and every known lane's counters
    at that moment. The newest ``version`` wins everywhere."""

    lot: str
    occupied: Mapping[SpaceClass, int]
    counters: Mapping[str, LaneCounters]
    guard: str
    reason: str
    wall: float
    device: str  # the lane where the guard made it

    @property
    def version(self) -> tuple[float, str]:
        """Orders corrections: wall time, then the device as a tie-break."""
        return (self.wall, self.device)

    def wire(self) -> dict[str, Any]:
        """As it travels and is stored."""
        return {"lot": self.lot, "occupied": {c.value: n for c, n in self.occupied.items()},
                "counters": {d: c.wire() for d, c in sorted(self.counters.items())},
                "guard": self.guard, "reason": self.reason, "wall": self.wall,
                "device": self.device}

    @staticmethod
    def from_wire(obj: object, where: str = "base") -> LotBase:
        """Read a base; LotCountsError names what is wrong."""
        if not isinstance(obj, dict):
            raise LotCountsError(f"{where}: expected an object")
        occupied_obj = obj.get("occupied")
        counters_obj = obj.get("counters")
        if not isinstance(occupied_obj, dict):
            raise LotCountsError(f"{where}.occupied: expected an object")
        if not isinstance(counters_obj, dict):
            raise LotCountsError(f"{where}.counters: expected an object")
        occupied: dict[SpaceClass, int] = {}
        for key, n in occupied_obj.items():
            if not _is_count(n):
                raise LotCountsError(f"{where}.occupied.{key}: expected a count")
            occupied[_space_class(key, f"{where}.occupied")] = int(n)
        wall = obj.get("wall")
        if isinstance(wall, bool) or not isinstance(wall, int | float):
            raise LotCountsError(f"{where}.wall: expected a number")
        text = {}
        for key in ("lot", "guard", "reason", "device"):
            value = obj.get(key)
            if not isinstance(value, str) or not value:
                raise LotCountsError(f"{where}.{key}: expected text")
            text[key] = value
        return LotBase(
            lot=text["lot"], occupied=occupied,
            counters={str(d): LaneCounters.from_wire(c, f"{where}.counters.{d}")
                      for d, c in counters_obj.items()},
            guard=text["guard"], reason=text["reason"], wall=float(wall),
            device=text["device"])


@dataclass(frozen=True)
class Occupancy:
    """The lot as this lane knows it now."""

    lot: str
    occupied: Mapping[SpaceClass, int]
    spaces: Mapping[SpaceClass, int]
    # Lanes whose counters this lane has not heard for a while (the broker down): the count
    # may be behind by their cars.
    stale_lanes: tuple[str, ...] = ()

    def free(self, space_class: SpaceClass) -> int | None:
        """Spaces left in ``space_class`` (never below 0); None when the class is not counted."""
        if space_class not in self.spaces:
            return None
        return max(0, self.spaces[space_class] - self.occupied.get(space_class, 0))

    def wire(self) -> dict[str, Any]:
        """For a guard's tool and the desk: per class occupied, spaces and free."""
        classes = [c for c in SpaceClass if c in self.spaces or c in self.occupied]
        return {"lot": self.lot, "stale_lanes": list(self.stale_lanes),
                "classes": {c.value: {"occupied": self.occupied.get(c, 0),
                                      "spaces": self.spaces.get(c),
                                      "free": self.free(c)} for c in classes}}


def occupancy_of(lot: Lot, base: LotBase | None, counters: Mapping[str, LaneCounters],
                 heard_at: Mapping[str, float], now: float, *,
                 fresh: Iterable[str] = ()) -> Occupancy:
    """The recount rule (module docstring), for a lane and for the desk alike.

    ``counters`` are the newest known of each lane, ``heard_at`` when each was heard;
    lanes in ``fresh`` (a lane's own) are never stale."""
    always_fresh = set(fresh)
    occupied: dict[SpaceClass, int] = {c: (base.occupied.get(c, 0) if base else 0)
                                       for c in SpaceClass}
    stale: list[str] = []
    for lane in lot.gates:
        at_base = base.counters.get(lane, NO_COUNTS) if base else NO_COUNTS
        # Never below what the base recorded of it: an older message heard after the base.
        now_counts = counters.get(lane, NO_COUNTS).merged(at_base)
        for c in SpaceClass:
            occupied[c] += now_counts.net(c) - at_base.net(c)
        if lane not in always_fresh and now - heard_at.get(lane, float("-inf")) > STALE_AFTER_S:
            stale.append(lane)
    counted = {c: max(0, n) for c, n in occupied.items() if c in lot.spaces or n > 0}
    return Occupancy(lot.id, counted, dict(lot.spaces), tuple(stale))


class LotCounts:
    """A lane's ``lot.db``. Used from the gate's control thread (its own counters) and the
    sync agent (the other lanes' counters, the base)."""

    def __init__(self, path: Path, device: str, *, clock: Clock | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.device = device
        self.clock = clock or SystemClock()
        # FULL: a passage is committed to the disk before the lane moves on. With NORMAL a
        # power cut could roll back a counter the agent had already published; the lane would
        # then count its next car with the same number the others hold for the lost one, and
        # that car would never be counted anywhere. One fsync per car (a few ms, a few hundred
        # cars an hour) is nothing next to the arm's cycle.
        self._conn = connect(str(path), synchronous="FULL")
        migrate(self._conn, MIGRATIONS, f"lot counts {path}")

    def close(self) -> None:
        """Close the file."""
        self._conn.close()

    # ------------------------------------------------------------ this lane

    def record_passage(self, entering: bool, space_class: SpaceClass, wall: float) -> None:
        """Count one vehicle that passed this lane (on the loops, not at the grant)."""
        del wall  # counters are totals, not a log: the journal keeps when it passed
        column = "entries" if entering else "exits"
        self._conn.execute(
            f"INSERT INTO own_counts (space_class, {column}) VALUES (?, 1) "
            f"ON CONFLICT (space_class) DO UPDATE SET {column} = {column} + 1",
            (SpaceClass(space_class).value,))

    def own_counters(self) -> LaneCounters:
        """This lane's running totals."""
        rows = self._conn.execute("SELECT space_class, entries, exits FROM own_counts")
        entries: dict[SpaceClass, int] = {}
        exits: dict[SpaceClass, int] = {}
        for name, n_in, n_out in rows:
            entries[SpaceClass(name)], exits[SpaceClass(name)] = int(n_in), int(n_out)
        return LaneCounters(entries, exits)

    # ------------------------------------------------------------ the other lanes

    def heard(self, device: str, counters: LaneCounters, base: LotBase | None,
              wall: float) -> bool:
        """Keep what the agent heard of ``device``: its counters (merged, never lowered) and
        the base it carried when newer than ours. Hearing this lane's own retained message
        raises its own counters to it (a lane whose file was lost takes its totals back).
        True when anything kept changed."""
        changed = False
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            if device == self.device:
                mine = self.own_counters()
                raised = mine.merged(counters)
                if raised != mine:
                    self._write_own(raised)
                    changed = True
            else:
                row = self._conn.execute("SELECT counters FROM heard_counts WHERE device = ?",
                                         (device,)).fetchone()
                known = LaneCounters.from_wire(json.loads(row[0])) if row else NO_COUNTS
                merged = known.merged(counters)
                changed = row is None or merged != known
                self._conn.execute(
                    "INSERT INTO heard_counts (device, counters, heard_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (device) DO UPDATE SET counters = excluded.counters, "
                    "heard_at = excluded.heard_at",
                    (device, json.dumps(merged.wire()), wall))
            if base is not None and self._keep_base(base):
                changed = True
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return changed

    def _write_own(self, counters: LaneCounters) -> None:
        for space_class, (n_in, n_out) in counters.wire().items():
            self._conn.execute(
                "INSERT INTO own_counts (space_class, entries, exits) VALUES (?, ?, ?) "
                "ON CONFLICT (space_class) DO UPDATE SET entries = excluded.entries, "
                "exits = excluded.exits", (space_class, n_in, n_out))

    def heard_counters(self) -> dict[str, tuple[LaneCounters, float]]:
        """Every other lane's counters as heard, with when."""
        return {str(d): (LaneCounters.from_wire(json.loads(c)), float(at)) for d, c, at in
                self._conn.execute("SELECT device, counters, heard_at FROM heard_counts")}

    # ------------------------------------------------------------ the base

    def base(self, lot: str) -> LotBase | None:
        """The newest guard count of ``lot`` known here."""
        row = self._conn.execute("SELECT body FROM base WHERE lot = ?", (lot,)).fetchone()
        return None if row is None else LotBase.from_wire(json.loads(row[0]))

    def _keep_base(self, base: LotBase) -> bool:
        known = self.base(base.lot)
        if known is not None and known.version >= base.version:
            return False
        self._conn.execute(
            "INSERT INTO base (lot, wall, device, body) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (lot) DO UPDATE SET wall = excluded.wall, device = excluded.device, "
            "body = excluded.body",
            (base.lot, base.wall, base.device, json.dumps(base.wire(), ensure_ascii=False)))
        return True

    def correct(self, lot: Lot, occupied: Mapping[SpaceClass, int], guard: str, reason: str,
                wall: float) -> LotBase:
        """A guard's count: from now on ``lot`` holds ``occupied`` (per class; the classes
        not given keep their count) plus what passes after. The base records every lane's
        counters as known now. Its version is (``wall``, this device), made later than the
        newest base known so that the guard's word is never lost to a clock behind.
        ValueError on a missing guard or reason or a negative count."""
        guard, reason = guard.strip(), reason.strip()
        if not guard or not reason:
            raise ValueError("a lot correction needs the guard's name and a reason")
        for space_class, n in occupied.items():
            if not _is_count(n):
                raise ValueError(f"{SpaceClass(space_class).value}: a count of cars is a whole "
                                 f"number from 0, not {n!r}")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            now = self.occupancy(lot, wall)
            previous = self.base(lot.id)
            if previous is not None and previous.version >= (wall, self.device):
                wall = previous.wall + 0.001
            heard = self.heard_counters()
            counters = {lane: (self.own_counters() if lane == self.device
                               else heard.get(lane, (NO_COUNTS, 0.0))[0])
                        for lane in lot.gates}
            if previous is not None:  # never below what the previous base knew of a lane
                counters = {lane: c.merged(previous.counters.get(lane, NO_COUNTS))
                            for lane, c in counters.items()}
            new_occupied = {**now.occupied,
                            **{SpaceClass(c): int(n) for c, n in occupied.items()}}
            base = LotBase(lot.id, new_occupied, counters, guard, reason, wall, self.device)
            self._keep_base(base)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return base

    # ------------------------------------------------------------ the count

    def occupancy(self, lot: Lot, now: float | None = None) -> Occupancy:
        """The lot's occupancy as this lane knows it (``now``: the wall clock by default)."""
        heard = self.heard_counters()
        counters = {d: c for d, (c, _at) in heard.items()}
        counters[self.device] = self.own_counters()
        return occupancy_of(lot, self.base(lot.id), counters,
                            {d: at for d, (_c, at) in heard.items()},
                            self.clock.wall() if now is None else now, fresh=(self.device,))


def _max_each(a: Mapping[SpaceClass, int], b: Mapping[SpaceClass, int]) -> dict[SpaceClass, int]:
    return {c: max(a.get(c, 0), b.get(c, 0)) for c in set(a) | set(b)}


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT


def _space_class(value: object, where: str) -> SpaceClass:
    try:
        return SpaceClass(str(value))
    except ValueError:
        raise LotCountsError(f"{where}: {value!r} is not one of "
                             f"{', '.join(c.value for c in SpaceClass)}") from None
