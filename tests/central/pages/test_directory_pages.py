"""The household, person and card pages: what a clerk sees of a household at one glance."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from central.models import Staff
from central.services.context import Actor, Desk
from central.services.loss import ReportLoss, report_lost
from central.services.resident_cards import IssueResidentCards, issue_resident_cards

from ..conftest import (
    SITE,
    application,
    confirmation,
    household_of,
    new_line,
    owner_line,
    person,
)
from .conftest import RunningDesk, log_in


def actor(desk: Desk, username: str) -> Actor:
    """The fixture account ``username`` as the services' Actor."""
    with desk.sessions() as s:
        staff_id = s.scalars(select(Staff.id).where(Staff.username == username)).one()
    return Actor(staff_id, SITE)


@pytest.fixture(scope="module")
def wang(live: RunningDesk) -> int:
    """王建国's household (1-1201) with two cards, one of them reported lost."""
    clerk = actor(live.desk, "clerk")
    issue_resident_cards(live.desk, clerk, IssueResidentCards.from_form(application(
        live.desk, "王建国", [owner_line(live.desk, "04A1B2C3", "王建国"),
                           new_line("04A1B2C4", "王小宝", "child")],
        owner_confirmation=confirmation(live.desk, "王建国"))))
    report_lost(live.desk, clerk, ReportLoss.from_form({
        "uid": "04A1B2C4", "reporter_person_id": person(live.desk, "王小宝").id,
        "in_person": True, "balance_shown_yuan": "0.00", "holder_agrees": True,
        "signoff": {"signer_name": "王小宝"}}))
    return household_of(live.desk, "王建国")


def test_the_household_page_shows_people_cards_and_register(
        page: Page, live: RunningDesk, wang: int, shot: Callable[[Page, str], Path]) -> None:
    log_in(page, live, "clerk")
    page.goto(f"{live.url}/households/{wang}")
    expect(page.locator("h1")).to_contain_text("1-1201")
    people = page.locator("table.people")
    expect(people).to_contain_text("王建国")
    expect(people).to_contain_text("王小宝")
    cards = page.locator("table.cards")
    expect(cards.locator("tr.card-active")).to_contain_text("04A1B2C3")
    expect(cards.locator("tr.card-lost")).to_contain_text("已挂失")
    # Quota I4: active cards against the household's limit.
    expect(page.locator(".facts")).to_contain_text("1 / ")
    register = page.locator("table.register")
    expect(register).to_contain_text("发卡")
    expect(register).to_contain_text("挂失")
    # ID numbers leave masked to a clerk (G5).
    id_cell = people.locator("tr", has_text="王建国").locator("td.uid")
    expect(id_cell).to_contain_text("*")
    shot(page, "household")
    page.click("a.uid >> text=04A1B2C3")
    expect(page.locator("h1")).to_contain_text("04A1B2C3")
    expect(page.locator(".actions")).to_contain_text("挂失")
    shot(page, "card")
    page.click(".facts >> text=王建国")
    expect(page.locator("h1")).to_contain_text("王建国")


def test_a_lost_card_offers_the_replacement_not_the_loss(page: Page, live: RunningDesk,
                                                          wang: int) -> None:
    log_in(page, live, "clerk")
    page.goto(f"{live.url}/cards/04A1B2C4")
    actions = page.locator(".actions")
    expect(actions).to_contain_text("补卡")
    expect(actions).not_to_contain_text("挂失")


def test_a_guard_sees_a_card_but_not_the_household(page: Page, live: RunningDesk,
                                                    wang: int) -> None:
    log_in(page, live, "guard")
    page.goto(f"{live.url}/cards/04A1B2C3")
    expect(page.locator("h1")).to_contain_text("04A1B2C3")
    expect(page.locator(".actions")).not_to_contain_text("挂失")
    response = page.goto(f"{live.url}/households/{wang}")
    assert response is not None and response.status == 403
    expect(page.locator(".refusal")).to_contain_text("安管员无权办理此业务")


def test_an_unknown_household_or_card_is_a_plain_not_found(page: Page,
                                                           live: RunningDesk) -> None:
    log_in(page, live, "clerk")
    response = page.goto(f"{live.url}/households/999999")
    assert response is not None and response.status == 404
    expect(page.locator(".refusal")).to_contain_text("本小区没有此住户")
    response = page.goto(f"{live.url}/cards/not-a-card")
    assert response is not None and response.status == 422
