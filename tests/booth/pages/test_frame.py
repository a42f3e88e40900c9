"""The booth page's frame: no sign-in goes to the sign-in page; the page is private and in
Chinese first."""

from __future__ import annotations

import httpx

from tests.booth.pages.conftest import RunningBooth


def test_every_answer_is_private_and_without_a_sign_in_goes_to_sign_in(
        booth: RunningBooth) -> None:
    answer = httpx.get(f"{booth.url}/language/en?next=/visitors", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    missing = httpx.get(f"{booth.url}/no-such-page")
    assert missing.status_code == 404
    assert "没有这个页面" in missing.text
