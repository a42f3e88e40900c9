"""The site description file: TOML and CSV, every error at once, repeatable loads."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from central.cli import main
from central.models import Building, Gate, Household, HouseholdKind, Person, SiteSettings, Unit
from central.refusals import InvalidInputError
from central.services.context import Desk
from central.services.sites import load_site
from central.site_file import parse_csv, parse_toml, read_site_file

from .conftest import EXAMPLES


def test_example_toml_loads_everything(desk: Desk) -> None:
    with desk.sessions() as s:
        assert s.scalars(select(SiteSettings)).one().validity_owner_months == 24
        unit = s.scalars(select(Unit).where(Unit.number == "1201")).one()
        assert unit.area_m2 == Decimal("128.50") and unit.label == "1-1201"
        building = s.scalars(select(Building).where(Building.code == "1")).one()
        assert [g.name for g in building.default_access_groups] == ["common", "b1"]
        gate = s.scalars(select(Gate).where(Gate.code == "carpark-in")).one()
        assert [g.name for g in gate.access_groups] == ["carpark"]
        tenancy = s.scalars(select(Household).where(
            Household.kind == HouseholdKind.TENANCY)).one()
        assert tenancy.lease_end is not None and tenancy.lease_end.isoformat() == "2027-03-31"
        merchant = s.scalars(select(Person).where(Person.name == "周静")).one()
        assert merchant.household_id is None and merchant.organisation == "好邻居便利店"


def test_loading_again_adds_only_what_is_new(desk: Desk, tmp_path: Path) -> None:
    text = (EXAMPLES / "site.toml").read_text(encoding="utf-8")
    text += '\n[[persons]]\nhousehold = "2-301"\nname = "刘小洋"\nholder_kind = "family"\n'
    text = text.replace('validity_months = { owner = 24,', 'validity_months = { owner = "none",')
    text = text.replace('number = "1201"\narea_m2 = "128.5"', 'number = "1201"\narea_m2 = "140"')
    report = load_site(desk, parse_toml(text))
    assert not report.site_created
    assert report.added == {"persons": 1}
    assert report.existing["persons"] == 10 and report.existing["units"] == 5
    assert report.warnings == ["unit 1-1201: area stays 128.50 m² (file says 140)"]
    with desk.sessions() as s:
        assert s.scalars(select(SiteSettings)).one().validity_owner_months is None


def test_toml_errors_are_listed_at_once() -> None:
    bad = """
[site]
name = "x"
timezone = "Mars/Olympus"
[settings]
card_fee_yuan = 20.5
colour = "blue"
validity_months = { owner = 0, pets = 3 }
[[access_groups]]
name = "a"
[[buildings]]
code = "1"
access_groups = ["a", "nope"]
[[units]]
building = "9"
number = "101"
[[households]]
key = "h"
building = "1"
unit = "101"
kind = "tenancy"
[[persons]]
household = "h"
name = "x"
holder_kind = "owner"
"""
    with pytest.raises(InvalidInputError) as invalid:
        parse_toml(bad)
    fields = {e.field for e in invalid.value.errors}
    assert {"site.code", "site.timezone", "settings.card_fee_yuan", "settings.colour",
            "settings.validity_months.owner", "settings.validity_months.pets",
            "buildings[0].access_groups", "units[0].area_m2", "units[0].building",
            "households[0].lease_end", "households[0].unit",
            "persons[0].holder_kind"} <= fields


def test_csv_form(desk: Desk) -> None:
    desc = read_site_file(EXAMPLES / "site.csv")
    assert desc.site.code == "lakeside"
    assert [u.number for u in desc.units] == ["101", "102", "201"]
    assert len(desc.households) == 3 and len(desc.persons) == 4
    report = load_site(desk, desc)
    assert report.site_created and report.added["persons"] == 4
    with pytest.raises(InvalidInputError) as invalid:
        parse_csv("site_code,site_name,building,unit,area_m2,household,household_kind,name,"
                  "holder_kind,colour\n"
                  "s,S,A,101,,owner,ownership,x,owner,red\n"
                  "t,S,A,102,50,t,tenancy,y,tenant,\n")
    messages = [f"{e.field}: {e.message_en}" for e in invalid.value.errors]
    assert any(m.startswith("line 1: unknown column(s) colour") for m in messages)
    assert any(m.startswith("line 2.area_m2") for m in messages)
    assert any(m.startswith("line 3.site_code") for m in messages)
    assert any(m.startswith("line 3.lease_end") for m in messages)


def test_load_site_command_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    main(["create-db", "--db", url])
    assert main(["load-site", "--db", url, str(EXAMPLES / "site.toml")]) == 0
    out = capsys.readouterr().out
    assert "site sunrise-garden created" in out and "persons: 10 added" in out
    bad = tmp_path / "bad.toml"
    bad.write_text("[site]\ncode = 'x'\n[[units]]\nbuilding = 'q'\n", encoding="utf-8")
    assert main(["load-site", "--db", url, str(bad)]) == 2
    err = capsys.readouterr().err
    assert "nothing written" in err and "units[0].number" in err and "site.name" in err


def test_docs_name_every_command_and_setting() -> None:
    import argparse

    from central.cli import build_parser
    from central.site_file import _SETTINGS, CSV_COLUMNS

    docs = (Path(__file__).resolve().parents[2] / "docs" / "central.md").read_text("utf-8")
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command in sub.choices:
        assert f"menwei-desk {command}" in docs
    for key in _SETTINGS:
        # The three deposits are written once, as renovation_deposit_{owner,...}_yuan.
        shown = ("renovation_deposit_{owner,contractor,self}_yuan"
                 if key.startswith("renovation_deposit_") else key)
        assert f"`{shown}`" in docs, key
    for column in CSV_COLUMNS:
        assert column in docs


def test_site_file_without_settings_loads_with_defaults(desk: Desk) -> None:
    # The example file says [settings] is optional, and so is validity_months within it.
    bare = parse_toml('[site]\ncode = "bare"\nname = "空"\n')
    assert bare.settings == ()
    load_site(desk, bare)
    partial = parse_toml('[site]\ncode = "partial"\nname = "半"\n'
                         '[settings]\nquota_small_home = 3\n')
    assert partial.settings == (("quota_small_home", 3),)
    load_site(desk, partial)
    with desk.sessions() as s:
        settings = {row.site.code: row for row in s.scalars(select(SiteSettings))}
        assert settings["bare"].validity_owner_months == 24
        assert settings["bare"].goods_slip_filing_time == "08:30"
        assert settings["partial"].quota_small_home == 3
    with pytest.raises(InvalidInputError) as not_a_table:
        parse_toml('settings = 3\n[site]\ncode = "x"\nname = "y"\n')
    assert {e.field for e in not_a_table.value.errors} == {"settings"}


def test_approval_steps_are_site_settings() -> None:
    desc = parse_toml('[site]\ncode = "x"\nname = "y"\n[settings]\n'
                      'goods_slip_approval = false\nparking_owner_unit_approval = true\n')
    assert dict(desc.settings) == {"goods_slip_approval": False,
                                   "parking_owner_unit_approval": True}
    with pytest.raises(InvalidInputError) as invalid:
        parse_toml('[site]\ncode = "x"\nname = "y"\n[settings]\n'
                   'renovation_manager_approval = "maybe"\n')
    assert {e.field for e in invalid.value.errors} == {"settings.renovation_manager_approval"}
