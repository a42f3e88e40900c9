"""Shifts at a booth (rule P6): a guard takes over the post with the cash float in hand;
the temporary-parking charges of the shift go into its float; at handover the float, the
invoices issued and the open issues pass to the next guard.

A shift's float now is its opening float, plus the cash its charges took (the cash sources:
the parking part registers one), minus what was paid in to the desk during it. Handover is
one transaction: the shift closes with what it hands over, the next guard (who signed in on
the same form) opens the next shift with that float as its opening float, and a float over
the list's limit journals ``float_over_limit`` as an alarm. The booth shows a banner while
the float of the open shift is over the limit, whatever brought it there, until a payment
in to the desk brings it back down (see docs/booth.md for the records)."""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from booth.refusals import BoothRefusal
from booth.sign_in import SignIn, normal_username
from booth.store import BoothStore, Recording
from sync.wire.booth_list import BoothGuard, BoothList

# A cash source: (charges, fen) a shift took in cash, by the shift's id.
CashSource = Callable[[str], tuple[int, int]]
MAX_YUAN = 1_000_000
MAX_INVOICES = 100_000
_YUAN = re.compile(r"^(\d{1,7})(?:\.(\d{1,2}))?$")

MIGRATIONS = [
    """
    CREATE TABLE shifts (
        id TEXT PRIMARY KEY,
        guard TEXT NOT NULL,
        guard_name TEXT NOT NULL,
        started_at REAL NOT NULL,
        opening_float_fen INTEGER NOT NULL CHECK (opening_float_fen >= 0),
        ended_at REAL,
        handed_to TEXT
    );
    CREATE UNIQUE INDEX shifts_one_open ON shifts ((1)) WHERE ended_at IS NULL
    """,
    """
    ALTER TABLE shifts ADD COLUMN handed_to_name TEXT;
    ALTER TABLE shifts ADD COLUMN next_shift_id TEXT;
    ALTER TABLE shifts ADD COLUMN charges INTEGER;
    ALTER TABLE shifts ADD COLUMN cash_fen INTEGER;
    ALTER TABLE shifts ADD COLUMN paid_in_fen INTEGER;
    ALTER TABLE shifts ADD COLUMN float_fen INTEGER;
    ALTER TABLE shifts ADD COLUMN invoices INTEGER;
    ALTER TABLE shifts ADD COLUMN notes TEXT;
    CREATE TABLE float_paid_in (
        id TEXT PRIMARY KEY,
        shift_id TEXT NOT NULL REFERENCES shifts (id),
        guard TEXT NOT NULL,
        amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
        at REAL NOT NULL
    );
    CREATE INDEX float_paid_in_shift ON float_paid_in (shift_id)
    """,
    # 3: when the shift's float went over the limit and the alarm was journalled; cleared
    # when enough is paid in. One alarm per crossing, not one per charge.
    """
    ALTER TABLE shifts ADD COLUMN float_alarm_at REAL
    """,
]


def shift_alarmed(rec: Recording, shift_id: str) -> bool:
    """Whether the shift's float-over-limit alarm is raised and not yet ended."""
    row = rec.execute("SELECT float_alarm_at FROM shifts WHERE id = ?", (shift_id,)).fetchone()
    return row is not None and row[0] is not None


def parse_yuan(text: str, field: str) -> int:
    """An amount typed in yuan (``200``, ``200.50``, ``¥200``) as whole fen; refused in the
    guard's words when it is not one (never a float on the way)."""
    typed = text.strip().replace(",", "").replace("，", "").lstrip("¥￥").removesuffix("元")
    if not typed:
        raise BoothRefusal("请填写金额（元）", "enter an amount in yuan", field)
    match = _YUAN.match(typed.strip())
    if match is None:
        raise BoothRefusal(f"“{text.strip()}”不是有效金额，请写成 200 或 200.50",
                           f"{text.strip()!r} is not an amount: write it like 200 or 200.50",
                           field)
    yuan, cents = int(match.group(1)), (match.group(2) or "").ljust(2, "0")
    if yuan > MAX_YUAN:
        raise BoothRefusal(f"金额不能超过 {MAX_YUAN} 元", f"at most {MAX_YUAN} yuan", field)
    return yuan * 100 + int(cents)


def parse_invoices(text: str, field: str) -> int:
    """The number of invoices issued in a shift, as typed."""
    typed = text.strip()
    if not typed:
        raise BoothRefusal("请填写本班开出的发票张数（没有填 0）",
                           "enter the number of invoices issued (0 if none)", field)
    if not typed.isascii() or not typed.isdigit() or int(typed) > MAX_INVOICES:
        raise BoothRefusal("发票张数须为整数", "the number of invoices must be a whole number",
                           field)
    return int(typed)


@dataclass(frozen=True)
class Shift:
    """One shift at the booth."""

    shift_id: str
    guard: str
    guard_name: str
    started_at: float
    opening_float_fen: int
    ended_at: float | None


@dataclass(frozen=True)
class ShiftFloat:
    """The money of a shift: what it opened with, took in cash, paid in to the desk, and
    the float that makes (now, or when it was handed over)."""

    opening_float_fen: int
    charges: int
    cash_fen: int
    paid_in_fen: int

    @property
    def float_fen(self) -> int:
        """The cash in the booth's drawer."""
        return self.opening_float_fen + self.cash_fen - self.paid_in_fen


@dataclass(frozen=True)
class HandoverReport:
    """A closed shift as its handover report prints it."""

    shift: Shift
    handed_to: str
    handed_to_name: str
    next_shift_id: str
    money: ShiftFloat
    invoices: int
    notes: str


@dataclass(frozen=True)
class FloatAlarm:
    """The open shift's float is over the desk's limit: pay the excess in."""

    shift_id: str
    float_fen: int
    limit_fen: int

    @property
    def limit_yuan(self) -> str:
        """The limit as the guard says it: ``600``, or ``600.50``."""
        yuan, fen = divmod(self.limit_fen, 100)
        return f"{yuan}.{fen:02d}" if fen else str(yuan)


def _shift(row: sqlite3.Row) -> Shift:
    return Shift(row["id"], row["guard"], row["guard_name"], row["started_at"],
                 row["opening_float_fen"], row["ended_at"])


class Shifts:
    """The booth's shifts; at most one is open at a time (the index says so too)."""

    def __init__(self, store: BoothStore, sign_in: SignIn,
                 booth_list: Callable[[], BoothList]) -> None:
        self.store = store
        self.sign_in = sign_in
        self.booth_list = booth_list
        self._cash_sources: list[CashSource] = []
        store.migrate("shifts", MIGRATIONS)

    def add_cash_source(self, fn: CashSource) -> None:
        """Count the cash another part takes in a shift (``fn(shift_id)`` gives the number
        of charges and their fen) in that shift's float."""
        self._cash_sources.append(fn)

    def money(self, shift: Shift) -> ShiftFloat:
        """The money of ``shift``, as it stands now."""
        charges = cash = 0
        for source in self._cash_sources:
            count, fen = source(shift.shift_id)
            charges += count
            cash += fen
        row = self.store.one("SELECT COALESCE(SUM(amount_fen), 0) AS fen FROM float_paid_in "
                             "WHERE shift_id = ?", (shift.shift_id,))
        paid_in = int(row["fen"]) if row is not None else 0
        return ShiftFloat(shift.opening_float_fen, charges, cash, paid_in)

    def float_alarm(self) -> FloatAlarm | None:
        """The alarm the booth shows on every page while the open shift's float is over
        the desk's limit (None when it is not, or there is no shift or no list)."""
        shift = self.current()
        if shift is None:
            return None
        try:
            limit_fen = self.booth_list().float_limit_fen
        except BoothRefusal:
            return None
        float_fen = self.money(shift).float_fen
        return FloatAlarm(shift.shift_id, float_fen, limit_fen) if float_fen > limit_fen \
            else None

    def current(self) -> Shift | None:
        """The shift open now, or None between shifts."""
        row = self.store.one("SELECT * FROM shifts WHERE ended_at IS NULL")
        return None if row is None else _shift(row)

    def require_current(self) -> Shift:
        """The shift open now; refused when none is (cash is only taken within a shift)."""
        shift = self.current()
        if shift is None:
            raise BoothRefusal("当前没有当班记录，请先接班",
                               "no shift is open: start a shift first")
        return shift

    def open_in(self, rec: Recording, guard: str, guard_name: str, opening_float_fen: int) -> str:
        """Open a shift inside ``rec`` (journalled as ``shift_start``); its id."""
        if opening_float_fen < 0:
            raise BoothRefusal("备用金不能为负数", "the float cannot be negative",
                               "opening_float")
        if rec.execute("SELECT 1 FROM shifts WHERE ended_at IS NULL").fetchone():
            raise BoothRefusal("已有人当班，请办理交接班", "a shift is already open: hand over",
                               "guard")
        return self._open_in(rec, uuid.uuid4().hex, guard, guard_name, opening_float_fen)

    def _open_in(self, rec: Recording, shift_id: str, guard: str, guard_name: str,
                 opening_float_fen: int) -> str:
        now = self.store.clock.wall()
        rec.execute("INSERT INTO shifts (id, guard, guard_name, started_at, opening_float_fen) "
                    "VALUES (?, ?, ?, ?, ?)", (shift_id, guard, guard_name, now,
                                               opening_float_fen))
        rec.append("shift_start", {"shift_id": shift_id, "guard": guard,
                                   "opening_float_fen": opening_float_fen, "at": now})
        return shift_id

    def start(self, guard: str, guard_name: str, opening_float_fen: int) -> str:
        """Start a shift (nobody on shift now); its id."""
        with self.store.record() as rec:
            return self.open_in(rec, guard, guard_name, opening_float_fen)

    def pay_in(self, guard: str, amount_fen: int) -> int:
        """Record cash paid in to the desk from the open shift's float (``float_paid_in``);
        the float left. Refused when more than the float is paid in."""
        if amount_fen <= 0:
            raise BoothRefusal("交存金额须大于 0", "the amount paid in must be more than 0",
                               "amount")
        with self.store.record() as rec:
            shift = self.require_current()
            left = self.money(shift).float_fen
            if amount_fen > left:
                raise BoothRefusal(f"交存金额超过备用金（现有 {left / 100:.2f} 元）",
                                   f"more than the float ({left / 100:.2f} yuan) is there",
                                   "amount")
            now = self.store.clock.wall()
            rec.execute("INSERT INTO float_paid_in (id, shift_id, guard, amount_fen, at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (uuid.uuid4().hex, shift.shift_id, guard, amount_fen, now))
            rec.append("float_paid_in", {"shift_id": shift.shift_id, "guard": guard,
                                         "amount_fen": amount_fen, "at": now,
                                         "float_fen": left - amount_fen})
            try:
                limit_fen: int | None = self.booth_list().float_limit_fen
            except BoothRefusal:
                limit_fen = None
            if limit_fen is not None and left - amount_fen <= limit_fen:
                rec.execute("UPDATE shifts SET float_alarm_at = NULL WHERE id = ?",
                            (shift.shift_id,))
            elif limit_fen is not None and shift_alarmed(rec, shift.shift_id):
                # Not enough paid in: the desk ends the alarm at any payment in, so it is
                # raised again with what is left.
                self._raise_float_alarm(rec, shift.shift_id, guard, left - amount_fen,
                                        limit_fen, still_over=True)
        return left - amount_fen

    def _check_handover(self, guard: str, next_username: str) -> Shift:
        shift = self.require_current()
        if shift.guard != guard:
            raise BoothRefusal(f"当前班次是{shift.guard_name}的，须由本人办理交接班",
                               f"the open shift is {shift.guard_name}'s: they hand it over",
                               "next_username")
        if normal_username(next_username) == guard:
            raise BoothRefusal("不能交接给自己，请由接班保安输入账号和密码",
                               "you cannot hand over to yourself: the next guard signs in "
                               "here", "next_username")
        return shift

    def handover(self, guard: str, next_username: str, next_password: str, *,
                 invoices: int, notes: str) -> tuple[str, BoothGuard]:
        """Hand the open shift of ``guard`` (signed in) over to the next guard, who signs in
        with their password on the same form (checked offline, throttled, as at sign-in):
        one transaction closes the shift (``shift_handover``), signs the next guard in and
        opens their shift with the float handed over; a float over the list's limit is
        journalled as ``float_over_limit`` (an alarm). The closed shift's id and the next
        guard."""
        self._check_handover(guard, next_username)
        limit_fen = self.booth_list().float_limit_fen
        to = self.sign_in.verify(next_username, next_password)
        with self.store.record() as rec:
            # Checked again under the lock: a charge or another handover cannot slip in
            # between the float counted and the shift closed.
            shift = self._check_handover(guard, to.username)
            money = self.money(shift)
            now = self.store.clock.wall()
            self.sign_in.journal_sign_in(rec, to)
            next_shift_id = uuid.uuid4().hex
            rec.execute(
                "UPDATE shifts SET ended_at = ?, handed_to = ?, handed_to_name = ?, "
                "next_shift_id = ?, charges = ?, cash_fen = ?, paid_in_fen = ?, float_fen = ?, "
                "invoices = ?, notes = ? WHERE id = ? AND ended_at IS NULL",
                (now, to.username, to.name, next_shift_id, money.charges, money.cash_fen,
                 money.paid_in_fen, money.float_fen, invoices, notes, shift.shift_id))
            rec.append("shift_handover", {
                "shift_id": shift.shift_id, "guard": guard, "to_guard": to.username,
                "next_shift_id": next_shift_id, "opening_float_fen": money.opening_float_fen,
                "cash_fen": money.cash_fen, "charges": money.charges,
                "paid_in_fen": money.paid_in_fen, "float_fen": money.float_fen,
                "invoices": invoices, "notes": notes, "at": now})
            self._open_in(rec, next_shift_id, to.username, to.name, money.float_fen)
            if money.float_fen > limit_fen:
                self._raise_float_alarm(rec, next_shift_id, to.username, money.float_fen,
                                        limit_fen, handed_over_by=guard)
        return shift.shift_id, to

    def _raise_float_alarm(self, rec: Recording, shift_id: str, guard: str, float_fen: int,
                           limit_fen: int, **data: object) -> None:
        rec.execute("UPDATE shifts SET float_alarm_at = ? WHERE id = ?",
                    (self.store.clock.wall(), shift_id))
        rec.append("float_over_limit", {
            "shift_id": shift_id, "guard": guard, **data, "float_fen": float_fen,
            "limit_fen": limit_fen}, alarm=True)

    def cash_taken_in(self, rec: Recording, shift: Shift, guard: str) -> None:
        """Cash was just taken in ``shift`` inside ``rec`` (a part's charge): when that took
        the float over the desk's limit, journal the ``float_over_limit`` alarm in the same
        transaction — once per crossing, so the desk hears of it during the shift, not
        only at handover (rule P6)."""
        try:
            limit_fen = self.booth_list().float_limit_fen
        except BoothRefusal:
            return
        float_fen = self.money(shift).float_fen
        if float_fen > limit_fen and not shift_alarmed(rec, shift.shift_id):
            self._raise_float_alarm(rec, shift.shift_id, guard, float_fen, limit_fen)

    def report(self, shift_id: str) -> HandoverReport:
        """The handover report of a closed shift; refused for an unknown or open one."""
        row = self.store.one("SELECT * FROM shifts WHERE id = ?", (shift_id,))
        if row is None:
            unknown = BoothRefusal("没有这个班次", "no such shift")
            unknown.http_status = 404
            raise unknown
        if row["ended_at"] is None:
            raise BoothRefusal("该班次尚未交接，交接后才有交接班报告",
                               "this shift has not been handed over yet")
        return HandoverReport(
            _shift(row), row["handed_to"], row["handed_to_name"], row["next_shift_id"],
            ShiftFloat(row["opening_float_fen"], row["charges"], row["cash_fen"],
                       row["paid_in_fen"]),
            row["invoices"], row["notes"] or "")

    def recent_reports(self, limit: int = 5) -> list[Shift]:
        """The last shifts handed over here, newest first (to print a report again)."""
        return [_shift(r) for r in self.store.query(
            "SELECT * FROM shifts WHERE ended_at IS NOT NULL ORDER BY ended_at DESC LIMIT ?",
            (limit,))]
