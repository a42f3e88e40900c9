"""The central store's one-pass read of the granted card events of some devices in a time
range (``CentralStore.granted_card_events``, what the monthly parking report reads), on a
real store file: the filters, the order, and the index it reads by — also on a store made
before the index existed."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sync.hub.schema import MIGRATIONS
from sync.hub.store import CentralStore

T0 = 1_750_000_000.0


def ev(seq: int, wall: float, *, kind: str = "tap", uid: str | None = "04A1B2C3",
       granted: bool | None = True, trusted: bool = True) -> dict[str, Any]:
    return {"seq": seq, "boot_id": "boot-1", "wall": wall, "mono": float(seq), "kind": kind,
            "alarm": False, "clock_trusted": trusted, "uid": uid, "granted": granted,
            "reason": "granted" if granted else "not_permitted_here", "data": {}}


def test_granted_card_events_are_the_granted_uses_of_the_devices_in_the_range(
        store_at: Callable[[str], Path | str]) -> None:
    store = CentralStore(store_at("central.db"), "site-a")
    try:
        store.store_events("lane-in", [
            ev(1, T0 - 1),  # before the range
            ev(2, T0 + 5),
            ev(3, T0 + 5, kind="plate", uid="04B0B0B0", trusted=False),
            ev(4, T0 + 1, granted=False),  # refused
            ev(5, T0 + 2, kind="plate", uid=None),  # a temporary car: no card
            ev(6, T0 + 3, kind="manual_open", uid=None, granted=None),
            ev(7, T0 + 4, kind="door_held_open"),  # not a kind asked for
            ev(8, T0 + 100),  # at the end of the range: outside it
        ], journal_id="aa" * 16)
        # The lane's replaced journal numbers from 1 again; its events are read too (its id
        # sorts first: a tie at one wall time is in journal order, not arrival order).
        store.store_events("lane-in", [ev(1, T0 + 5, uid="0F0F0F01")], journal_id="00" * 16)
        store.store_events("lane-out", [ev(1, T0 + 50, kind="plate")])
        store.store_events("main-door", [ev(1, T0 + 10)])  # a device not asked for
        got = list(store.granted_card_events(["lane-out", "lane-in"], T0, T0 + 100,
                                             {"tap", "plate"}))
        # Device by device, each in wall order, ties by journal then seq.
        assert got == [("lane-in", "0F0F0F01", "tap", T0 + 5, 1),
                       ("lane-in", "04A1B2C3", "tap", T0 + 5, 1),
                       ("lane-in", "04B0B0B0", "plate", T0 + 5, 0),
                       ("lane-out", "04A1B2C3", "plate", T0 + 50, 1)]
        assert list(store.granted_card_events(["lane-in"], T0, T0 + 100, ())) == []
    finally:
        store.close()


def test_a_month_of_a_lane_is_one_range_look_up_also_in_a_store_made_before_the_index(
        tmp_path: Path) -> None:
    path = tmp_path / "central.db"
    old = sqlite3.connect(path)
    for script in MIGRATIONS[:6]:
        old.executescript(script)
    old.execute("PRAGMA user_version = 6")
    old.execute("INSERT INTO events (device, journal_id, seq, boot_id, wall, mono, kind, "
                "alarm, clock_trusted, uid, granted, reason, data, received_at) VALUES "
                "('lane-in', '', 1, 'b', ?, 1, 'tap', 0, 1, '04A1B2C3', 1, 'granted', '{}', 0)",
                (T0,))
    old.commit()
    old.close()
    store = CentralStore(path, "site-a")
    try:
        conn = sqlite3.connect(path)
        plan = " ".join(str(row[3]) for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT device, uid, kind, wall, clock_trusted FROM events "
            "WHERE device = ? AND wall >= ? AND wall < ? AND granted = 1 AND uid IS NOT NULL "
            "AND kind IN (?, ?) ORDER BY wall, journal_id, seq",
            ("lane-in", T0, T0 + 1, "plate", "tap")))
        conn.close()
        assert "USING INDEX events_device_wall (device=? AND wall>? AND wall<?)" in plan
        assert list(store.granted_card_events(["lane-in"], T0, T0 + 1, ["tap"])) == [
            ("lane-in", "04A1B2C3", "tap", T0, 1)]
    finally:
        store.close()
