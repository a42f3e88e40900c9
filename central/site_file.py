"""The site description file read by ``menwei-desk load-site``: TOML (everything) or CSV
(one row per person: buildings, units, households, persons). Both are validated here, once,
into a frozen SiteDescription; every problem is reported at once with where it is.

The format is documented in docs/central.md, with examples in central/examples/.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from central.clock import zone
from central.forms import FormReader
from central.models import GateRole, HolderKind, HouseholdKind, Relationship, UnitKind
from central.models.site import DEFAULT_TIMEZONE, ReaderUidOrder
from central.refusals import FieldError, InvalidInputError


@dataclass(frozen=True)
class SiteInfo:
    """The site itself."""

    code: str
    name: str
    timezone: str


@dataclass(frozen=True)
class AccessGroupSpec:
    """An access group."""

    name: str
    description: str


@dataclass(frozen=True)
class GateSpec:
    """A gate and the groups it accepts."""

    code: str
    name: str
    role: GateRole
    access_groups: tuple[str, ...]


@dataclass(frozen=True)
class BoothSpec:
    """A guard booth: its device id, its name, and the gates of the site it drives."""

    code: str
    name: str
    gates: tuple[str, ...]


@dataclass(frozen=True)
class LotSpec:
    """A car park (issue 12): its id on the wire, its name, the lanes that count its entries
    and exits, and its spaces per class (fixed, monthly, temporary)."""

    code: str
    name: str
    gates: tuple[str, ...]
    fixed: int
    monthly: int
    temporary: int


@dataclass(frozen=True)
class BuildingSpec:
    """A building and the groups its residents' cards get by default."""

    code: str
    name: str
    access_groups: tuple[str, ...]


@dataclass(frozen=True)
class UnitSpec:
    """A unit with its area (rule I4)."""

    building: str
    number: str
    area_m2: Decimal
    kind: UnitKind


@dataclass(frozen=True)
class HouseholdSpec:
    """A household; ``key`` is how persons of the file refer to it."""

    key: str
    building: str
    unit: str
    kind: HouseholdKind
    started_on: date | None
    lease_end: date | None
    lease_contract_ref: str | None


@dataclass(frozen=True)
class PersonSpec:
    """A person; ``household`` None for merchants and staff."""

    household: str | None
    name: str
    holder_kind: HolderKind
    relationship: Relationship | None
    id_number: str | None
    phone: str | None
    organisation: str


@dataclass(frozen=True)
class SiteDescription:
    """Everything a site file says."""

    site: SiteInfo
    settings: tuple[tuple[str, Any], ...]
    access_groups: tuple[AccessGroupSpec, ...]
    gates: tuple[GateSpec, ...]
    buildings: tuple[BuildingSpec, ...]
    units: tuple[UnitSpec, ...]
    households: tuple[HouseholdSpec, ...]
    persons: tuple[PersonSpec, ...]
    booths: tuple[BoothSpec, ...] = ()
    lots: tuple[LotSpec, ...] = ()


# [settings] keys: file name -> (SiteSettings column, reader kind).
_SETTINGS: dict[str, tuple[str, str]] = {
    "card_fee_yuan": ("card_fee_fen", "fen"),
    "quota_area_threshold_m2": ("quota_area_threshold_m2", "decimal"),
    "quota_small_home": ("quota_small_home", "count"),
    "quota_large_home": ("quota_large_home", "count"),
    "free_replacement_months": ("free_replacement_months", "count"),
    "renovation_max_months": ("renovation_max_months", "count"),
    "renovation_schedule": ("renovation_schedule", "schedule"),
    "renovation_deposit_owner_yuan": ("renovation_deposit_owner_fen", "fen"),
    "renovation_deposit_contractor_yuan": ("renovation_deposit_contractor_fen", "fen"),
    "renovation_deposit_self_yuan": ("renovation_deposit_self_fen", "fen"),
    "visitor_pass_max_days": ("visitor_pass_max_days", "count"),
    "temp_parking_max_days": ("temp_parking_max_days", "count"),
    "goods_pass_months": ("goods_pass_months", "count"),
    "goods_slip_filing_time": ("goods_slip_filing_time", "hhmm"),
    "desk_reader_uid_order": ("desk_reader_uid_order", "uid_order"),  # central/uids.py
    # The seeds' approval steps (on unless the file says false).
    "goods_slip_approval": ("goods_slip_approval", "flag"),
    "renovation_manager_approval": ("renovation_manager_approval", "flag"),
    "parking_owner_unit_approval": ("parking_owner_unit_approval", "flag"),
    # Rule P6: a booth's cash float over this is paid in to the desk.
    "booth_float_limit_yuan": ("booth_float_limit_fen", "fen"),
}
# [settings] parking_tariff keys (rule P6, the booths' temporary-parking charge).
_TARIFF: dict[str, tuple[str, str]] = {
    "free_minutes": ("parking_free_minutes", "minutes"),
    "day_per_hour_yuan": ("parking_day_per_hour_fen", "fen"),
    "night_per_hour_yuan": ("parking_night_per_hour_fen", "fen"),
    "night_start": ("parking_night_start", "hhmm"),
    "night_end": ("parking_night_end", "hhmm"),
    "daily_cap_yuan": ("parking_daily_cap_fen", "fen"),
}
# A day's minutes: more free minutes than that would make the tariff free.
_MAX_FREE_MINUTES = 24 * 60
_TABLES = ("validity_months", "parking_tariff")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# A device id as the device configs allow it (firmware_config/settings.py): it becomes a
# level of MQTT topics and part of file names.
_DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_VALIDITY_KINDS = ("owner", "family", "tenant", "merchant", "staff")
_HOUSEHOLD_KINDS = {
    HouseholdKind.OWNERSHIP: {HolderKind.OWNER, HolderKind.FAMILY},
    HouseholdKind.TENANCY: {HolderKind.TENANT},
}


def _optional_table(r: FormReader, key: str) -> FormReader:
    """A table the file may leave out: absent reads as empty (every value keeps its
    default, as the example file says); present but not a table is still an error."""
    if key not in r.data:
        return FormReader({}, r.path(key), r.errors)
    return r.nested(key)


def _hhmm(r: FormReader, key: str) -> str | None:
    """A site-local time of day ``HH:MM`` (00:00 to 23:59)."""
    value = r.opt_text(key, 5)
    if value is not None and not _HHMM.match(value):
        r.fail(key, "时间格式应为 08:30（00:00 至 23:59）", "a time like 08:30 (00:00 to 23:59)")
    return value


def _setting(r: FormReader, key: str, kind: str) -> Any:
    if kind == "fen":
        return r.fen(key)
    if kind == "decimal":
        return r.opt_decimal(key)
    if kind == "count":
        return r.opt_integer(key, 1)
    if kind == "minutes":
        return r.opt_integer(key, 0, _MAX_FREE_MINUTES)
    if kind == "schedule":
        return r.opt_schedule(key)
    if kind == "uid_order":
        return r.opt_enum(key, ReaderUidOrder)
    if kind == "flag":
        return r.flag(key, default=True)
    return _hhmm(r, key)


def _settings(r: FormReader) -> tuple[tuple[str, Any], ...]:
    out: list[tuple[str, Any]] = []
    for key in r.data:
        if key not in _TABLES and key not in _SETTINGS:
            r.fail(key, "未知设置项", f"unknown setting; known: {', '.join(_TABLES)}, "
                   f"{', '.join(_SETTINGS)}")
    for key, (column, kind) in _SETTINGS.items():
        if r.present(key):
            out.append((column, _setting(r, key, kind)))
    tariff = _optional_table(r, "parking_tariff")
    for key in tariff.data:
        if key not in _TARIFF:
            tariff.fail(key, "未知的临时停车收费项", f"unknown tariff setting; known: "
                        f"{', '.join(_TARIFF)}")
    for key, (column, kind) in _TARIFF.items():
        if tariff.present(key):
            out.append((column, _setting(tariff, key, kind)))
    validity = _optional_table(r, "validity_months")
    for key in validity.data:
        if key not in _VALIDITY_KINDS:
            validity.fail(key, "未知持卡人类别", f"unknown holder kind; known: "
                          f"{', '.join(_VALIDITY_KINDS)}")
    for kind_name in _VALIDITY_KINDS:
        if not validity.present(kind_name):
            continue
        raw = validity.data[kind_name]
        # "none" is rule H5's permanent card (一经办理均为永久性).
        if isinstance(raw, str) and raw.strip().lower() == "none":
            out.append((f"validity_{kind_name}_months", None))
        else:
            out.append((f"validity_{kind_name}_months", validity.opt_integer(kind_name, 1)))
    return tuple(out)


def _gate(r: FormReader) -> GateSpec:
    return GateSpec(r.text("code", 64), r.opt_text("name") or r.text("code", 64),
                    r.enum("role", GateRole), r.names("access_groups"))


def _booth(r: FormReader) -> BoothSpec:
    code = r.text("code", 64)
    # The code is the booth's device id, a level of its MQTT topics (sync/wire/topics.py).
    if code and not _DEVICE_ID.match(code):
        r.fail("code", "岗亭代码即岗亭设备的 device id：只能用字母、数字和 . _ -",
               "the booth's device id: letters, digits, '.', '_' and '-'")
    errors_before = len(r.errors)
    gates = r.names("gates")
    if not gates and len(r.errors) == errors_before:
        r.fail("gates", "岗亭至少管一个门或道闸", "a booth drives at least one gate")
    return BoothSpec(code, r.opt_text("name") or code, gates)


def _lot(r: FormReader) -> LotSpec:
    code = r.text("id", 64)
    # The id names the lot in the lanes' counts on the broker (sync/wire/topics.py).
    if code and not _DEVICE_ID.match(code):
        r.fail("id", "停车场代码只能用字母、数字和 . _ -", "letters, digits, '.', '_' and '-'")
    errors_before = len(r.errors)
    gates = r.names("gates")
    if not gates and len(r.errors) == errors_before:
        r.fail("gates", "停车场至少有一个道闸", "a car park has at least one barrier lane")
    spaces = _optional_table(r, "spaces")
    counts = [spaces.opt_integer(k, 0, 1_000_000) or 0 for k in ("fixed", "monthly",
                                                                   "temporary")]
    for key in spaces.data if isinstance(spaces.data, dict) else ():
        if key not in ("fixed", "monthly", "temporary"):
            spaces.fail(key, "车位类别只有 fixed、monthly、temporary",
                        "space classes are fixed, monthly and temporary")
    return LotSpec(code, r.opt_text("name") or code, gates, *counts)


def _building(r: FormReader) -> BuildingSpec:
    code = r.text("code", 32)
    return BuildingSpec(code, r.opt_text("name") or code, r.names("access_groups"))


def _unit(r: FormReader) -> UnitSpec:
    area = r.opt_decimal("area_m2")
    if area is None:
        if not r.present("area_m2"):
            r.fail("area_m2", "必填（平方米）", "required (m²)")
        area = Decimal(0)
    elif area <= 0:
        r.fail("area_m2", "面积须大于零", "must be more than zero")
    return UnitSpec(r.text("building", 32), r.text("unit" if "unit" in r.data else "number", 32),
                    area, r.opt_enum("kind", UnitKind) or UnitKind.RESIDENCE)


def _household(r: FormReader) -> HouseholdSpec:
    kind = r.enum("kind", HouseholdKind)
    lease_end = r.opt_date("lease_end")
    if kind is HouseholdKind.TENANCY and lease_end is None and not r.present("lease_end"):
        r.fail("lease_end", "租户须填写租约到期日（规则 H2）",
               "a tenancy needs its lease end (rule H2)")
    return HouseholdSpec(r.text("key", 64), r.text("building", 32), r.text("unit", 32), kind,
                         r.opt_date("started_on"), lease_end, r.opt_text("lease_contract_ref"))


def _person(r: FormReader) -> PersonSpec:
    return PersonSpec(r.opt_text("household", 64), r.text("name", 100),
                      r.enum("holder_kind", HolderKind), r.opt_enum("relationship", Relationship),
                      r.opt_text("id_number", 32), r.opt_text("phone", 32),
                      r.opt_text("organisation") or "")


def _cross_check(d: SiteDescription, errors: list[FieldError]) -> None:
    def fail(where: str, zh: str, en: str) -> None:
        errors.append(FieldError(where, zh, en))

    def unique(items: list[Any], what: str) -> None:
        seen: set[Any] = set()
        for i, key in enumerate(items):
            if key in seen:
                fail(f"{what}[{i}]", "重复", f"{key} is given twice")
            seen.add(key)

    groups = {g.name for g in d.access_groups}
    unique([g.name for g in d.access_groups], "access_groups")
    unique([g.code for g in d.gates], "gates")
    unique([b.code for b in d.booths], "booths")
    gate_codes = {g.code for g in d.gates}
    for i, booth in enumerate(d.booths):
        if booth.code in gate_codes:
            fail(f"booths[{i}].code", "与门的代码重复（设备 id 须各不相同）",
                 f"{booth.code!r} is a gate's code: device ids are unique in a site")
        for gate in booth.gates:
            if gate not in gate_codes:
                fail(f"booths[{i}].gates", "未定义的门", f"{gate!r} is not in [[gates]]")
    unique([lot.code for lot in d.lots], "lots")
    barriers = {g.code for g in d.gates if g.role in (GateRole.BARRIER_ENTRY,
                                                       GateRole.BARRIER_EXIT)}
    counted: dict[str, str] = {}
    for i, lot in enumerate(d.lots):
        for gate in lot.gates:
            if gate not in gate_codes:
                fail(f"lots[{i}].gates", "未定义的门", f"{gate!r} is not in [[gates]]")
            elif gate not in barriers:
                fail(f"lots[{i}].gates", "停车场只由道闸计数",
                     f"{gate!r} is not a barrier lane (role barrier_entry or barrier_exit)")
            elif counted.setdefault(gate, lot.code) != lot.code:
                fail(f"lots[{i}].gates", "一个道闸只属于一个停车场",
                     f"{gate!r} already counts for car park {counted[gate]!r}")
    unique([b.code for b in d.buildings], "buildings")
    unique([(u.building, u.number) for u in d.units], "units")
    unique([h.key for h in d.households], "households")
    named: list[tuple[str, tuple[str, ...]]] = [
        *((f"gates[{i}]", g.access_groups) for i, g in enumerate(d.gates)),
        *((f"buildings[{i}]", b.access_groups) for i, b in enumerate(d.buildings))]
    for where, names in named:
        for name in names:
            if name not in groups:
                fail(f"{where}.access_groups", "未定义的门禁组",
                     f"{name!r} is not in [[access_groups]]")
    buildings = {b.code for b in d.buildings}
    for i, u in enumerate(d.units):
        if u.building not in buildings:
            fail(f"units[{i}].building", "未定义的楼栋", f"no building {u.building!r}")
    units = {(u.building, u.number) for u in d.units}
    kinds = {}
    for i, h in enumerate(d.households):
        kinds[h.key] = h.kind
        if (h.building, h.unit) not in units:
            fail(f"households[{i}].unit", "未定义的房号", f"no unit {h.building}-{h.unit}")
    for i, p in enumerate(d.persons):
        if p.household is None:
            if p.holder_kind not in (HolderKind.MERCHANT, HolderKind.STAFF):
                fail(f"persons[{i}].household", "住户须属于某一户",
                     "residents belong to a household (only merchants and staff may not)")
        elif p.household not in kinds:
            fail(f"persons[{i}].household", "未定义的住户", f"no household {p.household!r}")
        elif p.holder_kind not in _HOUSEHOLD_KINDS[kinds[p.household]]:
            fail(f"persons[{i}].holder_kind", "与住户类别不符",
                 f"a {kinds[p.household].value} household holds "
                 f"{' or '.join(sorted(k.value for k in _HOUSEHOLD_KINDS[kinds[p.household]]))}")


def parse_toml(text: str) -> SiteDescription:
    """Parse the TOML form (see docs/central.md)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError([FieldError("(file)", f"TOML 格式错误：{exc}",
                                            f"not valid TOML: {exc}")]) from exc
    r = FormReader(doc)
    for key in doc:
        if key not in {"site", "settings", "access_groups", "gates", "booths", "lots",
                       "buildings", "units", "households", "persons"}:
            r.fail(key, "未知的表", "unknown table")
    s = r.nested("site")
    timezone = s.opt_text("timezone", 64) or DEFAULT_TIMEZONE
    try:
        zone(timezone)
    except (ValueError, KeyError, OSError):
        s.fail("timezone", "未知时区", f"{timezone!r} is not a time zone such as Asia/Shanghai")
    desc = SiteDescription(
        site=SiteInfo(s.text("code", 64), s.text("name"), timezone),
        settings=_settings(_optional_table(r, "settings")),
        access_groups=r.items("access_groups", lambda g: AccessGroupSpec(
            g.text("name", 64), g.opt_text("description") or ""), max_items=10_000),
        gates=r.items("gates", _gate, max_items=10_000),
        buildings=r.items("buildings", _building, max_items=10_000),
        units=r.items("units", _unit, max_items=100_000),
        households=r.items("households", _household, max_items=100_000),
        persons=r.items("persons", _person, max_items=500_000),
        booths=r.items("booths", _booth, max_items=1000),
        lots=r.items("lots", _lot, max_items=100),
    )
    _cross_check(desc, r.errors)
    r.finish()
    return desc


CSV_COLUMNS = ("site_code", "site_name", "timezone", "building", "building_name", "unit",
               "area_m2", "unit_kind", "household", "household_kind", "started_on", "lease_end",
               "name", "holder_kind", "relationship", "id_number", "phone")


def parse_csv(text: str) -> SiteDescription:
    """Parse the CSV form: one row per person (or per unit with nobody on record).

    ``household`` is a label within the unit (``owner``, ``tenant``); rows with the same
    building, unit and label are one household.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    errors: list[FieldError] = []
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        errors.append(FieldError("line 1", "未知列", f"unknown column(s) {', '.join(unknown)}; "
                                 f"known: {', '.join(CSV_COLUMNS)}"))
    site: SiteInfo | None = None
    buildings: dict[str, BuildingSpec] = {}
    units: dict[tuple[str, str], UnitSpec] = {}
    households: dict[str, HouseholdSpec] = {}
    persons: list[PersonSpec] = []
    for line_no, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): v for k, v in raw.items() if isinstance(v, str)}
        r = FormReader(row, f"line {line_no}", errors)
        if site is None:
            site = SiteInfo(r.text("site_code", 64), r.text("site_name"),
                            r.opt_text("timezone", 64) or DEFAULT_TIMEZONE)
        elif (code := r.opt_text("site_code", 64)) and code != site.code:
            r.fail("site_code", "一个文件只能描述一个小区", f"the file is for site {site.code!r}")
        b = r.text("building", 32)
        buildings.setdefault(b, BuildingSpec(b, r.opt_text("building_name") or b, ()))
        unit = _unit(FormReader({**row, "kind": row.get("unit_kind", "")}, f"line {line_no}",
                                errors))
        known = units.setdefault((unit.building, unit.number), unit)
        if known.area_m2 != unit.area_m2:
            r.fail("area_m2", "同一房号面积不一致", f"{known.area_m2} on an earlier line")
        label = r.opt_text("household", 64)
        if label is not None:
            key = f"{unit.building}-{unit.number}-{label}"
            household = _household(FormReader(
                {**row, "key": key, "kind": row.get("household_kind", "")},
                f"line {line_no}", errors))
            households.setdefault(key, household)
            if r.present("name"):
                persons.append(_person(FormReader({**row, "household": key},
                                                  f"line {line_no}", errors)))
    if site is None:
        raise InvalidInputError([FieldError("(file)", "文件为空", "the file has no rows")])
    desc = SiteDescription(site, (), (), (), tuple(buildings.values()), tuple(units.values()),
                           tuple(households.values()), tuple(persons))
    _cross_check(desc, errors)
    if errors:
        raise InvalidInputError(errors)
    return desc


def read_site_file(path: Path) -> SiteDescription:
    """Read ``path`` as TOML (``.toml``) or CSV (``.csv``)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".toml":
        return parse_toml(text)
    if path.suffix.lower() == ".csv":
        return parse_csv(text)
    raise InvalidInputError([FieldError("(file)", "只支持 .toml 或 .csv 文件",
                                        f"{path.name}: use a .toml or .csv file")])
