"""A guard's view and correction of the car park's count at a lane's control socket
(``menwei-edge lot status`` and ``menwei-edge lot correct``).

A correction is the guard's word on how many cars of each class are inside (after a count on
foot, a car let out by the pedestrian gate, the day the system was installed). It is
journalled with guard, reason, the figures and the caller *before* ``lot.db`` is touched,
and refused when the journal cannot take it: a count changed with nobody to account for it
is how spaces go missing. The lane's sync agent then carries it to the other lanes (it is
the newest base: edge/lot_counts.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from edge.control_socket import Caller, CommandError, ControlServer
from edge.gate import Gate
from edge.lot_counts import LotCounts
from edge.site_rules import Lot, SpaceClass


class LotDesk:
    """The lot commands of one gate: what the lane counts and the guard's correction. They
    run on the control thread, on the lane's own lot.db handle and the site rules the gate
    holds."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def _lot(self) -> tuple[Lot, LotCounts]:
        lane = self.gate.lane
        if lane is None:
            raise CommandError("this gate is not a barrier lane: it counts no car park")
        lot = lane.lot()
        if lot is None:
            raise CommandError(f"{lane.device} is in no car park by the site's rules: nothing "
                               "is counted here")
        counts = lane.lot_counts()
        if counts is None:
            raise CommandError(f"{lane.config.lot_db} cannot be opened: see the gate's "
                               "lot_counts_fault alarm")
        return lot, counts

    def status(self) -> dict[str, object]:
        """The lot's occupancy as this lane knows it, this lane's totals, the last count."""
        lot, counts = self._lot()
        wall = self.gate.clock.wall()
        occupancy = counts.occupancy(lot, wall)
        base = counts.base(lot.id)
        own = counts.own_counters()
        heard = counts.heard_counters()
        device = self.gate.config.device.id
        # When each other lane was last heard (None: never), on this lane's clock, so that a
        # guard's screen can say for how long a stale lane has been silent.
        heard_at = {lane: (heard[lane][1] if lane in heard else None)
                    for lane in lot.gates if lane != device}
        return {**occupancy.wire(), "name": lot.name, "lanes": list(lot.gates),
                "wall": wall, "heard_at": heard_at, "own_counters": own.wire(),
                "last_correction": None if base is None else {
                    "guard": base.guard, "reason": base.reason, "wall": base.wall,
                    "device": base.device,
                    "occupied": {c.value: n for c, n in base.occupied.items()}}}

    def correct(self, occupied: Mapping[SpaceClass, int], guard: str, reason: str, *,
                caller: Mapping[str, object] | None = None) -> dict[str, object]:
        """Set the count of the classes given; journalled first (see the module docstring)."""
        guard, reason = guard.strip(), reason.strip()
        if not guard or not reason:
            raise ValueError("a lot correction needs the guard's name and a reason")
        if not occupied:
            raise ValueError("name at least one class and its count, e.g. temporary=12")
        lot, counts = self._lot()
        for space_class in occupied:
            if space_class not in lot.spaces:
                raise ValueError(f"the car park {lot.id} counts no {space_class.value} "
                                 f"spaces (it counts "
                                 f"{', '.join(c.value for c in lot.spaces)})")
        wall = self.gate.clock.wall()
        before = counts.occupancy(lot, wall)
        data: dict[str, object] = {
            "lot": lot.id, "guard": guard, "reason": reason,
            "occupied": {c.value: n for c, n in occupied.items()},
            "before": {c.value: n for c, n in before.occupied.items()}}
        if caller is not None:
            data["caller"] = dict(caller)
        seq = self.gate.journal.append("lot_corrected", data)
        try:
            counts.correct(lot, occupied, guard, reason, wall)
        except (sqlite3.Error, OSError) as exc:
            self.gate.journal.record("lot_correct_failed",
                                     {"lot": lot.id, "guard": guard, "error": str(exc)},
                                     alarm=True)
            return {"seq": seq, "corrected": False, "error": str(exc)}
        after = counts.occupancy(lot, wall)
        return {"seq": seq, "corrected": True, **after.wire()}


def occupied_arg(value: object) -> dict[SpaceClass, int]:
    """``{"temporary": 12}`` as sent on the socket, checked."""
    if not isinstance(value, dict):
        raise CommandError('occupied must be an object, e.g. {"temporary": 12}')
    checked: dict[SpaceClass, int] = {}
    for key, n in value.items():
        try:
            space_class = SpaceClass(key)
        except ValueError:
            raise CommandError(f"{key!r} is not a space class (one of "
                               f"{', '.join(c.value for c in SpaceClass)})") from None
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise CommandError(f"{key}: a count of cars is a whole number from 0")
        checked[space_class] = n
    return checked


def register_lot_commands(server: ControlServer, gate: Gate) -> None:
    """``lot_status`` and ``lot_correct`` on ``gate``'s control socket."""
    desk = LotDesk(gate)
    server.register("lot_status", lambda args: desk.status())

    def correct(args: Mapping[str, Any], caller: Caller) -> object:
        guard, reason = args.get("guard"), args.get("reason")
        if not isinstance(guard, str) or not isinstance(reason, str):
            raise CommandError("lot_correct needs 'guard' and 'reason' as text")
        return desk.correct(occupied_arg(args.get("occupied")), guard, reason,
                            caller=caller.as_record())

    server.register_with_caller("lot_correct", correct)
