"""What the gates pages read besides the API's answers: the site's gates by name (so the
page lists a gate that never reported) and the event feed's filters, declared once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from central.form_input import read_input
from central.refusals import DeskError, InvalidInputError
from central.services.context import Desk
from central.services.gate_events import EventOutcome, EventQuery
from central.services.gate_status import gate_names

from .conftest import Staffs


def test_the_sites_gates_by_code_in_the_site_files_order(desk: Desk, staff: Staffs) -> None:
    names = gate_names(desk, staff.guard)
    assert list(names.items())[:2] == [("main-gate", "小区大门"), ("b1-lobby", "1栋大堂")]
    assert set(names) == {"main-gate", "b1-lobby", "b2-lobby", "carpark-in", "carpark-out"}
    assert gate_names(desk, staff.clerk)["main-gate"] == "小区大门"  # the card's sync list


def test_the_event_filters_read_into_the_stores_filter() -> None:
    query = read_input(EventQuery, {"gate": "b1-lobby", "card": "04:a1:b2:c3",
                                    "outcome": "denied", "kind": "tap",
                                    "since": "2026-06-09T08:00:00+08:00"})
    wanted = query.event_filter(50)
    assert (wanted.device, wanted.uid, wanted.granted, wanted.kinds, wanted.limit) == \
        ("b1-lobby", "04A1B2C3", False, frozenset({"tap"}), 50)
    assert wanted.since == datetime(2026, 6, 9, 0, 0, tzinfo=UTC)
    assert wanted.newest_first
    everything = read_input(EventQuery, {}).event_filter(10)
    assert (everything.device, everything.uid, everything.granted, everything.kinds) == \
        (None, None, None, None)
    assert read_input(EventQuery, {"outcome": "granted"}).outcome is EventOutcome.GRANTED


def test_bad_event_filters_are_refused_each_beside_its_field() -> None:
    with pytest.raises(InvalidInputError) as refused:
        read_input(EventQuery, {"card": "not a card", "outcome": "maybe",
                                "since": "2026-06-09T10:00:00+08:00",
                                "until": "2026-06-09T09:00:00+08:00"})
    assert sorted(e.field for e in refused.value.errors) == ["card", "outcome", "until"]


def test_only_the_sites_staff_read_the_gate_names(desk: Desk, staff: Staffs) -> None:
    assert gate_names(desk, staff.admin)  # the administrator watches the devices
    with pytest.raises(DeskError):
        gate_names(desk, type(staff.admin)(999_999, "sunrise-garden"))  # no such staff


def test_the_event_filters_take_several_kinds_and_the_order() -> None:
    # One declaration for the page and GET /events: kinds separated by commas, the order.
    wanted = read_input(EventQuery, {"kind": "door_forced_open, door_held_open",
                                     "order": "oldest"}).event_filter(5)
    assert wanted.kinds == frozenset({"door_forced_open", "door_held_open"})
    assert not wanted.newest_first
    with pytest.raises(InvalidInputError) as refused:
        read_input(EventQuery, {"kind": "tap,DROP TABLE", "order": "sideways"})
    assert sorted(e.field for e in refused.value.errors) == ["kind", "order"]
