"""Card UIDs at the API: only what readers give (4, 7 or 10 bytes), and the desk's USB
reader's 10-digit decimal turned into the hex UID the gates read, in the site's byte
order, in bodies, paths and queries."""

from __future__ import annotations

from central.api.body_schema import BODIES
from central.form_fields import Uid
from central.form_input import FormInput, form_fields
from central.models import ReaderUidOrder
from central.services.context import Desk
from central.services.sites import load_site
from central.site_file import parse_toml
from edge.uid import uid_from_bytes

from ..conftest import EXAMPLES, application, auth_log, owner_line, row_counts
from .conftest import API, TestClient, errors_by_field

Headers = dict[str, dict[str, str]]
# The card's bytes as the gate's NFC reader reads them, and the desk reader's decimals.
CARD = bytes([0x04, 0xA1, 0xB2, 0xC3])
LSB_FIRST, MSB_FIRST = "3283263748", "0077705923"


def test_a_one_byte_uid_is_refused_and_nothing_charged(client: TestClient, desk: Desk,
                                                       as_role: Headers) -> None:
    before = row_counts(desk)
    form = application(desk, "王建国", [owner_line(desk, "AB", "王建国")])
    refused = client.post(f"{API}/cards/resident", json=form, headers=as_role["clerk"])
    assert refused.status_code == 422, refused.text
    assert "4, 7 or 10 bytes" in errors_by_field(refused.json())["lines[0].uid"]
    assert row_counts(desk) == before
    assert client.get(f"{API}/cards/AB", headers=as_role["clerk"]).status_code == 422
    assert client.get(f"{API}/register?card=04A1B2", headers=as_role["clerk"]).status_code \
        == 422


def test_the_card_swiped_at_the_desk_is_the_card_the_gate_reads(
        client: TestClient, desk: Desk, as_role: Headers) -> None:
    clerk = as_role["clerk"]
    form = application(desk, "王建国", [owner_line(desk, LSB_FIRST, "王建国")])
    issued = client.post(f"{API}/cards/resident", json=form, headers=clerk)
    assert issued.status_code == 201, issued.text
    assert issued.json()["cards"][0]["uid"] == uid_from_bytes(CARD)
    assert [e.uid for e in auth_log(desk)] == [uid_from_bytes(CARD)]
    # Path and query take the swipe too.
    shown = client.get(f"{API}/cards/{LSB_FIRST}", headers=clerk)
    assert (shown.status_code, shown.json()["uid"]) == (200, "04A1B2C3")
    entries = client.get(f"{API}/register?card={LSB_FIRST}", headers=clerk).json()
    assert [e["card_uid"] for e in entries] == ["04A1B2C3"]
    lost = client.get(f"{API}/loss-reports?uid={LSB_FIRST}", headers=clerk)
    assert lost.status_code == 200, lost.text


def test_a_site_whose_reader_sends_the_bytes_in_card_order(
        client: TestClient, desk: Desk, as_role: Headers) -> None:
    text = (EXAMPLES / "site.toml").read_text("utf-8").replace(
        "[settings]", '[settings]\ndesk_reader_uid_order = "msb_first"', 1)
    description = parse_toml(text)
    assert ("desk_reader_uid_order", ReaderUidOrder.MSB_FIRST) in description.settings
    load_site(desk, description)
    form = application(desk, "王建国", [owner_line(desk, MSB_FIRST, "王建国")])
    issued = client.post(f"{API}/cards/resident", json=form, headers=as_role["clerk"])
    assert issued.status_code == 201, issued.text
    assert issued.json()["cards"][0]["uid"] == uid_from_bytes(CARD)
    shown = client.get(f"{API}/cards/{MSB_FIRST}", headers=as_role["clerk"])
    assert shown.json()["uid"] == "04A1B2C3"


def test_every_uid_field_of_every_body_takes_the_desk_readers_form(client: TestClient) -> None:
    assert BODIES  # the app, made by the fixture, declared every body
    unmarked = []
    todo: list[type[FormInput]] = [body.cls for body in BODIES.values()]
    seen: set[type[FormInput]] = set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        for f in form_fields(cls):
            if f.nested is not None:
                todo.append(f.nested)
            elif f.key.endswith(("uid", "uids")) and not isinstance(
                    f.element if f.many else f.spec, Uid):
                unmarked.append(f"{cls.__name__}.{f.key}")
    assert len(seen) > 30 and unmarked == []
