"""``menwei-desk populate-demo``: a made-up site built through the desk's services is valid
by the rules (every card has its register line, every fee its receipt, the quota holds),
has the sizes asked for, a month of gate events in the central store that no gate takes for
its own journal, and is the same every time for the same seed."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import func, select

from central.db import make_engine, upgrade
from central.demo_people import id_check_character
from central.demo_population import PopulationError, PopulationSize, populate
from central.models import (
    DIRECT_RELATIVES,
    Card,
    CardState,
    Household,
    Person,
    Receipt,
    RegisterAction,
    RegisterEntry,
)
from central.services.context import Desk
from central.services.quota import household_quota
from central.services.sites import load_site
from central.site_file import read_site_file
from sync.hub.store import CentralStore

from .conftest import EXAMPLES, FAST_HASHER, SITE

END = datetime(2026, 6, 9, 2, 0, tzinfo=UTC)
SIZE = PopulationSize(households=40, cards=160, event_days=5, seed=7)


def build(tmp_path: Path, size: PopulationSize = SIZE) -> tuple[str, Path]:
    """The example site loaded in a fresh database, then populated."""
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    engine = make_engine(url)
    upgrade(engine)
    desk = Desk(engine)
    load_site(desk, read_site_file(EXAMPLES / "site.toml"))
    desk.close()
    store = tmp_path / "sync.db"
    populate(url, size, sync_store=store, end=END, hasher=FAST_HASHER)
    return url, store


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    return build(tmp_path_factory.mktemp("populated"))


def test_the_sizes_are_as_asked(built: tuple[str, Path]) -> None:
    engine = make_engine(built[0])
    with engine.connect() as conn:
        households = conn.scalar(select(func.count()).select_from(Household))
        cards = conn.scalar(select(func.count()).select_from(Card))
    engine.dispose()
    assert households == SIZE.households + 5  # the example site's five
    assert cards == SIZE.cards  # the example's people hold none


def test_every_card_has_its_register_line_and_every_fee_its_receipt(
        built: tuple[str, Path]) -> None:
    desk = Desk(make_engine(built[0]))
    with desk.sessions() as s:
        cards = s.scalars(select(Card)).all()
        lines = s.scalars(select(RegisterEntry)).all()
        receipts = s.scalars(select(Receipt)).all()
        by_card = Counter((e.card_uid, e.action) for e in lines)
        for card in cards:
            made = by_card[(card.uid, RegisterAction.ISSUE)] + by_card[
                (card.uid, RegisterAction.REPLACE)]
            assert made >= 1, f"{card.uid} has no issue line"
            if card.state is CardState.LOST:
                assert by_card[(card.uid, RegisterAction.REPORT_LOST)] == 1
        fee_lines = [e for e in lines if e.receipt_number is not None]
        numbers = {r.number for r in receipts}
        assert fee_lines and all(e.receipt_number in numbers for e in fee_lines)
        # I7: receipt numbers in sequence, their dates never going backwards.
        ordered = sorted(receipts, key=lambda r: r.number)
        assert [r.number for r in ordered] == list(range(ordered[0].number,
                                                         ordered[0].number + len(ordered)))
        assert all(a.issued_at <= b.issued_at for a, b in pairwise(ordered))
        assert any(c.state is CardState.LOST for c in cards)
        assert any(c.replaces_card_id is not None for c in cards)
    desk.close()


def test_the_household_quota_holds(built: tuple[str, Path]) -> None:
    desk = Desk(make_engine(built[0]))
    with desk.sessions() as s:
        for household in s.scalars(select(Household)):
            active = [c for c in s.scalars(select(Card).join(
                Person, Card.holder_person_id == Person.id).where(
                Person.household_id == household.id, Card.state == CardState.ACTIVE))]
            non_direct = [c for c in active if c.relation_to_applicant is not None
                          and c.relation_to_applicant not in DIRECT_RELATIVES]
            if non_direct:
                settings = household.unit.building.site.settings
                assert len(active) <= household_quota(settings, household.unit.area_m2)
    desk.close()


def test_a_month_of_gate_events_is_history_not_any_gates_journal(
        built: tuple[str, Path]) -> None:
    store = CentralStore(built[1], SITE)
    events = store.events_for(limit=100_000)
    assert len(events) > SIZE.households * SIZE.event_days
    assert {e["journal_id"] for e in events} == {f"demo-history-{e['device']}"
                                                 for e in events}
    assert {"main-gate", "b1-lobby", "carpark-in"} <= {e["device"] for e in events}
    reasons = Counter(e["reason"] for e in events if e["kind"] == "tap")
    assert reasons["granted"] > 0.8 * sum(reasons.values())
    assert reasons["unknown_card"] and reasons["not_permitted_here"]
    assert all(END.timestamp() - 5 * 86400 - 60 <= e["wall"] < END.timestamp()
               for e in events)
    assert store.device_status() == [] and store.alarms() == []
    store.close()


def test_the_same_seed_gives_the_same_site(built: tuple[str, Path], tmp_path: Path) -> None:
    again = build(tmp_path)

    def cards(url: str) -> list[tuple[str, str, str]]:
        desk = Desk(make_engine(url))
        with desk.sessions() as s:
            rows = [(c.uid, c.state.value, c.holder.name if c.holder else "")
                    for c in s.scalars(select(Card).order_by(Card.id))]
        desk.close()
        return rows

    def taps(path: Path) -> list[tuple[str, int, str | None]]:
        store = CentralStore(path, SITE)
        try:
            return [(e["device"], e["seq"], e["uid"]) for e in store.events_for(limit=100_000)]
        finally:
            store.close()

    assert cards(built[0]) == cards(again[0])
    assert taps(built[1]) == taps(again[1])


def test_made_up_id_numbers_carry_their_check_character(built: tuple[str, Path]) -> None:
    desk = Desk(make_engine(built[0]))
    with desk.sessions() as s:
        numbers = [n for n in s.scalars(select(Person.id_number)) if n and len(n) == 18]
    desk.close()
    # The example site's own people carry made-up numbers of another kind.
    example = {p.id_number for p in read_site_file(EXAMPLES / "site.toml").persons}
    numbers = [n for n in numbers if n not in example]
    assert len(numbers) > SIZE.households
    assert all(n[17] == id_check_character(n[:17]) for n in numbers)


def test_fewer_cards_than_households_is_refused_with_nothing_written(tmp_path: Path) -> None:
    with pytest.raises(PopulationError, match="cannot cover"):
        build(tmp_path, PopulationSize(households=10, cards=5))
    engine = make_engine(f"sqlite:///{tmp_path / 'desk.db'}")
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Household)) == 5
    engine.dispose()


def test_the_command_line_adds_a_population(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    run = [sys.executable, "-m", "central.cli"]
    subprocess.run([*run, "create-db", "--db", url], check=True, capture_output=True)
    subprocess.run([*run, "load-site", "--db", url, str(EXAMPLES / "site.toml")], check=True,
                   capture_output=True)
    done = subprocess.run([*run, "populate-demo", "--db", url, "--households", "12",
                           "--cards", "40", "--sync-store", str(tmp_path / "sync.db"),
                           "--event-days", "2"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "12 households" in done.stdout and "40 cards" in done.stdout
