"""Goods release at the exit (rule G4): the desk issues a release slip (物品放行条) for one
day; at the exit the guard scans or types its number, checks the items and the person
carrying them against the slip, and lets them out, signing with their sign-in. A long-term
goods pass (长期放行证, a year) is used again and again, each use recorded with its items.

The slips and passes come in the desk's list (sync/wire/booth_list.py). The booth keeps the
slips it let out in ``goods_slips_out`` (one row per number: the primary key refuses a
second use here even before the desk's list says ``used``), the uses of passes in
``goods_pass_uses``, and every refusal in ``goods_refusals``; each is journalled in the same
transaction (``goods_slip_out``, ``goods_pass_used``, ``goods_slip_refused``).

A pass is typed as ``L`` and its number (``L12``); anything else is a slip's number."""

from __future__ import annotations

import enum
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from booth.post_gates import PostGates
from booth.refusals import BoothRefusal
from booth.store import BoothStore, Recording
from sync.wire.booth_list import BoothGoodsPass, BoothList, BoothSlip

MIGRATIONS = [
    """
    CREATE TABLE goods_slips_out (
        number INTEGER PRIMARY KEY,
        unit TEXT NOT NULL,
        carrier_name TEXT NOT NULL,
        items TEXT NOT NULL,
        valid_on TEXT NOT NULL,
        gate TEXT NOT NULL,
        left_at REAL NOT NULL,
        guard TEXT NOT NULL
    );
    CREATE TABLE goods_pass_uses (
        id TEXT PRIMARY KEY,
        pass_id INTEGER NOT NULL,
        unit TEXT NOT NULL,
        gate TEXT NOT NULL,
        at REAL NOT NULL,
        items TEXT NOT NULL,
        guard TEXT NOT NULL
    );
    CREATE INDEX goods_pass_uses_at ON goods_pass_uses (at);
    CREATE TABLE goods_refusals (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        number TEXT NOT NULL,
        reason TEXT NOT NULL,
        message_zh TEXT NOT NULL,
        message_en TEXT NOT NULL,
        at REAL NOT NULL,
        guard TEXT NOT NULL
    );
    CREATE INDEX goods_refusals_at ON goods_refusals (at)
    """,
]

MAX_NUMBER_TEXT = 24
MAX_ITEMS = 200
PASS_PREFIX = "L"


class Refused(enum.StrEnum):
    """Why a slip or a pass was refused at the exit (``goods_slip_refused.reason``)."""

    UNKNOWN = "unknown"
    NOT_TODAY = "not_today"
    USED = "used"
    REVOKED = "revoked"
    NOT_APPROVED = "not_approved"
    PASS_NOT_VALID = "pass_not_valid"


@dataclass(frozen=True)
class SlipOut:
    """A slip let out at this booth."""

    number: int
    unit: str
    carrier_name: str
    items: str
    valid_on: str
    gate: str
    left_at: float
    guard: str


@dataclass(frozen=True)
class PassUse:
    """One use of a long-term goods pass at this booth."""

    use_id: str
    pass_id: int
    unit: str
    gate: str
    at: float
    items: str
    guard: str


@dataclass(frozen=True)
class RefusalSeen:
    """A refusal at this booth, as the page lists it."""

    number: str
    reason: Refused
    message_zh: str
    message_en: str
    at: float
    guard: str


class GoodsRefused(BoothRefusal):
    """A slip or pass refused at the exit (journalled as ``goods_slip_refused``)."""

    def __init__(self, reason: Refused, message_zh: str, message_en: str) -> None:
        super().__init__(message_zh, message_en, "number")
        self.reason = reason


def _slip_out(row: sqlite3.Row) -> SlipOut:
    return SlipOut(row["number"], row["unit"], row["carrier_name"], row["items"],
                   row["valid_on"], row["gate"], row["left_at"], row["guard"])


def _pass_use(row: sqlite3.Row) -> PassUse:
    return PassUse(row["id"], row["pass_id"], row["unit"], row["gate"], row["at"],
                   row["items"], row["guard"])


def read_number(text: str) -> str:
    """What was scanned or typed, spaces dropped and a pass's ``L`` upper case; refused
    (without a journal entry: there is nothing to look up) when empty or absurdly long."""
    number = "".join(text.split()).upper()
    if not number:
        raise BoothRefusal("请扫描或输入放行条编号", "scan or type the slip's number", "number")
    if len(number) > MAX_NUMBER_TEXT:
        raise BoothRefusal("编号过长，请核对", "the number is too long: check it", "number")
    return number


class Goods:
    """Goods slips and long-term goods passes at the exit of this booth's post."""

    def __init__(self, store: BoothStore, booth_list: Callable[[], BoothList],
                 gates: PostGates) -> None:
        self.store = store
        self.booth_list = booth_list
        self.gates = gates
        store.migrate("goods", MIGRATIONS)

    # --- time ---

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.booth_list().timezone)

    def today(self) -> date:
        """The site-local date now."""
        return datetime.fromtimestamp(self.store.clock.wall(), self._zone()).date()

    def _when(self, wall: float) -> str:
        return datetime.fromtimestamp(wall, self._zone()).strftime("%Y-%m-%d %H:%M")

    def _today_from(self) -> float:
        today = self.today()
        return datetime(today.year, today.month, today.day, tzinfo=self._zone()).timestamp()

    # --- judging ---

    def _slip_refusal(self, rec: Recording, slip: BoothSlip | None,
                      number: str) -> GoodsRefused | None:
        if slip is None:
            return GoodsRefused(Refused.UNKNOWN, f"没有此放行条（编号 {number}）",
                                f"no goods slip numbered {number}")
        if slip.state == "revoked":
            return GoodsRefused(Refused.REVOKED, "此放行条已作废", "this slip has been revoked")
        if not slip.approved:
            return GoodsRefused(Refused.NOT_APPROVED, "放行条未经审批",
                                "this slip has not been approved")
        out = rec.execute("SELECT left_at, gate FROM goods_slips_out WHERE number = ?",
                          (slip.number,)).fetchone()
        if out is not None:
            exit_name = self.gates.gate_name(out[1])
            return GoodsRefused(Refused.USED,
                                f"此放行条已使用（{self._when(out[0])} 从 {exit_name} 放行）",
                                f"this slip has been used: let out at {self._when(out[0])} "
                                f"through {exit_name}")
        if slip.state == "used":
            return GoodsRefused(Refused.USED, "此放行条已使用（服务中心记录为已放行）",
                                "this slip has been used (the desk has it as let out)")
        today = self.today()
        if slip.valid_on != today:
            day = slip.valid_on.isoformat()
            return GoodsRefused(Refused.NOT_TODAY,
                                f"此放行条仅限 {day} 当天使用，今天不能放行"
                                + ("（已过期）" if slip.valid_on < today else ""),
                                f"this slip is for {day} only, not today"
                                + (" (expired)" if slip.valid_on < today else ""))
        return None

    def _pass_refusal(self, goods_pass: BoothGoodsPass | None,
                      number: str) -> GoodsRefused | None:
        if goods_pass is None:
            return GoodsRefused(Refused.UNKNOWN, f"没有此长期放行证（编号 {number}）",
                                f"no long-term goods pass numbered {number}")
        if goods_pass.revoked:
            return GoodsRefused(Refused.REVOKED, "此长期放行证已作废",
                                "this long-term pass has been revoked")
        today = self.today()
        if today < goods_pass.valid_from:
            return GoodsRefused(Refused.PASS_NOT_VALID,
                                f"此长期放行证自 {goods_pass.valid_from.isoformat()} 起才有效",
                                "this long-term pass is valid only from "
                                f"{goods_pass.valid_from.isoformat()}")
        if today > goods_pass.valid_until:
            return GoodsRefused(Refused.PASS_NOT_VALID,
                                f"此长期放行证已于 {goods_pass.valid_until.isoformat()} 到期",
                                "this long-term pass expired on "
                                f"{goods_pass.valid_until.isoformat()}")
        return None

    def _journal_refusal(self, rec: Recording, number: str, refusal: GoodsRefused,
                         guard: str) -> None:
        now = self.store.clock.wall()
        rec.execute("INSERT INTO goods_refusals (number, reason, message_zh, message_en, at, "
                    "guard) VALUES (?, ?, ?, ?, ?, ?)",
                    (number, refusal.reason.value, refusal.message_zh, refusal.message_en,
                     now, guard))
        rec.append("goods_slip_refused", {"number": number, "reason": refusal.reason.value,
                                          "at": now, "guard": guard})

    def _find_slip(self, number: str) -> BoothSlip | None:
        if not number.isdigit():
            return None
        wanted = int(number)
        return next((s for s in self.booth_list().slips if s.number == wanted), None)

    def _find_pass(self, number: str) -> BoothGoodsPass | None:
        digits = number[len(PASS_PREFIX):]
        if not digits.isdigit():
            return None
        wanted = int(digits)
        return next((p for p in self.booth_list().goods_passes if p.pass_id == wanted), None)

    def look_up(self, typed: str, guard: str) -> BoothSlip | BoothGoodsPass:
        """The slip (or, for ``L…``, the long-term pass) that may go out now; a refusal is
        journalled (``goods_slip_refused``) and raised as GoodsRefused."""
        number = read_number(typed)
        found: BoothSlip | BoothGoodsPass | None
        with self.store.record() as rec:
            if number.startswith(PASS_PREFIX):
                found = self._find_pass(number)
                refusal = self._pass_refusal(found, number)
            else:
                found = self._find_slip(number)
                refusal = self._slip_refusal(rec, found, number)
            if refusal is not None:
                self._journal_refusal(rec, number, refusal, guard)
        if refusal is not None:
            raise refusal
        assert found is not None
        return found

    def _exit_gate(self, gate: str) -> str:
        if not gate:
            if not self.gates.gates:
                raise BoothRefusal("本岗没有出口", "this post has no gate", "gate")
            return self.gates.gates[0].device
        return self.gates.gate(gate).device

    # --- letting out ---

    def let_out(self, number: int, gate: str, *, items_match: bool, carrier_matches: bool,
                guard: str) -> SlipOut:
        """Let slip ``number`` out through ``gate`` now (``goods_slip_out``), once both checks
        were ticked. The slip is judged again inside the write, so two screens cannot let
        the same slip out twice; a refusal is journalled and raised."""
        if not items_match:
            raise BoothRefusal("请核对物品与放行条一致后勾选",
                               "check that the items match the slip, then tick it",
                               "items_match")
        if not carrier_matches:
            raise BoothRefusal("请核对搬出人与放行条一致后勾选",
                               "check that the person carrying them matches the slip, then "
                               "tick it", "carrier_matches")
        exit_gate = self._exit_gate(gate)
        text = str(number)
        slip = self._find_slip(text)
        with self.store.record() as rec:
            refusal = self._slip_refusal(rec, slip, text)
            if refusal is not None:
                self._journal_refusal(rec, text, refusal, guard)
            else:
                assert slip is not None
                now = self.store.clock.wall()
                rec.execute(
                    "INSERT INTO goods_slips_out (number, unit, carrier_name, items, valid_on, "
                    "gate, left_at, guard) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (slip.number, slip.unit, slip.carrier_name, slip.items,
                     slip.valid_on.isoformat(), exit_gate, now, guard))
                rec.append("goods_slip_out", {
                    "number": slip.number, "gate": exit_gate, "left_at": now,
                    "items_match": True, "carrier_matches": True, "guard": guard})
        if refusal is not None:
            raise refusal
        row = self.store.one("SELECT * FROM goods_slips_out WHERE number = ?", (number,))
        assert row is not None
        return _slip_out(row)

    def use_pass(self, pass_id: int, gate: str, items: str, guard: str) -> PassUse:
        """Record one use of long-term pass ``pass_id`` with the items carried out
        (``goods_pass_used``); the pass stays valid for the next use."""
        text = " ".join(items.split())
        if not text:
            raise BoothRefusal("请填写本次搬出的物品", "type the items carried out", "items")
        if len(text) > MAX_ITEMS:
            raise BoothRefusal(f"物品说明不能超过{MAX_ITEMS}个字",
                               f"the items: at most {MAX_ITEMS} characters", "items")
        exit_gate = self._exit_gate(gate)
        number = f"{PASS_PREFIX}{pass_id}"
        goods_pass = self._find_pass(number)
        use_id = uuid.uuid4().hex
        with self.store.record() as rec:
            refusal = self._pass_refusal(goods_pass, number)
            if refusal is not None:
                self._journal_refusal(rec, number, refusal, guard)
            else:
                assert goods_pass is not None
                now = self.store.clock.wall()
                rec.execute("INSERT INTO goods_pass_uses (id, pass_id, unit, gate, at, items, "
                            "guard) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (use_id, pass_id, goods_pass.unit, exit_gate, now, text, guard))
                rec.append("goods_pass_used", {"pass_id": pass_id, "gate": exit_gate,
                                               "at": now, "items": text, "guard": guard})
        if refusal is not None:
            raise refusal
        row = self.store.one("SELECT * FROM goods_pass_uses WHERE id = ?", (use_id,))
        assert row is not None
        return _pass_use(row)

    # --- what the page lists ---

    def slips_out_today(self) -> list[SlipOut]:
        """Slips let out here today (site-local), the latest first."""
        return [_slip_out(r) for r in self.store.query(
            "SELECT * FROM goods_slips_out WHERE left_at >= ? ORDER BY left_at DESC",
            (self._today_from(),))]

    def pass_uses_today(self) -> list[PassUse]:
        """Uses of long-term passes here today, the latest first."""
        return [_pass_use(r) for r in self.store.query(
            "SELECT * FROM goods_pass_uses WHERE at >= ? ORDER BY at DESC",
            (self._today_from(),))]

    def refusals_today(self) -> list[RefusalSeen]:
        """Refusals here today, the latest first."""
        return [RefusalSeen(r["number"], Refused(r["reason"]), r["message_zh"],
                            r["message_en"], r["at"], r["guard"])
                for r in self.store.query(
                    "SELECT * FROM goods_refusals WHERE at >= ? ORDER BY at DESC, id DESC",
                    (self._today_from(),))]

    def slip(self, number: int) -> BoothSlip | None:
        """Slip ``number`` as the desk's list has it (not judged), or None."""
        return self._find_slip(str(number))

    def goods_pass(self, pass_id: int) -> BoothGoodsPass | None:
        """Long-term pass ``pass_id`` as the desk's list has it (not judged), or None."""
        return self._find_pass(f"{PASS_PREFIX}{pass_id}")

    def passes(self) -> tuple[BoothGoodsPass, ...]:
        """The long-term passes in the desk's list."""
        return self.booth_list().goods_passes
