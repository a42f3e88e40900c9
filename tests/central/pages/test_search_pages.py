"""The one search box, typed into as a clerk does: hits appear under it as they type, and
a card number typed in another spelling still finds the card."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from central.services.resident_cards import IssueResidentCards, issue_resident_cards

from ..conftest import application, owner_line
from .conftest import RunningDesk, log_in
from .test_directory_pages import actor


@pytest.fixture(scope="module")
def issued(live: RunningDesk) -> None:
    """王建国 (1-1201) holds card 04A1B2C3."""
    issue_resident_cards(live.desk, actor(live.desk, "clerk"), IssueResidentCards.from_form(
        application(live.desk, "王建国", [owner_line(live.desk, "04A1B2C3", "王建国")])))


def test_hits_appear_while_typing_and_open_the_household(
        page: Page, live: RunningDesk, issued: None,
        shot: Callable[[Page, str], Path]) -> None:
    log_in(page, live, "clerk")
    page.locator("#q").press_sequentially("王建", delay=40)
    hits = page.locator("#hits .hit")
    expect(hits.first).to_be_visible()
    expect(page.locator("#hits")).to_contain_text("王建国")
    shot(page, "search")
    page.locator("#hits .hit-person a", has_text="王建国").first.click()
    expect(page.locator("h1")).to_contain_text("王建国")


def test_a_card_number_in_another_spelling_is_found(page: Page, live: RunningDesk,
                                                     issued: None) -> None:
    log_in(page, live, "clerk")
    page.locator("#q").press_sequentially("04:a1:b2:c3", delay=20)
    expect(page.locator("#hits .hit-card")).to_contain_text("04A1B2C3")
    # Enter on an exact card number opens the card itself.
    page.locator("#q").press("Enter")
    expect(page.locator("h1")).to_contain_text("04A1B2C3")


def test_nothing_found_is_said_plainly(page: Page, live: RunningDesk) -> None:
    log_in(page, live, "clerk")
    page.locator("#q").press_sequentially("无此人", delay=20)
    expect(page.locator("#hits")).to_contain_text("没有找到“无此人”")


def test_the_admin_has_no_search_box(page: Page, live: RunningDesk) -> None:
    log_in(page, live, "admin")
    expect(page.locator("#q")).to_have_count(0)
    response = page.goto(f"{live.url}/search?q=1-1201")
    assert response is not None and response.status == 403
