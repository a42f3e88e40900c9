"""Fixtures for the desk: a real SQLite file in tmp_path, migrated by the real migrations,
the example site loaded, one account per role, and a clock the test can move."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from central.clock import FixedClock
from central.db import make_engine, upgrade
from central.models import (
    AuthLogEntry,
    Base,
    Card,
    Person,
    Receipt,
    RegisterEntry,
    Role,
)
from central.services.context import Actor, Desk
from central.services.inputs import SignOff
from central.services.sites import load_site
from central.services.staff import NewStaff, create_staff
from central.site_file import parse_toml, read_site_file
from tests.desk_databases import fresh_desk_database

EXAMPLES = Path(__file__).resolve().parents[2] / "central" / "examples"
SITE = "sunrise-garden"
# 10:00 on 9 June 2026 in Shanghai.
NOW = datetime(2026, 6, 9, 2, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
# Real argon2id, cheap parameters: the tests hash dozens of passwords.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, desk_db_kind: str, tmp_path: Path) -> Iterator[str]:
    """A fresh desk database: a SQLite file, then (the same test again) PostgreSQL."""
    with fresh_desk_database(request, desk_db_kind, tmp_path) as url:
        yield url


@pytest.fixture
def empty_db_url(request: pytest.FixtureRequest, desk_db_kind: str,
                 tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, SQLite then PostgreSQL, for migration tests."""
    with fresh_desk_database(request, desk_db_kind, tmp_path, migrated=False) as url:
        yield url


@pytest.fixture
def clock() -> FixedClock:
    """The desk's clock, standing at NOW until a test moves it."""
    return FixedClock(NOW)


@pytest.fixture
def desk(db_url: str, clock: FixedClock) -> Iterator[Desk]:
    """A migrated database with the example site loaded."""
    engine = make_engine(db_url)
    upgrade(engine)
    desk = Desk(engine, clock, FAST_HASHER)
    load_site(desk, read_site_file(EXAMPLES / "site.toml"))
    yield desk
    desk.close()


@dataclass(frozen=True)
class Staffs:
    """One account per role at the example site."""

    clerk: Actor
    front_desk_lead: Actor
    customer_service_lead: Actor
    director: Actor
    guard: Actor
    admin: Actor


@pytest.fixture
def staff(desk: Desk) -> Staffs:
    """Accounts for every role."""
    actors = {}
    for role in Role:
        staff_id = create_staff(desk, NewStaff(role.value.replace("_", "-"), role.value, role,
                                               PASSWORD, SITE))
        actors[role.value] = Actor(staff_id, SITE)
    return Staffs(**actors)


def load_second_site(desk: Desk, code: str = "moonlight-court", name: str = "月光苑") -> None:
    """Another site of the company: the example site's description under another code."""
    text = (EXAMPLES / "site.toml").read_text(encoding="utf-8")
    text = text.replace('code = "sunrise-garden"', f'code = "{code}"', 1)
    text = text.replace('name = "阳光花园"', f'name = "{name}"', 1)
    load_site(desk, parse_toml(text))


def person(desk: Desk, name: str) -> Person:
    """The person of that name."""
    with desk.sessions() as s:
        return s.scalars(select(Person).where(Person.name == name)).one()


def household_of(desk: Desk, name: str) -> int:
    """The household id of that person."""
    household_id = person(desk, name).household_id
    assert household_id is not None
    return household_id


def card(desk: Desk, uid: str) -> Card:
    """The card as stored."""
    with desk.sessions() as s:
        return s.scalars(select(Card).where(Card.uid == uid)).one()


def groups_of(desk: Desk, uid: str) -> list[str]:
    """The access groups the card's grants (not cleared) give."""
    with desk.sessions() as s:
        c = s.scalars(select(Card).where(Card.uid == uid)).one()
        return sorted(g.access_group.name for g in c.active_grants)


def register(desk: Desk) -> list[RegisterEntry]:
    """The register, oldest first."""
    with desk.sessions() as s:
        return list(s.scalars(select(RegisterEntry).order_by(RegisterEntry.id)))


def receipts(desk: Desk) -> list[Receipt]:
    """Every receipt with its lines, by number."""
    with desk.sessions() as s:
        found = list(s.scalars(select(Receipt).order_by(Receipt.site_id, Receipt.number)))
        for r in found:
            _ = r.lines
        return found


def auth_log(desk: Desk) -> list[AuthLogEntry]:
    """The authorisation log, by sequence."""
    with desk.sessions() as s:
        return list(s.scalars(select(AuthLogEntry).order_by(AuthLogEntry.seq)))


def row_counts(desk: Desk) -> dict[str, int]:
    """How many rows each table holds: equal before and after means nothing was written."""
    with desk.engine.connect() as conn:
        return {name: conn.scalar(select(func.count()).select_from(table)) or 0
                for name, table in Base.metadata.tables.items()}


def signed(name: str) -> dict[str, str]:
    """A sign-off as a form gives it."""
    return {"signer_name": name, "reference": "登记表 p.12"}


def sign(name: str) -> SignOff:
    """A sign-off object."""
    return SignOff(name, "登记表 p.12")


def owner_line(desk: Desk, uid: str, name: str, relationship: str = "self",
               **extra: Any) -> dict[str, Any]:
    """A resident card line for a person on record, ID shown and signed."""
    p = person(desk, name)
    return {"uid": uid, "relationship": relationship, "holder_person_id": p.id,
            "id_number_presented": p.id_number, "holder_signoff": signed(name), **extra}


def new_line(uid: str, name: str, relationship: str) -> dict[str, Any]:
    """A resident card line for someone with no record."""
    return {"uid": uid, "relationship": relationship, "new_holder": {"name": name},
            "holder_signoff": signed(name)}


def application(desk: Desk, applicant: str, lines: list[dict[str, Any]],
                **extra: Any) -> dict[str, Any]:
    """A resident card application form."""
    return {"household_id": household_of(desk, applicant),
            "applicant_person_id": person(desk, applicant).id, "applicant_in_person": True,
            "lines": lines, **extra}


def confirmation(desk: Desk, owner: str, method: str = "phone") -> dict[str, Any]:
    """Rule H1's owner confirmation."""
    return {"owner_person_id": person(desk, owner).id, "method": method,
            "confirmed_at": "2026-06-09T09:50:00+08:00"}
