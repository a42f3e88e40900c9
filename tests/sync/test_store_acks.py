"""What an event batch's ack may cover (sync/hub/journals.py ``advance``), on both stores:
only events stored, without a hole, or seqs the journal dropped for good; also past more
stored seqs than one look-up reads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.hub.store import CentralStore

DEVICE = "main-gate"
JOURNAL = "cd" * 16


def ev(seq: int) -> dict[str, Any]:
    return {"seq": seq, "boot_id": "b", "wall": 1_790_000_000.0 + seq, "mono": float(seq),
            "kind": "tap", "alarm": False, "clock_trusted": True, "uid": "04A1B2C3",
            "granted": True, "reason": "granted", "data": {}}


def overflow(seq: int, first: int, last: int) -> dict[str, Any]:
    return {**ev(seq), "kind": "journal_overflow", "alarm": True, "uid": None,
            "granted": None, "reason": None,
            "data": {"lost": last - first + 1, "first_seq": first, "last_seq": last}}


def send(store: CentralStore, events: list[dict[str, Any]]) -> int:
    """Store a batch of the journal; what its ack may cover."""
    return store.store_events(DEVICE, events, journal_id=JOURNAL)


def upto(store: CentralStore) -> int:
    """How far the journal is stored without a hole (what later acks may cover)."""
    [journal] = [j for j in store.journals() if j["journal_id"] == JOURNAL]
    return int(journal["events_upto"])


def test_an_ack_stops_at_a_hole_until_it_is_filled_or_dropped_for_good(
        store_at: Callable[[str], Path | str]) -> None:
    store = CentralStore(store_at("acks.db"), "site-a")
    try:
        assert send(store, [ev(s) for s in (1, 2, 3)]) == 3
        assert send(store, [ev(s) for s in range(10, 1500)]) == 3  # 4..9 on their way
        assert send(store, [ev(4), ev(5)]) == 5
        # 6 and 7 the journal dropped for good; its alarm is seq 8, and 9 still to come.
        assert send(store, [overflow(8, 6, 7)]) == 8
        # The hole filled: the ack moves past more stored seqs than one look-up reads.
        assert send(store, [ev(9)]) == 9  # an ack names no seq beyond its own batch
        assert upto(store) == 1499
        assert send(store, [ev(s) for s in range(1500, 1502)]) == 1501
        assert store.count_events(DEVICE) == 1501 - 2
        # A batch sent again changes nothing and is acknowledged as far as before.
        assert send(store, [ev(4), ev(5)]) == 5
        assert store.count_events(DEVICE) == 1501 - 2
    finally:
        store.close()


def test_a_gap_named_by_an_earlier_batch_is_crossed_when_the_hole_before_it_fills(
        store_at: Callable[[str], Path | str]) -> None:
    store = CentralStore(store_at("gaps.db"), "site-a")
    try:
        assert send(store, [ev(1)]) == 1
        # 3..5 dropped for good, named in seq 6; seq 2 not here yet.
        assert send(store, [overflow(6, 3, 5), ev(7)]) == 1
        assert send(store, [ev(2)]) == 2
        assert upto(store) == 7
        assert send(store, [ev(8)]) == 8
    finally:
        store.close()


def expected_ack(stored: set[int], gaps: list[tuple[int, int]], last: int) -> int:
    """The ack the rules above give: from 0 over every stored seq and dropped one without
    a hole, no further than the batch's own last seq."""
    dropped = {s for lo, hi in gaps for s in range(lo, hi + 1)}
    upto = 0
    while upto + 1 in stored or upto + 1 in dropped:
        upto += 1
    return min(upto, last)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(8)), repeat=st.lists(st.integers(0, 7), max_size=3),
       drop=st.sets(st.sampled_from([0, 2, 4, 6]), max_size=2))
def test_every_ack_is_what_the_rules_give_whatever_the_order_of_batches(
        store_at: Callable[[str], Path | str], order: list[int], repeat: list[int],
        drop: set[int]) -> None:
    """Eight batches of a journal (seqs 1-40, five each) arrive in any order, some twice;
    a dropped batch (never two in a row) is named by an overflow alarm in the next. Each
    ack is what the rules give, on both stores."""
    global _examples  # noqa: PLW0603 - a fresh journal for each example in one store
    _examples += 1
    journal = f"{_examples:032x}"
    batches: list[list[dict[str, Any]]] = []
    gaps: list[tuple[int, int]] = []
    for b in range(8):
        seqs = range(5 * b + 1, 5 * b + 6)
        if b in drop:
            gaps.append((seqs[0], seqs[-1]))
            batches.append([])
        else:
            batches.append([ev(s) for s in seqs])
    for lo, hi in gaps:  # the alarm is the first seq after the gap, in the next batch
        batches[hi // 5][0] = overflow(hi + 1, lo, hi)
    store = CentralStore(store_at("property.db"), "site-a")
    stored: set[int] = set()
    named: list[tuple[int, int]] = []
    try:
        for b in [*order, *repeat]:
            if not batches[b]:
                continue
            ack = store.store_events(DEVICE, batches[b], journal_id=journal)
            stored |= {int(e["seq"]) for e in batches[b]}
            named += [(int(e["data"]["first_seq"]), int(e["data"]["last_seq"]))
                      for e in batches[b] if e["kind"] == "journal_overflow"]
            assert ack == expected_ack(stored, named, int(batches[b][-1]["seq"]))
    finally:
        store.close()


_examples = 0
