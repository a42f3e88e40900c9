"""Guard sign-in at the booth, offline against the desk's list: the password is checked
with the desk's argon2 hash, a guard not in the list is refused, five failures within ten
minutes lock a username for the rest of the window (journalled as an alarm), and every
attempt is journalled."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from booth.refusals import BoothRefusal
from booth.service import BoothService
from booth.sign_in import MAX_FAILURES, WINDOW_SECONDS, SignInRefused, SignInThrottled
from tests.booth.booth_rig import GUARDS, PASSWORD, BoothRig, SettableClock, booth_list

WANG, LI = GUARDS[0].username, GUARDS[1].username


@pytest.fixture
def clock() -> SettableClock:
    """The booth's clock, turned by the test."""
    return SettableClock()


@pytest.fixture
def service(rig: BoothRig, clock: SettableClock) -> Iterator[BoothService]:
    """A booth over the rig's files with the desk's list kept (the gates are not needed)."""
    assert rig.config is not None
    rig.publish(booth_list(1))
    built = BoothService(rig.config, clock=clock)
    try:
        yield built
    finally:
        built.close()


def events(path: Path, *kinds: str) -> list[tuple[str, dict[str, object], int]]:
    """The journal's events of these kinds, oldest first: (kind, data, alarm)."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            f"SELECT kind, data, alarm FROM events WHERE kind IN ({','.join('?' * len(kinds))}) "
            "ORDER BY seq", kinds).fetchall()
    finally:
        conn.close()
    return [(k, json.loads(d), int(a)) for k, d, a in rows]


def test_a_listed_guard_signs_in_with_the_desk_password(service: BoothService) -> None:
    guard = service.sign_in.sign_in("  Wang.Guard ", PASSWORD)
    assert (guard.username, guard.name) == (WANG, "王保安")
    service.sign_in.sign_out(WANG)
    assert events(service.config.events_db, "booth_sign_in", "booth_sign_out") == [
        ("booth_sign_in", {"guard": WANG}, 0), ("booth_sign_out", {"guard": WANG}, 0)]


def test_a_wrong_password_and_an_unlisted_guard_are_refused_and_journalled(
        service: BoothService) -> None:
    with pytest.raises(SignInRefused) as wrong:
        service.sign_in.sign_in(WANG, "not-the-password")
    assert wrong.value.message_zh == "用户名或密码错误"
    with pytest.raises(SignInRefused) as unlisted:
        service.sign_in.sign_in("zhao.guard", PASSWORD)
    assert unlisted.value.message_zh == "此账号不能在本岗登录"
    assert events(service.config.events_db, "booth_sign_in", "booth_sign_in_refused") == [
        ("booth_sign_in_refused", {"username": WANG, "reason": "password"}, 0),
        ("booth_sign_in_refused", {"username": "zhao.guard", "reason": "not_listed"}, 0)]


def test_five_failures_lock_the_username_for_the_rest_of_the_window(
        service: BoothService, clock: SettableClock) -> None:
    start = clock.now
    for i in range(MAX_FAILURES):
        clock.now = start + i * 60
        with pytest.raises(SignInRefused):
            service.sign_in.sign_in(WANG, f"guess-{i}")
    # The right password now is refused without being checked, with the time to wait.
    clock.now = start + 5 * 60
    with pytest.raises(SignInThrottled) as locked:
        service.sign_in.sign_in(WANG, PASSWORD)
    assert locked.value.message_zh == "密码错误次数过多，请5分钟后再试"
    # Another guard is not held up by it.
    assert service.sign_in.sign_in(LI, PASSWORD).username == LI
    refused = events(service.config.events_db, "booth_sign_in_refused")
    assert [(d["reason"], a) for _k, d, a in refused] == [
        ("password", 0), ("password", 0), ("password", 0), ("password", 0), ("password", 1),
        ("throttled", 1)]
    # A throttled try does not extend the lock: once the first failure leaves the window,
    # the guard may try again.
    clock.now = start + WINDOW_SECONDS + 1
    assert service.sign_in.sign_in(WANG, PASSWORD).username == WANG


def test_a_success_forgets_the_failures_before_it(service: BoothService,
                                                  clock: SettableClock) -> None:
    for i in range(MAX_FAILURES - 1):
        with pytest.raises(SignInRefused):
            service.sign_in.sign_in(WANG, f"guess-{i}")
    service.sign_in.sign_in(WANG, PASSWORD)
    clock.now += 1
    with pytest.raises(SignInRefused) as again:
        service.sign_in.sign_in(WANG, "typo")
    assert not isinstance(again.value, SignInThrottled)
    assert service.sign_in.locked_for(WANG) == 0


def test_a_damaged_hash_matches_no_password(rig: BoothRig, service: BoothService) -> None:
    from dataclasses import replace

    rig.publish(booth_list(2, guards=[replace(GUARDS[0], password_hash="$argon2id$broken")]))
    with pytest.raises(SignInRefused):
        service.sign_in.sign_in(WANG, PASSWORD)


def test_nobody_signs_in_before_the_desk_list_arrived(rig: BoothRig,
                                                      clock: SettableClock) -> None:
    assert rig.config is not None
    service = BoothService(rig.config, clock=clock)
    try:
        with pytest.raises(BoothRefusal) as refused:
            service.sign_in.sign_in(WANG, PASSWORD)
        assert "尚未收到服务中心下发的岗亭名单" in refused.value.message_zh
    finally:
        service.close()
