"""A plate camera's read finds its card in a real auth.db within the lane's tolerance: exact
first, then look-alikes, then a misread province; a tolerant read that fits more than one
car finds nobody."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from edge.auth_store import AuthStore
from edge.card_record import CardRow
from edge.cards import CardStatus, ParkingRight
from edge.plate_match import MatchKind, match_plate, plate_of, same_car
from edge.plates import PlateTolerance

EXACT = PlateTolerance.EXACT
CONFUSIONS = PlateTolerance.CONFUSIONS
PROVINCE = PlateTolerance.CONFUSIONS_AND_PROVINCE


def row(uid: str, plate: str | None, *, status: CardStatus = CardStatus.ACTIVE,
        parking: tuple[ParkingRight, ...] = ()) -> CardRow:
    return CardRow(uid, status, None, None, ("b1",), None, "owner", plate, parking=parking)


def right(plate: str, until: date) -> ParkingRight:
    return ParkingRight(group="carpark", space_kind="floating", space_no=None, plate=plate,
                        starts_on=date(2026, 1, 1), paid_until=until)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AuthStore]:
    s = AuthStore(tmp_path / "auth.db")
    yield s
    s.close()


@pytest.fixture
def one_car(store: AuthStore) -> AuthStore:
    store.upsert([row("C1", "粤B12345"), row("C9", None), row("C8", "京A99999")])
    return store


@pytest.mark.parametrize(("read", "tolerance", "kind"), [
    ("粤B12345", EXACT, MatchKind.EXACT),
    ("粤B·12345", EXACT, MatchKind.EXACT),  # written another way, the same plate
    ("粤812345", EXACT, MatchKind.NONE),
    ("粤812345", CONFUSIONS, MatchKind.CONFUSION),
    ("粤BI2345", CONFUSIONS, MatchKind.CONFUSION),
    ("粤8I2345", CONFUSIONS, MatchKind.CONFUSION),
    ("湘B12345", CONFUSIONS, MatchKind.NONE),
    ("湘B12345", PROVINCE, MatchKind.PROVINCE),
    ("湘812345", PROVINCE, MatchKind.PROVINCE),  # province and a look-alike
    ("B12345", PROVINCE, MatchKind.PROVINCE),  # the province lost altogether
    ("B12345", CONFUSIONS, MatchKind.NONE),
    ("粤B12346", PROVINCE, MatchKind.NONE),
    ("粤B1234", PROVINCE, MatchKind.NONE),
])
def test_one_card_within_the_tolerance(one_car: AuthStore, read: str,
                                       tolerance: PlateTolerance, kind: MatchKind) -> None:
    found = match_plate(one_car, read, tolerance)
    assert found.kind is kind
    assert (found.card.uid if found.card else None) == ("C1" if kind is not MatchKind.NONE
                                                         else None)


def test_two_look_alike_cars_exact_read_finds_its_own_tolerant_is_ambiguous(
        store: AuthStore) -> None:
    store.upsert([row("B", "粤B12345"), row("EIGHT", "粤812345")])
    for tolerance in PlateTolerance:
        for read, uid in (("粤B12345", "B"), ("粤812345", "EIGHT")):
            found = match_plate(store, read, tolerance)
            assert (found.kind, found.card.uid if found.card else None) == (
                MatchKind.EXACT, uid)
    for tolerance in (CONFUSIONS, PROVINCE):
        found = match_plate(store, "粤BI2345", tolerance)
        assert (found.kind, found.card, found.candidates) == (MatchKind.AMBIGUOUS, None, 2)
    assert match_plate(store, "粤BI2345", EXACT).kind is MatchKind.NONE


def test_a_misread_province_fitting_two_cars_is_ambiguous(store: AuthStore) -> None:
    store.upsert([row("GD", "粤B12345"), row("HN", "湘B12345")])
    found = match_plate(store, "桂B12345", PROVINCE)
    assert (found.kind, found.card, found.candidates) == (MatchKind.AMBIGUOUS, None, 2)
    # Its own province's card is exact; the look-alike level before the province level.
    assert match_plate(store, "湘B12345", PROVINCE).kind is MatchKind.EXACT
    found = match_plate(store, "粤812345", PROVINCE)
    assert (found.kind, found.card.uid if found.card else None) == (MatchKind.CONFUSION, "GD")


def test_cards_of_one_plate_are_one_car_the_active_card_is_taken(store: AuthStore) -> None:
    # A replaced card: the lost one and its replacement carry the same plate.
    store.upsert([row("OLD", "粤B12345", status=CardStatus.LOST), row("NEW", "粤B12345")])
    for read, kind in (("粤B12345", MatchKind.EXACT), ("粤BI2345", MatchKind.CONFUSION),
                       ("湘B12345", MatchKind.PROVINCE)):
        found = match_plate(store, read, PROVINCE)
        assert (found.kind, found.card.uid if found.card else None) == (kind, "NEW")
        assert found.candidates == 2
    # Two active cards of one household's car: the one paid the longest.
    store.upsert([row("OLD", "粤B12345", parking=(right("粤B12345", date(2026, 9, 1)),))])
    found = match_plate(store, "粤B12345", EXACT)
    assert found.card is not None and found.card.uid == "OLD"


def test_a_lost_card_alone_is_still_found(store: AuthStore) -> None:
    # The decision then says why it does not open ("此卡已挂失").
    store.upsert([row("OLD", "粤B12345", status=CardStatus.LOST)])
    found = match_plate(store, "粤B12345", EXACT)
    assert found.card is not None and found.card.status is CardStatus.LOST


def test_a_plate_held_only_on_the_parking_right_is_found(store: AuthStore) -> None:
    store.upsert([row("P", None, parking=(right("粤B 12345", date(2026, 9, 1)),))])
    found = match_plate(store, "粤B12345", EXACT)
    assert (found.kind, found.card.uid if found.card else None) == (MatchKind.EXACT, "P")
    assert found.card is not None and plate_of(found.card) == "粤B12345"


def test_a_read_that_is_no_plate_finds_nobody(one_car: AuthStore) -> None:
    assert match_plate(one_car, "??", PROVINCE).kind is MatchKind.NONE
    assert match_plate(one_car, "", PROVINCE).kind is MatchKind.NONE


@pytest.mark.parametrize(("held", "read", "tolerance", "same"), [
    ("粤B12345", "粤B12345", EXACT, True),
    ("粤B·12345", "粤b12345", EXACT, True),
    ("粤B12345", "粤812345", EXACT, False),
    ("粤B12345", "粤812345", CONFUSIONS, True),
    ("粤B12345", "粤BI2345", CONFUSIONS, True),
    ("粤B12345", "湘B12345", CONFUSIONS, False),
    ("粤B12345", "湘B12345", PROVINCE, True),
    ("粤B12345", "湘812345", PROVINCE, True),
    ("粤B12345", "B12345", PROVINCE, True),
    ("粤B12345", "粤B12346", PROVINCE, False),
    ("粤B12345", "粤BD12345", PROVINCE, False),
    (None, "粤B12345", PROVINCE, False),
    ("not a plate!", "粤B12345", PROVINCE, False),
    ("粤B12345", "", PROVINCE, False),
])
def test_same_car(held: str | None, read: str, tolerance: PlateTolerance, same: bool) -> None:
    assert same_car(held, read, tolerance) is same
