"""``wire_rows``, the bulk reading of a snapshot's cards, gives exactly the rows and refusals
of ``card_values(from_wire(...))``, the one-card path every other message takes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.auth_store import card_values, wire_rows
from edge.card_record import CardRecordError, from_wire

PLAIN = {"uid": "04A1B2C3", "status": "active", "valid_from": "2026-01-01",
         "valid_until": None, "access_groups": ["b1", "b2"], "schedule": None,
         "holder_kind": "owner", "plate": None}
PARKING = [{"group": "carpark", "space": "fixed", "space_no": "B-012", "plate": "粤B12345",
            "from": "2026-06-09", "until": "2026-07-08"}]

# Values a field may take on the wire, good and bad, so that every branch of the bulk path
# (and of its hand-over to from_wire) meets each.
FIELD_VALUES: dict[str, list[Any]] = {
    "uid": ["04A1B2C3", "04:a1:b2:c3", "04a1", "0", "", "XYZ", 7, None, "04" * 11],
    "status": ["active", "lost", "revoked", "Active", "", None, 1, True, ["active"]],
    "valid_from": [None, "2026-01-01", "20260101", "2026-02-30", "", 20260101, "2026-W01-1"],
    "valid_until": [None, "2030-12-31", "2030-13-01", True],
    "access_groups": [["b1"], [], ["b1", ""], ["a|b"], "b1", None, [1], [True]],
    "schedule": [None, "Mon-Sat 08:00-12:00 14:00-18:00", "mon-sat 08:00-12:00",
                 "Hol 09:00-11:00", "nonsense", "", 5],
    "holder_kind": [None, "owner", "", 3, False],
    "plate": [None, "粤B12345", "B12345", "", "not a plate!", 9],
    "parking": [None, [], PARKING, [{"group": ""}], "x", [None]],
}


def both(card: Any, seq: int = 7) -> tuple[object, object]:
    """What each path makes of ``card``: its row, or the refusal's message."""
    try:
        one: object = card_values(from_wire(card, seq, "cards[0]"))
    except CardRecordError as exc:
        one = ("refused", str(exc))
    try:
        bulk: object = wire_rows([card], seq, "cards")[0]
    except CardRecordError as exc:
        bulk = ("refused", str(exc))
    return one, bulk


def test_a_plain_card_and_a_card_with_parking_make_the_rows_from_wire_makes() -> None:
    for card in (PLAIN, {**PLAIN, "parking": PARKING, "plate": "粤B12345"}):
        one, bulk = both(card)
        assert isinstance(one, tuple) and one[0] == "04A1B2C3"  # a row, not a refusal
        assert bulk == one


@pytest.mark.parametrize("field", sorted(FIELD_VALUES))
def test_each_field_good_or_bad_is_judged_as_from_wire_judges_it(field: str) -> None:
    for value in FIELD_VALUES[field]:
        one, bulk = both({**PLAIN, field: value})
        assert bulk == one, (field, value)
    one, bulk = both({k: v for k, v in PLAIN.items() if k != field})
    assert bulk == one, (field, "missing")


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({k: st.sampled_from(v) for k, v in FIELD_VALUES.items()}),
       st.integers(min_value=0, max_value=2**40))
def test_any_mix_of_fields_is_judged_as_from_wire_judges_it(card: dict[str, Any],
                                                             seq: int) -> None:
    one, bulk = both(card, seq)
    assert bulk == one


def test_a_refusal_names_the_card_by_its_place_in_the_batch() -> None:
    with pytest.raises(CardRecordError, match=r"cards\[2\]: 'open'"):
        wire_rows([PLAIN, PLAIN, {**PLAIN, "status": "open"}], 1, "cards")
    with pytest.raises(CardRecordError, match=r"cards\[1\]: expected an object"):
        wire_rows([PLAIN, "04A1B2C3"], 1, "cards")
