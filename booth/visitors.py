"""Visitors at the gate (rules G5, H7): the guard registers who comes in — name, the ID
shown, plate, the unit visited, items, the time in, and how the host confirmed — and
signs them out when they leave. A visitor pass issued at the desk (H7) reaches the booth in
the desk's list and is checked in against: it pre-fills the form and is linked to the visit.

The ID number is kept in full in the ``visits`` table and in the ``visitor_in`` journal
event (at the desk only the director sees it in full); everything the booth shows or
returns carries it masked (booth/id_numbers.py), and nothing here logs it."""

from __future__ import annotations

import enum
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from booth.id_numbers import IdDocument, IdKind, mask_id_number, read_id_document
from booth.refusals import BoothRefusal
from booth.store import BoothStore
from sync.wire.booth_list import BoothList, BoothVisitorPass

MIGRATIONS = [
    """
    CREATE TABLE visits (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        id_kind TEXT NOT NULL,
        id_number TEXT NOT NULL,
        plate TEXT,
        host_unit TEXT NOT NULL,
        items TEXT NOT NULL,
        time_in REAL NOT NULL,
        host_confirm_method TEXT NOT NULL,
        host_confirmed_by TEXT NOT NULL,
        visitor_pass_id INTEGER,
        guard TEXT NOT NULL,
        time_out REAL,
        out_guard TEXT
    );
    CREATE INDEX visits_in ON visits (time_out, time_in)
    """,
]

MAX_NAME = 50
MAX_UNIT = 32
MAX_ITEMS = 200
MAX_PLATE = 10
# What guards type between the parts of a plate (粤B·12345, 粤B 12345, 粤B-12345).
_PLATE_NOISE = str.maketrans("", "", " \t·•.-_")


class HostConfirmation(enum.StrEnum):
    """How the visited household confirmed the visitor. ``NOT_REACHED`` is recorded, not
    refused: the guard decides whether to let the visitor in."""

    PHONE = "phone"
    IN_PERSON = "in_person"
    PASS = "pass"  # the inviting resident confirmed the desk's visitor pass (H7)
    NOT_REACHED = "not_reached"


def normalize_plate(text: str) -> str:
    """A plate as stored: separators dropped, letters upper case (``粤b·12345`` → ``粤B12345``);
    the same spelling as the desk's (central/services/parking_space.py)."""
    return text.translate(_PLATE_NOISE).upper()


def site_today(wall: float, timezone: str) -> date:
    """The site-local date at ``wall``."""
    return datetime.fromtimestamp(wall, ZoneInfo(timezone)).date()


def _day_bounds(day: date, timezone: str) -> tuple[float, float]:
    tz = ZoneInfo(timezone)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end = start + timedelta(days=1)
    return start.timestamp(), end.timestamp()


@dataclass(frozen=True)
class VisitorEntry:
    """What the guard typed to register a visitor (read once from the form)."""

    name: str
    id_kind: str
    id_number: str
    plate: str
    host_unit: str
    items: str
    host_confirm_method: str
    host_confirmed_by: str
    visitor_pass_id: int | None = None

    def __repr__(self) -> str:
        # The typed ID number never reaches a log line, even through an error's repr.
        return (f"VisitorEntry(name={self.name!r}, id_kind={self.id_kind!r}, "
                f"id_number={mask_id_number(self.id_number)!r}, host_unit={self.host_unit!r})")


@dataclass(frozen=True)
class Visit:
    """One visit as the booth shows it: the ID number masked."""

    visit_id: str
    name: str
    id_kind: IdKind
    id_masked: str
    plate: str | None
    host_unit: str
    items: str
    time_in: float
    host_confirm_method: HostConfirmation
    host_confirmed_by: str
    visitor_pass_id: int | None
    guard: str
    time_out: float | None


def _visit(row: sqlite3.Row) -> Visit:
    return Visit(row["id"], row["name"], IdKind(row["id_kind"]),
                 mask_id_number(row["id_number"]), row["plate"], row["host_unit"],
                 row["items"], row["time_in"], HostConfirmation(row["host_confirm_method"]),
                 row["host_confirmed_by"], row["visitor_pass_id"], row["guard"],
                 row["time_out"])


@dataclass(frozen=True)
class PassCheck:
    """A desk's visitor pass as the booth judges it now: ``usable``, or refused with
    ``refusal`` (not valid today, or its visitor is in already)."""

    visitor_pass: BoothVisitorPass
    refusal: BoothRefusal | None

    @property
    def usable(self) -> bool:
        """Whether the visitor can be checked in under this pass now."""
        return self.refusal is None


def _text(value: str, limit: int, field: str, what_zh: str, what_en: str, *,
          required: bool) -> str:
    text = " ".join(value.split())
    if required and not text:
        raise BoothRefusal(f"请填写{what_zh}", f"{what_en} is required", field)
    if len(text) > limit:
        raise BoothRefusal(f"{what_zh}不能超过{limit}个字", f"{what_en}: at most {limit} "
                           "characters", field)
    return text


class Visitors:
    """The booth's visitor register."""

    def __init__(self, store: BoothStore, booth_list: Callable[[], BoothList]) -> None:
        self.store = store
        self.booth_list = booth_list
        store.migrate("visitors", MIGRATIONS)

    def today(self) -> date:
        """The site-local date now."""
        return site_today(self.store.clock.wall(), self.booth_list().timezone)

    # --- the desk's visitor passes (H7) ---

    def judge_pass(self, visitor_pass: BoothVisitorPass) -> PassCheck:
        """Whether ``visitor_pass`` can be checked in now, with the reason when not."""
        today = self.today()
        refusal: BoothRefusal | None = None
        if today < visitor_pass.valid_from:
            refusal = BoothRefusal(
                f"此访客通行证自 {visitor_pass.valid_from.isoformat()} 起才有效，今天不能使用",
                f"this visitor pass is valid only from {visitor_pass.valid_from.isoformat()}",
                "visitor_pass_id")
        elif today > visitor_pass.valid_until:
            refusal = BoothRefusal(
                f"此访客通行证已于 {visitor_pass.valid_until.isoformat()} 到期",
                f"this visitor pass expired on {visitor_pass.valid_until.isoformat()}",
                "visitor_pass_id")
        elif self.store.one("SELECT 1 FROM visits WHERE visitor_pass_id = ? AND time_out "
                            "IS NULL", (visitor_pass.pass_id,)):
            refusal = BoothRefusal("持此通行证的访客已在园内，尚未登记离开",
                                   "the visitor of this pass is in already (not signed out)",
                                   "visitor_pass_id")
        return PassCheck(visitor_pass, refusal)

    def find_pass(self, pass_id: int) -> PassCheck:
        """The desk's visitor pass ``pass_id`` judged for today; refused when the desk's
        list does not hold it."""
        for visitor_pass in self.booth_list().visitor_passes:
            if visitor_pass.pass_id == pass_id:
                return self.judge_pass(visitor_pass)
        raise BoothRefusal(f"没有编号为 {pass_id} 的访客通行证", f"no visitor pass {pass_id}",
                           "visitor_pass_id")

    def expected_today(self) -> list[PassCheck]:
        """The desk's passes valid today, the unconfirmed and those already in included."""
        today = self.today()
        return [self.judge_pass(p) for p in self.booth_list().visitor_passes
                if p.valid_from <= today <= p.valid_until]

    # --- registering and signing out ---

    def _checked(self, entry: VisitorEntry) -> tuple[str, IdDocument, str | None, str, str,
                                                     HostConfirmation, str]:
        name = _text(entry.name, MAX_NAME, "name", "访客姓名", "the visitor's name",
                     required=True)
        document = read_id_document(entry.id_kind, entry.id_number)
        plate = normalize_plate(entry.plate) or None
        if plate is not None and (len(plate) > MAX_PLATE or len(plate) < 5
                                  or not plate.isalnum()):
            raise BoothRefusal("车牌号格式不正确（如 粤B12345）",
                               "the plate is not a plate (like 粤B12345)", "plate")
        host_unit = _text(entry.host_unit, MAX_UNIT, "host_unit", "被访房号",
                          "the unit visited", required=True)
        items = _text(entry.items, MAX_ITEMS, "items", "携带物品", "the items", required=False)
        try:
            method = HostConfirmation(entry.host_confirm_method)
        except ValueError:
            raise BoothRefusal("请选择住户确认方式（电话、当面，或未联系上）",
                               "choose how the host confirmed (phone, in person, or not "
                               "reached)", "host_confirm_method") from None
        confirmed_by = _text(entry.host_confirmed_by, MAX_NAME, "host_confirmed_by",
                             "确认住户姓名", "the confirming resident's name",
                             required=method in (HostConfirmation.PHONE,
                                                 HostConfirmation.IN_PERSON))
        if method is HostConfirmation.NOT_REACHED:
            confirmed_by = ""
        return name, document, plate, host_unit, items, method, confirmed_by

    def register(self, entry: VisitorEntry, guard: str) -> Visit:
        """Register a visitor coming in now (``visitor_in``); the visit, ID masked."""
        name, document, plate, host_unit, items, method, confirmed_by = self._checked(entry)
        if entry.visitor_pass_id is not None:
            check = self.find_pass(entry.visitor_pass_id)
            if check.refusal is not None:
                raise check.refusal
            if method is HostConfirmation.PASS and not check.visitor_pass.confirmed:
                raise BoothRefusal("此通行证尚未经住户确认，请电话或当面联系住户",
                                   "the host has not confirmed this pass: call or meet them",
                                   "host_confirm_method")
        elif method is HostConfirmation.PASS:
            raise BoothRefusal("没有访客通行证时，请电话或当面联系住户确认",
                               "without a visitor pass, confirm with the host by phone or "
                               "in person", "host_confirm_method")
        visit_id = uuid.uuid4().hex
        with self.store.record() as rec:
            now = self.store.clock.wall()
            if entry.visitor_pass_id is not None and rec.execute(
                    "SELECT 1 FROM visits WHERE visitor_pass_id = ? AND time_out IS NULL",
                    (entry.visitor_pass_id,)).fetchone():
                raise BoothRefusal("持此通行证的访客已在园内，尚未登记离开",
                                   "the visitor of this pass is in already (not signed out)",
                                   "visitor_pass_id")
            rec.execute(
                "INSERT INTO visits (id, name, id_kind, id_number, plate, host_unit, items, "
                "time_in, host_confirm_method, host_confirmed_by, visitor_pass_id, guard) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (visit_id, name, document.kind.value, document.number, plate, host_unit,
                 items, now, method.value, confirmed_by, entry.visitor_pass_id, guard))
            rec.append("visitor_in", {
                "visit_id": visit_id, "name": name, "id_kind": document.kind.value,
                "id_number": document.number, "plate": plate, "host_unit": host_unit,
                "items": items, "time_in": now, "host_confirmed_by": confirmed_by,
                "host_confirm_method": method.value,
                "visitor_pass_id": entry.visitor_pass_id, "guard": guard})
        return self.visit(visit_id)

    def sign_out(self, visit_id: str, guard: str) -> Visit:
        """The visitor left now (``visitor_out``); refused when already signed out."""
        with self.store.record() as rec:
            row = rec.execute("SELECT time_out FROM visits WHERE id = ?",
                              (visit_id,)).fetchone()
            if row is None:
                raise BoothRefusal("没有这条访客登记", "no such visit", "visit_id")
            if row[0] is not None:
                raise BoothRefusal("此访客已登记离开", "this visitor has left already",
                                   "visit_id")
            now = self.store.clock.wall()
            rec.execute("UPDATE visits SET time_out = ?, out_guard = ? WHERE id = ?",
                        (now, guard, visit_id))
            rec.append("visitor_out", {"visit_id": visit_id, "time_out": now,
                                       "guard": guard})
        return self.visit(visit_id)

    # --- what the page lists ---

    def visit(self, visit_id: str) -> Visit:
        """One visit (ID masked)."""
        row = self.store.one("SELECT * FROM visits WHERE id = ?", (visit_id,))
        if row is None:
            raise BoothRefusal("没有这条访客登记", "no such visit", "visit_id")
        return _visit(row)

    def inside(self) -> list[Visit]:
        """Visitors in now (not signed out, whatever day they came), oldest first."""
        return [_visit(r) for r in self.store.query(
            "SELECT * FROM visits WHERE time_out IS NULL ORDER BY time_in, id")]

    def left_today(self) -> list[Visit]:
        """Visitors signed out today (site-local), the latest first."""
        start, end = _day_bounds(self.today(), self.booth_list().timezone)
        return [_visit(r) for r in self.store.query(
            "SELECT * FROM visits WHERE time_out >= ? AND time_out < ? "
            "ORDER BY time_out DESC, id", (start, end))]
