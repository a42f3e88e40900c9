"""A filtered list's page and its links (central/pages/list_filter.py): the next page
starts before the last line shown, keeping the filters; the first page links nowhere back;
a refused filter reads nothing."""

from __future__ import annotations

from fastapi import Request

from central.pages.list_filter import PAGE_SIZE, list_filter
from central.services.receipt_book import ReceiptFilter


def _request(query: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/receipts", "headers": [],
                    "query_string": query.encode()})


def test_a_full_page_links_to_the_next_with_the_same_filters() -> None:
    chosen = list_filter(ReceiptFilter, _request("unit=1-1201"), "Asia/Shanghai",
                         hidden=("before",))
    asked: list[tuple[ReceiptFilter, int]] = []

    def find(f: ReceiptFilter, limit: int) -> list[int]:
        asked.append((f, limit))
        return list(range(500, 500 - limit, -1))

    page = chosen.page("/receipts", find, lambda n: n)
    assert asked[0][0].unit == "1-1201" and asked[0][1] == PAGE_SIZE + 1
    assert len(page.items) == PAGE_SIZE and page.items[0] == 500
    assert page.next_url == f"/receipts?unit=1-1201&before={500 - PAGE_SIZE + 1}"
    assert page.first_url is None
    assert page.export_url == "/receipts.xlsx?unit=1-1201"
    assert chosen.status_code == 200


def test_a_later_page_links_back_to_the_newest_and_the_last_page_to_none() -> None:
    chosen = list_filter(ReceiptFilter, _request("before=20"), "Asia/Shanghai",
                         hidden=("before",))
    page = chosen.page("/receipts", lambda f, limit: [19, 18], lambda n: n)
    assert page.items == [19, 18]
    assert page.next_url is None
    assert page.first_url == "/receipts"


def test_a_refused_filter_reads_nothing_and_says_422() -> None:
    chosen = list_filter(ReceiptFilter, _request("since=2026-06-02&until=2026-06-01"),
                         "Asia/Shanghai", hidden=("before",))
    page = chosen.page("/receipts", lambda f, limit: [1], lambda n: n)
    assert chosen.chosen is None and list(page.items) == []
    assert chosen.status_code == 422
