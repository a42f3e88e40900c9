"""Card UIDs as the desk accepts them: 4, 7 or 10 bytes of hex, as the readers give them
(central/uids.py); the desk reader's 10-digit decimal is converted where the API reads it
(tests/central/api/test_card_uids_api.py)."""

from __future__ import annotations

import pytest

from central.models import ReaderUidOrder
from central.refusals import InvalidInputError
from central.services.context import Desk
from central.services.resident_cards import IssueResidentCards
from central.uids import desk_uid, from_reader

from .conftest import application, owner_line


@pytest.mark.parametrize("text", ["04A1B2C3", "04:a1:b2:c3:d4:e5:f6",
                                  "04 A1 B2 C3 D4 E5 F6 07 08 09"])
def test_4_7_and_10_byte_uids_are_accepted(text: str) -> None:
    assert desk_uid(text) == text.replace(":", "").replace(" ", "").upper()


@pytest.mark.parametrize("text", ["AB", "04A1", "04A1B2", "04A1B2C3D4", "04A1B2C3D4E5",
                                  "04A1B2C3D4E5F6A7", "04A1B2C3D4E5F6A7B8C9D0E1", "04A1B2C"])
def test_other_lengths_are_refused_per_field(desk: Desk, text: str) -> None:
    form = application(desk, "王建国", [owner_line(desk, text, "王建国")])
    with pytest.raises(InvalidInputError) as refused:
        IssueResidentCards.from_form(form)
    assert [e.field for e in refused.value.errors] == ["lines[0].uid"]
    assert "4, 7 or 10 bytes" in refused.value.errors[0].message_en


def test_reader_decimal_in_either_byte_order() -> None:
    # 04A1B2C3 read least-significant byte first is 0xC3B2A104 = 3283263748.
    assert from_reader("3283263748", ReaderUidOrder.LSB_FIRST) == "04A1B2C3"
    assert from_reader("0077705923", ReaderUidOrder.MSB_FIRST) == "04A1B2C3"
    assert from_reader(" 0077705923 ", ReaderUidOrder.LSB_FIRST) == "C3B2A104"
    # Hex, and ten digits no 4-byte UID gives, are left for the form to judge.
    assert from_reader("04A1B2C3", ReaderUidOrder.LSB_FIRST) == "04A1B2C3"
    assert from_reader("9999999999", ReaderUidOrder.LSB_FIRST) == "9999999999"
    with pytest.raises(ValueError, match="at most 4294967295"):
        desk_uid("9999999999")
    # Outside the API nothing knows the site's reader: a decimal is refused, never guessed.
    with pytest.raises(ValueError, match="desk_reader_uid_order"):
        desk_uid("3283263748")
