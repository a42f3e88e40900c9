"""Lot capacity at a lane (edge/lot_counts.py): this lane's running totals in a real
``lot.db``, the other lanes' as heard, the guard's correction (the base) and the recount
rule — after a lane restarts (the file reopened), after messages come late, twice or out of
order, and after a lane lost its file."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge.atomic_file import write_atomically
from edge.control_socket import CommandError, ControlClient, ControlServer
from edge.daemon import register_gate_commands
from edge.lot_counts import (
    STALE_AFTER_S,
    LaneCounters,
    LotBase,
    LotCounts,
    LotCountsError,
)
from edge.site_rules import FILE_NAME, Lot, SiteRules, SpaceClass
from tests.edge.conftest import GateRig, barrier_doc

FIXED, MONTHLY, TEMPORARY = SpaceClass.FIXED, SpaceClass.MONTHLY, SpaceClass.TEMPORARY
LOT = Lot(id="main", name="地面停车场", gates=("lane-in", "lane-out"),
          spaces={FIXED: 2, MONTHLY: 5, TEMPORARY: 3})
T0 = 1_780_000_000.0


def open_lane(tmp_path: Path, device: str) -> LotCounts:
    """A lane's lot.db in its own folder, as each lane's Pi has."""
    return LotCounts(tmp_path / device / "lot.db", device)


def test_own_passages_count_per_class_and_free_spaces_follow(tmp_path: Path) -> None:
    lane = open_lane(tmp_path, "lane-in")
    for _ in range(3):
        lane.record_passage(True, TEMPORARY, T0)
    lane.record_passage(True, MONTHLY, T0)
    lane.record_passage(False, TEMPORARY, T0)
    assert lane.own_counters() == LaneCounters({TEMPORARY: 3, MONTHLY: 1},
                                               {TEMPORARY: 1, MONTHLY: 0})
    occupancy = lane.occupancy(LOT, T0)
    assert occupancy.occupied == {FIXED: 0, MONTHLY: 1, TEMPORARY: 2}
    assert occupancy.free(TEMPORARY) == 1 and occupancy.free(MONTHLY) == 4
    # The other lane of the lot was never heard: stale (its cars may be missing).
    assert occupancy.stale_lanes == ("lane-out",)
    lane.close()


def test_the_count_never_goes_below_zero_and_an_uncounted_class_has_no_free_figure(
        tmp_path: Path) -> None:
    lane = open_lane(tmp_path, "lane-out")
    lane.record_passage(False, TEMPORARY, T0)  # a car that was inside before counting began
    occupancy = lane.occupancy(LOT, T0)
    assert occupancy.occupied[TEMPORARY] == 0 and occupancy.free(TEMPORARY) == 3
    no_fixed = Lot(id="main", name="", gates=LOT.gates, spaces={TEMPORARY: 3})
    assert lane.occupancy(no_fixed, T0).free(FIXED) is None
    lane.close()


def test_counters_survive_a_restart_and_the_other_lanes_count_adds(tmp_path: Path) -> None:
    entry = open_lane(tmp_path, "lane-in")
    for _ in range(3):
        entry.record_passage(True, TEMPORARY, T0)
    entry.close()
    entry = open_lane(tmp_path, "lane-in")  # the lane restarted: its file reopened
    entry.record_passage(True, TEMPORARY, T0 + 5)
    assert entry.own_counters().entries[TEMPORARY] == 4

    exit_lane = open_lane(tmp_path, "lane-out")
    exit_lane.record_passage(False, TEMPORARY, T0 + 6)
    # Each hears the other's totals (what the agents carry over the broker).
    assert entry.heard("lane-out", exit_lane.own_counters(), None, T0 + 7)
    assert exit_lane.heard("lane-in", entry.own_counters(), None, T0 + 7)
    assert entry.occupancy(LOT, T0 + 8).occupied[TEMPORARY] == 3
    assert exit_lane.occupancy(LOT, T0 + 8).occupied[TEMPORARY] == 3
    assert entry.occupancy(LOT, T0 + 8).stale_lanes == ()
    entry.close()
    exit_lane.close()


def test_late_repeated_or_older_messages_never_count_twice_or_lower_a_lane(
        tmp_path: Path) -> None:
    lane = open_lane(tmp_path, "lane-in")
    newer = LaneCounters({TEMPORARY: 5}, {TEMPORARY: 4})
    older = LaneCounters({TEMPORARY: 2}, {TEMPORARY: 1})
    assert lane.heard("lane-out", newer, None, T0)
    assert not lane.heard("lane-out", newer, None, T0 + 1)  # the retained copy again
    lane.heard("lane-out", older, None, T0 + 2)  # a stale copy from a restarted broker
    assert lane.heard_counters()["lane-out"][0] == newer
    assert lane.occupancy(LOT, T0 + 3).occupied[TEMPORARY] == 1
    lane.close()


def test_a_lane_that_lost_its_file_takes_its_totals_back_from_its_own_message(
        tmp_path: Path) -> None:
    lane = open_lane(tmp_path, "lane-in")
    lane.record_passage(True, MONTHLY, T0)
    published = LaneCounters({MONTHLY: 40, TEMPORARY: 7}, {MONTHLY: 0, TEMPORARY: 0})
    # Its own retained message, heard back: the counters rise, they never go back.
    assert lane.heard("lane-in", published, None, T0)
    assert lane.own_counters() == published
    lane.record_passage(True, MONTHLY, T0 + 1)
    assert lane.own_counters().entries[MONTHLY] == 41
    assert "lane-in" not in lane.heard_counters()
    lane.close()


def test_a_guard_correction_sets_the_base_and_only_later_passages_add(tmp_path: Path) -> None:
    entry = open_lane(tmp_path, "lane-in")
    exit_lane = open_lane(tmp_path, "lane-out")
    for _ in range(3):
        entry.record_passage(True, TEMPORARY, T0)
    entry.record_passage(True, MONTHLY, T0)
    exit_lane.record_passage(False, TEMPORARY, T0)
    entry.heard("lane-out", exit_lane.own_counters(), None, T0 + 1)

    base = entry.correct(LOT, {TEMPORARY: 1}, " 王保安 ", "夜间清点", T0 + 10)
    assert base.guard == "王保安" and base.version == (T0 + 10, "lane-in")
    assert base.counters["lane-in"].entries[TEMPORARY] == 3
    assert base.counters["lane-out"].exits[TEMPORARY] == 1
    occupancy = entry.occupancy(LOT, T0 + 11)
    # The class counted is the guard's figure; the class not given keeps its count.
    assert occupancy.occupied[TEMPORARY] == 1 and occupancy.occupied[MONTHLY] == 1
    entry.record_passage(True, TEMPORARY, T0 + 12)
    assert entry.occupancy(LOT, T0 + 13).occupied[TEMPORARY] == 2

    # The other lane hears the base (with the entry's counters) and agrees.
    exit_lane.heard("lane-in", entry.own_counters(), entry.base("main"), T0 + 14)
    assert exit_lane.occupancy(LOT, T0 + 15).occupied == entry.occupancy(LOT, T0 + 15).occupied

    # An older base (a stale retained copy) never replaces a newer one.
    old = LotBase("main", {TEMPORARY: 0}, {}, "李", "旧", T0, "lane-out")
    assert not exit_lane.heard("lane-in", entry.own_counters(), old, T0 + 16)
    assert exit_lane.base("main") == entry.base("main")
    entry.close()
    exit_lane.close()


def test_a_correction_is_ordered_after_the_newest_base_even_with_a_clock_behind(
        tmp_path: Path) -> None:
    lane = open_lane(tmp_path, "lane-out")
    later = LotBase("main", {TEMPORARY: 3}, {}, "李", "交班", T0 + 100, "lane-in")
    lane.heard("lane-in", LaneCounters(), later, T0)
    mine = lane.correct(LOT, {TEMPORARY: 2}, "王", "复核", T0 + 50)
    assert mine.version > later.version
    assert lane.base("main") == mine
    lane.close()


def test_a_correction_needs_guard_reason_and_whole_counts(tmp_path: Path) -> None:
    lane = open_lane(tmp_path, "lane-in")
    with pytest.raises(ValueError, match="guard"):
        lane.correct(LOT, {TEMPORARY: 1}, " ", "x", T0)
    with pytest.raises(ValueError, match="reason"):
        lane.correct(LOT, {TEMPORARY: 1}, "王", "", T0)
    with pytest.raises(ValueError, match="whole number"):
        lane.correct(LOT, {TEMPORARY: -1}, "王", "x", T0)
    assert lane.base("main") is None
    lane.close()


def test_stale_lanes_are_those_not_heard_lately_never_this_lane(tmp_path: Path) -> None:
    lane = open_lane(tmp_path, "lane-in")
    lane.heard("lane-out", LaneCounters(), None, T0)
    assert lane.occupancy(LOT, T0 + STALE_AFTER_S - 1).stale_lanes == ()
    assert lane.occupancy(LOT, T0 + STALE_AFTER_S + 1).stale_lanes == ("lane-out",)
    lane.close()


def test_a_base_older_than_a_lanes_heard_counters_is_not_counted_twice(tmp_path: Path) -> None:
    """The base recorded lane-out at 5 exits; lane-in has heard only 2 of them so far: the
    three already in the base are not taken back out."""
    lane = open_lane(tmp_path, "lane-in")
    lane.heard("lane-out", LaneCounters({}, {TEMPORARY: 2}), None, T0)
    base = LotBase("main", {TEMPORARY: 2}, {"lane-out": LaneCounters({}, {TEMPORARY: 5})},
                   "王", "清点", T0 + 1, "lane-out")
    lane.heard("lane-out", LaneCounters({}, {TEMPORARY: 2}), base, T0 + 2)
    assert lane.occupancy(LOT, T0 + 3).occupied[TEMPORARY] == 2
    lane.close()


def test_wire_forms_are_checked_and_round_trip() -> None:
    counters = LaneCounters({TEMPORARY: 3}, {TEMPORARY: 1})
    assert LaneCounters.from_wire(json.loads(json.dumps(counters.wire()))) == counters
    base = LotBase("main", {TEMPORARY: 2}, {"lane-in": counters}, "王", "清点", T0, "lane-in")
    assert LotBase.from_wire(json.loads(json.dumps(base.wire()))) == base
    for bad, field in (({"bicycle": [1, 0]}, "bicycle"), ({"temporary": [1]}, "temporary"),
                       ({"temporary": [1, -1]}, "temporary"),
                       ({"temporary": [True, 0]}, "temporary"), ([], "counters")):
        with pytest.raises(LotCountsError, match=field):
            LaneCounters.from_wire(bad)
    with pytest.raises(LotCountsError, match="guard"):
        LotBase.from_wire({**base.wire(), "guard": ""})


# ---------------------------------------------------------------- the guard at the lane


def lane_rig(make_gate: Callable[..., GateRig], tmp_path: Path,
             lots: tuple[Lot, ...] = (LOT,)) -> GateRig:
    """An entry lane named lane-in, its control socket on a short path, the site's rules
    written where the sync agent writes them."""
    doc = barrier_doc(tmp_path / "in", "barrier_entry", apb="off")
    doc["device"]["id"] = "lane-in"
    doc["control"] = {"socket": tempfile.mkdtemp(prefix="menwei-lot-") + "/control.sock"}
    rules = SiteRules(site="test-site", version=1, issued_at=1.0, lots=lots)
    (tmp_path / "in").mkdir(parents=True, exist_ok=True)
    write_atomically(tmp_path / "in" / FILE_NAME, rules.dump())
    return make_gate(doc)


@pytest.fixture
def served() -> Iterator[Callable[[GateRig], ControlClient]]:
    """Serve a rig's gate on its control socket, with the commands a running gate has."""
    servers: list[ControlServer] = []

    def serve(rig: GateRig) -> ControlClient:
        server = ControlServer(rig.config.control_socket, lambda fn: fn())
        register_gate_commands(server, rig.gate)
        server.start()
        servers.append(server)
        return ControlClient(rig.config.control_socket)

    yield serve
    for server in servers:
        server.stop()


def test_a_guard_corrects_the_count_on_the_socket_journalled_with_who_and_why(
        make_gate: Callable[..., GateRig], served: Callable[[GateRig], ControlClient],
        tmp_path: Path) -> None:
    rig = lane_rig(make_gate, tmp_path)
    assert rig.config.lane is not None
    gate_counts = LotCounts(rig.config.lane.lot_db, "lane-in")
    for _ in range(3):
        gate_counts.record_passage(True, TEMPORARY, T0)
    client = served(rig)
    status = client.call("lot_status")
    assert status["classes"]["temporary"] == {"occupied": 3, "spaces": 3, "free": 0}
    assert status["stale_lanes"] == ["lane-out"] and status["last_correction"] is None

    answer = client.call("lot_correct", occupied={"temporary": 1}, guard="王保安",
                         reason="夜间清点")
    assert answer["corrected"] is True
    assert answer["classes"]["temporary"]["free"] == 2
    [event] = [e for e in rig.gate.journal.read() if e.kind == "lot_corrected"]
    assert event.seq == answer["seq"]
    assert event.data["guard"] == "王保安" and event.data["reason"] == "夜间清点"
    assert event.data["occupied"] == {"temporary": 1}
    assert event.data["before"] == {"fixed": 0, "monthly": 0, "temporary": 3}
    assert "caller" in event.data
    # The gate's own handle on lot.db sees it at once; later cars add to it.
    gate_counts.record_passage(True, TEMPORARY, T0)
    assert gate_counts.occupancy(LOT).occupied[TEMPORARY] == 2
    assert client.call("lot_status")["last_correction"]["guard"] == "王保安"
    gate_counts.close()


def test_corrections_are_refused_without_guard_reason_or_a_counted_class(
        make_gate: Callable[..., GateRig], served: Callable[[GateRig], ControlClient],
        tmp_path: Path) -> None:
    only_temporary = Lot(id="main", name="", gates=("lane-in",), spaces={TEMPORARY: 3})
    client = served(lane_rig(make_gate, tmp_path, (only_temporary,)))
    refusals = {
        "guard": {"occupied": {"temporary": 1}, "guard": " ", "reason": "x"},
        "at least one class": {"occupied": {}, "guard": "王", "reason": "x"},
        "counts no monthly": {"occupied": {"monthly": 1}, "guard": "王", "reason": "x"},
        "not a space class": {"occupied": {"bicycle": 1}, "guard": "王", "reason": "x"},
        "whole number": {"occupied": {"temporary": -1}, "guard": "王", "reason": "x"},
    }
    for message, args in refusals.items():
        with pytest.raises(CommandError, match=message):
            client.call("lot_correct", **args)


def test_a_lane_in_no_car_park_says_so(make_gate: Callable[..., GateRig],
                                      served: Callable[[GateRig], ControlClient],
                                      tmp_path: Path) -> None:
    client = served(lane_rig(make_gate, tmp_path, ()))
    with pytest.raises(CommandError, match="in no car park"):
        client.call("lot_status")


def test_menwei_edge_lot_status_and_correct(
        make_gate: Callable[..., GateRig], served: Callable[[GateRig], ControlClient],
        tmp_path: Path) -> None:
    rig = lane_rig(make_gate, tmp_path)
    served(rig)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "edge.cli", "lot", *args, "--config",
                               str(rig.config.source)],
                              capture_output=True, text=True, timeout=30, check=False)

    done = cli("correct", "--occupied", "temporary=2", "--occupied", "monthly=4",
               "--guard", "王保安", "--reason", "交班清点")
    assert done.returncode == 0, done.stderr
    assert "temporary: 2 occupied of 3, 1 free" in done.stdout
    assert "monthly: 4 occupied of 5" in done.stdout and "journalled as event" in done.stdout
    done = cli("status")
    assert done.returncode == 0, done.stderr
    assert "car park 地面停车场 (main)" in done.stdout
    assert "last counted by 王保安" in done.stdout
    assert "lane-out" in done.stdout  # never heard: the guard is told
    assert cli("correct", "--guard", "王").returncode == 2
    assert cli("correct", "--occupied", "temporary").returncode == 2
    refused = cli("correct", "--occupied", "bicycle=1", "--guard", "王", "--reason", "x")
    assert refused.returncode == 2 and "not a space class" in refused.stderr
