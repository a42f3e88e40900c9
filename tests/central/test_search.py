"""The desk's search box (central/services/search.py): a unit however it is written, a
name, a phone whole or by its last digits, a card UID in any spelling (the desk reader's
decimal in both byte orders, labelled), a plate in any case; exact before prefix before
contains; never an ID number, never a visitor. The keys it searches are kept by the models
and filled in by migration 0006 for rows already there."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select, text

from central.db import WRITE_OPTION, alembic_config, make_engine
from central.models import (
    Building,
    Card,
    CardState,
    HolderKind,
    Household,
    HouseholdKind,
    Person,
    Relationship,
    Site,
    Unit,
    Vehicle,
)
from central.refusals import PermissionDeniedError
from central.services.context import Desk
from central.services.search import (
    CardHit,
    Hit,
    HouseholdHit,
    LinkKind,
    Match,
    MatchedOn,
    PersonHit,
    VehicleHit,
    search_desk,
)

from .conftest import NOW, Staffs, household_of, person

# 04A1B2C3 as a desk reader types it: bytes reversed (lsb_first, the site's default) and
# in card order (msb_first).
LSB_DECIMAL, MSB_DECIMAL = "3283263748", "0077705923"


@pytest.fixture
def site(desk: Desk) -> Desk:
    """The example site plus units with an entrance (1栋2单元301, 1栋2单元302 vacant), a
    household whose phone was typed with spaces, cards, a vehicle and a visitor."""
    with desk.write_sessions() as s, s.begin():
        building = s.scalars(select(Building).where(Building.code == "1")).one()
        lived = Unit(building=building, number="2单元301", area_m2=Decimal("90"))
        s.add_all([lived, Unit(building=building, number="2-302", area_m2=Decimal("90"))])
        household = Household(unit=lived, kind=HouseholdKind.OWNERSHIP, created_at=NOW)
        s.add(Person(site_id=building.site_id, household=household, name="黄小梅",
                     holder_kind=HolderKind.OWNER, relation_to_householder=Relationship.SELF,
                     phone="139 1234 5678", id_number="440301199101011111", created_at=NOW))
        s.add(Person(site_id=building.site_id, name="访客甲", holder_kind=HolderKind.VISITOR,
                     phone="13700009999", created_at=NOW))
        owner = s.scalars(select(Person).where(Person.name == "王建国")).one()
        for uid, state in (("04A1B2C3", CardState.ACTIVE), ("04A1B2C3D4E5F6", CardState.LOST)):
            s.add(Card(site_id=building.site_id, uid=uid, state=state,
                       holder_person_id=owner.id, holder_kind=HolderKind.OWNER,
                       created_at=NOW, updated_at=NOW))
        s.add(Card(site_id=building.site_id, uid="0BADC0DE", state=CardState.FORMATTED,
                   created_at=NOW, updated_at=NOW))
        s.add(Vehicle(site_id=building.site_id, plate="粤B12345", owner_person_id=owner.id,
                      created_at=NOW))
    return desk


def _first(hits: list[Hit]) -> Hit:
    assert hits, "nothing found"
    return hits[0]


@pytest.mark.parametrize("typed", ["1栋2单元301", "1-2-301", "1号楼2单元301室", "１－２－３０１",
                                   " 1 栋 2 单元 301 "])
def test_a_unit_however_it_is_written(site: Desk, staff: Staffs, typed: str) -> None:
    hit = _first(search_desk(site, staff.clerk, typed))
    assert isinstance(hit, HouseholdHit)
    assert (hit.match, hit.matched_on, hit.unit, hit.members) == (
        Match.EXACT, MatchedOn.UNIT, "1-2单元301", ("黄小梅",))
    assert hit.link is not None and hit.link.kind is LinkKind.HOUSEHOLD
    assert hit.link.target == str(household_of(site, "黄小梅"))


def test_a_unit_by_its_start_by_a_part_and_without_its_entrance(site: Desk,
                                                                staff: Staffs) -> None:
    started = search_desk(site, staff.clerk, "1栋2单元30")
    assert [(h.unit, h.match) for h in started if isinstance(h, HouseholdHit)] == [
        ("1-2单元301", Match.PREFIX), ("1-2-302", Match.PREFIX)]
    vacant = next(h for h in started if isinstance(h, HouseholdHit) and h.unit == "1-2-302")
    assert (vacant.household_id, vacant.link, vacant.members) == (None, None, ())
    # 2单元30 might be building 2's 30x too (2-301): that starts with it, so comes first.
    part = search_desk(site, staff.clerk, "2单元30")
    assert [(h.unit, h.match) for h in part if isinstance(h, HouseholdHit)] == [
        ("2-301", Match.PREFIX), ("1-2单元301", Match.CONTAINS), ("1-2-302", Match.CONTAINS)]
    skipped = _first(search_desk(site, staff.clerk, "1栋301"))
    assert isinstance(skipped, HouseholdHit)
    assert (skipped.unit, skipped.match) == ("1-2单元301", Match.CONTAINS)
    # A part is matched from the start of a token only: 01 is not inside 1201.
    assert not [h for h in search_desk(site, staff.clerk, "01")
                if isinstance(h, HouseholdHit) and h.unit == "1-1201"]


def test_a_unit_with_two_households_lists_both(site: Desk, staff: Staffs) -> None:
    hits = [h for h in search_desk(site, staff.clerk, "1-1202") if isinstance(h, HouseholdHit)]
    assert [(h.household_kind, h.members) for h in hits] == [
        (HouseholdKind.OWNERSHIP, ("陈国强",)), (HouseholdKind.TENANCY, ("赵磊",))]


def test_a_name_whole_by_its_start_or_in_part(site: Desk, staff: Staffs) -> None:
    exact = _first(search_desk(site, staff.clerk, "王建国"))
    assert isinstance(exact, PersonHit)
    assert (exact.match, exact.name, exact.unit, exact.phone) == (
        Match.EXACT, "王建国", "1-1201", "138****0002")
    assert exact.link.kind is LinkKind.PERSON and exact.link.target == str(
        person(site, "王建国").id)
    started = search_desk(site, staff.clerk, "王")
    assert [(h.name, h.match) for h in started if isinstance(h, PersonHit)] == [
        ("王小明", Match.PREFIX), ("王建国", Match.PREFIX), ("王芳", Match.PREFIX)]
    inside = search_desk(site, staff.clerk, "国")
    assert [(h.name, h.match) for h in inside if isinstance(h, PersonHit)] == [
        ("王建国", Match.CONTAINS), ("陈国强", Match.CONTAINS)]
    # A merchant has no household: found all the same.
    merchant = _first(search_desk(site, staff.clerk, "周静"))
    assert isinstance(merchant, PersonHit)
    assert (merchant.household_id, merchant.unit, merchant.organisation) == (
        None, None, "好邻居便利店")


def test_a_phone_whole_by_its_start_or_its_last_digits(site: Desk, staff: Staffs) -> None:
    whole = _first(search_desk(site, staff.clerk, "13800000002"))
    assert isinstance(whole, PersonHit)
    assert (whole.name, whole.match, whole.matched_on) == ("王建国", Match.EXACT,
                                                           MatchedOn.PHONE)
    last = _first(search_desk(site, staff.clerk, "0002"))
    assert isinstance(last, PersonHit)
    assert (last.name, last.match) == ("王建国", Match.LAST_DIGITS)
    # Typed with spaces on record, with dashes at the desk: the digits are compared.
    spaced = _first(search_desk(site, staff.clerk, "139-1234-5678"))
    assert isinstance(spaced, PersonHit)
    assert (spaced.name, spaced.match, spaced.phone) == ("黄小梅", Match.EXACT, "139****5678")
    started = [h for h in search_desk(site, staff.clerk, "1380000") if isinstance(h, PersonHit)]
    assert {h.name for h in started} == {"李明", "王建国", "陈国强", "赵磊", "周静"}
    assert {h.match for h in started} == {Match.PREFIX}


def test_id_numbers_and_visitors_are_never_found(site: Desk, staff: Staffs) -> None:
    # 王建国's ID number, whole and its end: no hit names him (rule G5).
    for typed in ("440301197503033456", "3456", "4403011975"):
        assert not [h for h in search_desk(site, staff.clerk, typed)
                    if isinstance(h, PersonHit)], typed
    assert search_desk(site, staff.clerk, "访客甲") == []
    assert search_desk(site, staff.clerk, "13700009999") == []


@pytest.mark.parametrize("typed", ["04A1B2C3", "04:a1:b2:c3", "04 a1 B2 c3", "04-A1-B2-C3"])
def test_a_card_uid_in_any_spelling(site: Desk, staff: Staffs, typed: str) -> None:
    hit = _first(search_desk(site, staff.clerk, typed))
    assert isinstance(hit, CardHit)
    assert (hit.uid, hit.match, hit.matched_on, hit.state, hit.holder_name, hit.unit) == (
        "04A1B2C3", Match.EXACT, MatchedOn.UID, CardState.ACTIVE, "王建国", "1-1201")
    assert hit.link.kind is LinkKind.CARD and hit.link.target == "04A1B2C3"
    # The 7-byte card starting the same way follows, by its start.
    assert [(h.uid, h.match) for h in search_desk(site, staff.clerk, typed)
            if isinstance(h, CardHit)] == [("04A1B2C3", Match.EXACT),
                                           ("04A1B2C3D4E5F6", Match.PREFIX)]


def test_the_desk_readers_decimal_in_both_byte_orders_labelled(site: Desk,
                                                              staff: Staffs) -> None:
    ours = _first(search_desk(site, staff.clerk, LSB_DECIMAL))
    assert isinstance(ours, CardHit)
    assert (ours.uid, ours.matched_on) == ("04A1B2C3", MatchedOn.READER_DECIMAL)
    other = _first(search_desk(site, staff.clerk, MSB_DECIMAL))
    assert isinstance(other, CardHit)
    assert (other.uid, other.matched_on) == ("04A1B2C3", MatchedOn.READER_DECIMAL_OTHER_ORDER)


def test_a_card_by_its_start_and_a_blank_card(site: Desk, staff: Staffs) -> None:
    started = [h for h in search_desk(site, staff.clerk, "04a1") if isinstance(h, CardHit)]
    assert [(h.uid, h.state, h.match) for h in started] == [
        ("04A1B2C3", CardState.ACTIVE, Match.PREFIX),
        ("04A1B2C3D4E5F6", CardState.LOST, Match.PREFIX)]
    blank = _first(search_desk(site, staff.clerk, "0badc0de"))
    assert isinstance(blank, CardHit)
    assert (blank.state, blank.holder_person_id, blank.holder_name) == (
        CardState.FORMATTED, None, None)


@pytest.mark.parametrize(("typed", "match"), [
    ("粤B12345", Match.EXACT), ("粤b·12345", Match.EXACT), ("粤B 123 45", Match.EXACT),
    ("粤b12", Match.PREFIX), ("b12345", Match.CONTAINS), ("B-123", Match.CONTAINS)])
def test_a_plate_in_any_case_with_or_without_its_dot(site: Desk, staff: Staffs, typed: str,
                                                     match: Match) -> None:
    hits = [h for h in search_desk(site, staff.clerk, typed) if isinstance(h, VehicleHit)]
    assert [(h.plate, h.match, h.owner_name, h.unit) for h in hits] == [
        ("粤B12345", match, "王建国", "1-1201")]
    assert hits[0].link is not None and hits[0].link.kind is LinkKind.PERSON


def test_exact_before_prefix_before_contains_and_at_most_limit(site: Desk,
                                                              staff: Staffs) -> None:
    # 2 starts building 2's 2-301 and is a token inside 1-2-301 and 1-2-302.
    hits = search_desk(site, staff.clerk, "2")
    assert [(h.unit, h.match) for h in hits if isinstance(h, HouseholdHit)] == [
        ("2-301", Match.PREFIX), ("1-2单元301", Match.CONTAINS), ("1-2-302", Match.CONTAINS)]
    assert len(hits) == 3
    assert [h.unit for h in search_desk(site, staff.clerk, "2", limit=2)
            if isinstance(h, HouseholdHit)] == ["2-301", "1-2单元301"]
    mixed = search_desk(site, staff.clerk, "0002")
    assert [h.match for h in mixed] == sorted((h.match for h in mixed),
                                              key=list(Match).index)
    assert search_desk(site, staff.clerk, "   ") == []


def test_only_the_desk_searches(site: Desk, staff: Staffs) -> None:
    for actor in (staff.guard, staff.admin):
        with pytest.raises(PermissionDeniedError):
            search_desk(site, actor, "王建国")
    assert search_desk(site, staff.director, "王建国")


def test_the_models_keep_the_keys(site: Desk, staff: Staffs) -> None:
    with site.write_sessions() as s, s.begin():
        unit = s.scalars(select(Unit).where(Unit.number == "2-302")).one()
        unit.number = "3-302"
        p = s.scalars(select(Person).where(Person.name == "王建国")).one()
        p.phone = "+86 136 0000 7777"
    assert search_desk(site, staff.clerk, "1栋2单元302") == []
    moved = _first(search_desk(site, staff.clerk, "1栋3单元302"))
    assert isinstance(moved, HouseholdHit) and moved.match is Match.EXACT
    renumbered = _first(search_desk(site, staff.clerk, "13600007777"))
    assert isinstance(renumbered, PersonHit) and renumbered.name == "王建国"
    assert not [h for h in search_desk(site, staff.clerk, "13800000002")
                if isinstance(h, PersonHit) and h.name == "王建国"]
    with site.write_sessions() as s, s.begin():
        s.scalars(select(Building).where(Building.code == "2")).one().code = "2A"
    renamed = _first(search_desk(site, staff.clerk, "2A-301"))
    assert isinstance(renamed, HouseholdHit) and renamed.match is Match.EXACT


def test_migration_0006_keys_the_rows_already_there(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
        command.upgrade(alembic_config(conn), "0005_desk_abuse")
        conn.execute(text("INSERT INTO sites (id, code, name, timezone, created_at) "
                          "VALUES (1, 's', 's', 'Asia/Shanghai', '2026-01-01')"))
        conn.execute(text("INSERT INTO buildings (id, site_id, code, name) "
                          "VALUES (1, 1, '7', '7栋')"))
        conn.execute(text("INSERT INTO units (id, building_id, number, kind, area_m2) "
                          "VALUES (1, 1, '2单元1501', 'residence', 90)"))
        conn.execute(text("INSERT INTO persons (id, site_id, name, holder_kind, phone, "
                          "organisation, created_at) VALUES (1, 1, '林', 'owner', "
                          "'138-0000-1234', '', '2026-01-01')"))
        command.upgrade(alembic_config(conn), "head")
        assert conn.execute(text("SELECT search_key FROM units")).scalar() == "-7-2-1501-"
        assert conn.execute(text("SELECT phone_digits, phone_digits_reversed FROM persons")
                            ).one() == ("13800001234", "43210000831")
    engine.dispose()


def test_site_is_the_callers_own(site: Desk, staff: Staffs) -> None:
    # Another site's unit with the same address is not found from this one.
    with site.write_sessions() as s, s.begin():
        other = Site(code="other", name="别处", timezone="Asia/Shanghai", created_at=NOW)
        s.add(other)
        s.flush()
        b = Building(site_id=other.id, code="1", name="1栋")
        s.add(Unit(building=b, number="2-301", area_m2=Decimal("90")))
        s.add(Person(site_id=other.id, name="王建国", holder_kind=HolderKind.OWNER,
                     created_at=NOW))
    assert [h.unit for h in search_desk(site, staff.clerk, "1-2-301")
            if isinstance(h, HouseholdHit)] == ["1-2单元301"]
    assert len([h for h in search_desk(site, staff.clerk, "王建国")
                if isinstance(h, PersonHit)]) == 1
