"""Temporary (visitor) parking at the booth (rule P6): a car enters with its plate typed or a
temporary card from the booth's pool, leaves paying the tariff's fee in cash to the guard of
the shift, and gets a numbered receipt; the barriers open through the post's gates.

Exactly once: the exit screen of a stay carries a charge token made when it is shown, and a
charge is stored under it (``UNIQUE(token)``). A form posted twice (a double tap, a retry
after the booth restarted mid-charge) finds its charge and shows the same receipt; nothing
is recorded twice, and the barrier is not opened a second time by a repeat (the receipt
page has its own button for that). A charge, the stay it closes, the card it frees, its
receipt number and its ``parking_charge`` journal event commit in one transaction, so the
shift's cash (``cash_in_shift``) is the sum of the charges, always.

Receipt numbers are per booth and gap-free (``<booth>-000001``): the next one is taken in
the charge's own write transaction, which the store serialises."""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from booth.parking_tariff import DayCharge, Fee, fee, lost_ticket_fee
from booth.post_gates import PostGates
from booth.refusals import BoothRefusal
from booth.shifts import Shifts
from booth.store import BoothStore
from edge.decision import Flag
from edge.plates import normalize_plate, plate_key
from firmware_config.controller_tables import Role
from sync.wire.booth_list import BoothList

MIGRATIONS = [
    """
    CREATE TABLE parking_cards (
        number TEXT PRIMARY KEY,
        added_at REAL NOT NULL,
        added_by TEXT NOT NULL
    );
    CREATE TABLE parking_stays (
        ticket_id TEXT PRIMARY KEY,
        plate TEXT,
        temp_card TEXT REFERENCES parking_cards (number),
        entered_at REAL NOT NULL,
        gate TEXT NOT NULL,
        guard TEXT NOT NULL,
        forced_reason TEXT NOT NULL DEFAULT '',
        exited_at REAL,
        charge_id TEXT
    );
    CREATE UNIQUE INDEX parking_stays_plate_in ON parking_stays (plate)
        WHERE exited_at IS NULL AND plate IS NOT NULL;
    CREATE UNIQUE INDEX parking_stays_card_in ON parking_stays (temp_card)
        WHERE exited_at IS NULL AND temp_card IS NOT NULL;
    CREATE TABLE parking_charges (
        id TEXT PRIMARY KEY,
        token TEXT NOT NULL UNIQUE,
        ticket_id TEXT UNIQUE REFERENCES parking_stays (ticket_id),
        plate TEXT,
        temp_card TEXT,
        entered_at REAL,
        exited_at REAL NOT NULL,
        minutes INTEGER NOT NULL,
        fee_fen INTEGER NOT NULL CHECK (fee_fen >= 0),
        paid_fen INTEGER NOT NULL CHECK (paid_fen >= 0),
        change_fen INTEGER NOT NULL CHECK (change_fen >= 0),
        cash_fen INTEGER NOT NULL CHECK (cash_fen >= 0),
        waived_reason TEXT NOT NULL DEFAULT '',
        lost_ticket INTEGER NOT NULL,
        lost_reason TEXT NOT NULL DEFAULT '',
        breakdown TEXT NOT NULL,
        receipt_seq INTEGER NOT NULL UNIQUE,
        receipt_no TEXT NOT NULL UNIQUE,
        shift_id TEXT NOT NULL,
        guard TEXT NOT NULL,
        guard_name TEXT NOT NULL,
        gate TEXT NOT NULL
    );
    CREATE INDEX parking_charges_shift ON parking_charges (shift_id)
    """,
    # Issue 12: a stay may come from the entry lane's plate camera (a temporary car let in
    # by the lane itself), taken over when the guard looks the car up at the exit; the
    # lane's event it came from is kept so that one entry is never charged twice.
    """
    ALTER TABLE parking_stays ADD COLUMN source TEXT NOT NULL DEFAULT 'booth';
    ALTER TABLE parking_stays ADD COLUMN gate_seq INTEGER;
    CREATE UNIQUE INDEX parking_stays_camera_entry ON parking_stays (gate, gate_seq)
        WHERE gate_seq IS NOT NULL
    """,
]
# Where a stay's entry time comes from: the guard's entry at the booth, or the entry lane's
# plate camera (its granted read of a temporary car).
BOOTH_ENTRY = "booth"
CAMERA_ENTRY = "entry_camera"
# How far back an entry lane's journal is read for a car's camera entry (the most the
# gate's ``events`` command gives): a day or more of a compound's traffic.
CAMERA_EVENTS = 1000

ENTRY_REASON = "临时车入场"
EXIT_REASON = "临时车出场"
# The exit screen's time is the exit time charged; a screen left open longer than this is
# priced again (the car did not wait an hour for free).
QUOTE_VALID_S = 30 * 60
CLOCK_SKEW_S = 60
MAX_FEN = 100_000_00
_TOKEN = re.compile(r"^[0-9a-f]{32}$")
_PLATE = re.compile(r"^[\u4e00-\u9fffA-Z0-9]{3,12}$")
_CARD = re.compile(r"^[A-Z0-9-]{1,20}$")
_REASON_MAX = 200


def normal_plate(text: str) -> str:
    """A plate as the booth keeps it: upper case, without spaces, dots or dashes
    (``粤b 12345`` and ``粤B·12345`` are ``粤B12345``); "" for none; refused when it cannot
    be a plate."""
    plate = re.sub(r"[\s·•.\-]", "", text).upper()
    if plate and not _PLATE.match(plate):
        raise BoothRefusal(f"车牌“{text}”格式不对（如 粤B12345）",
                           f"{text!r} is not a plate (like 粤B12345)", "plate")
    return plate


def normal_card(text: str) -> str:
    """A temporary card's number: upper case, no spaces."""
    card = re.sub(r"\s", "", text).upper()
    if not _CARD.match(card):
        raise BoothRefusal(f"临时卡号“{text}”格式不对（字母、数字）",
                           f"{text!r} is not a card number (letters and digits)", "card")
    return card


def _reason(text: str, field: str) -> str:
    reason = " ".join(text.split())
    if len(reason) > _REASON_MAX:
        raise BoothRefusal(f"原因太长（最多 {_REASON_MAX} 字）",
                           f"the reason is too long (at most {_REASON_MAX} characters)", field)
    return reason


def yuan_to_fen(text: str, field: str) -> int:
    """An amount typed in yuan (``20``, ``20.5``) as fen; refused when it is not one."""
    try:
        amount = Decimal(text.strip().lstrip("¥￥"))
    except InvalidOperation:
        raise BoothRefusal(f"“{text}”不是金额", f"{text!r} is not an amount", field) from None
    if not amount.is_finite() or amount.copy_abs() > Decimal(MAX_FEN) / 100:
        raise BoothRefusal("金额超出范围", "the amount is out of range", field)
    fen = amount * 100
    if fen != fen.to_integral_value() or fen < 0:
        raise BoothRefusal("金额须为非负且最多两位小数",
                           "a non-negative amount with at most 2 decimals", field)
    return int(fen)


def local_entry_time(text: str, timezone: str) -> float:
    """A lost ticket's entry time as typed (``2026-12-03T08:15``, site-local)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BoothRefusal(f"入场时间“{text}”格式不对", f"{text!r} is not a date and time",
                           "entered_at") from None
    return moment.replace(tzinfo=ZoneInfo(timezone)).timestamp()


@dataclass(frozen=True)
class Stay:
    """A temporary car's stay, from its entry; ``exited_at`` is None while it is in."""

    ticket_id: str
    plate: str
    temp_card: str
    entered_at: float
    gate: str
    guard: str
    forced_reason: str
    exited_at: float | None
    source: str = BOOTH_ENTRY
    gate_seq: int | None = None  # the entry lane's plate event, for a camera entry

    @property
    def from_camera(self) -> bool:
        """The entry time is the entry lane's plate read, not a guard's entry."""
        return self.source == CAMERA_ENTRY

    @property
    def label(self) -> str:
        """How the guard names the car: its plate, else its card."""
        return self.plate or self.temp_card


def _stay(row: sqlite3.Row) -> Stay:
    return Stay(row["ticket_id"], row["plate"] or "", row["temp_card"] or "",
                row["entered_at"], row["gate"], row["guard"], row["forced_reason"],
                row["exited_at"], row["source"], row["gate_seq"])


@dataclass(frozen=True)
class CameraEntry:
    """A temporary car the entry lane let in by its plate read (a granted ``plate`` event:
    flagged as a temporary car, or on no card)."""

    gate: str
    seq: int
    plate: str
    entered_at: float


def camera_entry_of(gate: str, raw: Mapping[str, object]) -> CameraEntry | None:
    """The temporary car's entry a gate's journal event records, if it is one."""
    if raw.get("kind") != "plate" or raw.get("granted") is not True:
        return None
    data = raw.get("data")
    if not isinstance(data, dict) or data.get("opens") is False:
        return None  # a camera that only watches the lane (a card lane) let nobody in
    flags = data.get("flags")
    temporary = isinstance(flags, list) and Flag.AS_TEMPORARY.value in flags
    plate, seq, wall = data.get("plate"), raw.get("seq"), raw.get("wall")
    if not (temporary or raw.get("uid") is None) or not isinstance(plate, str) or not plate:
        return None
    if not isinstance(seq, int) or not isinstance(wall, int | float):
        return None
    return CameraEntry(gate, seq, plate, float(wall))


def _plate_of(text: str) -> str | None:
    try:
        return normalize_plate(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Charge:
    """A recorded charge: what the receipt prints."""

    charge_id: str
    token: str
    ticket_id: str | None
    plate: str
    temp_card: str
    entered_at: float | None
    exited_at: float
    minutes: int
    fee_fen: int
    paid_fen: int
    change_fen: int
    cash_fen: int
    waived_reason: str
    lost_ticket: bool
    lost_reason: str
    days: tuple[DayCharge, ...]
    receipt_no: str
    shift_id: str
    guard: str
    guard_name: str
    gate: str


def _days_json(days: tuple[DayCharge, ...]) -> str:
    return json.dumps([[d.day.isoformat(), d.day_hours, d.night_hours, d.uncapped_fen, d.fen]
                       for d in days])


def _charge(row: sqlite3.Row) -> Charge:
    days = tuple(DayCharge(date.fromisoformat(d), dh, nh, u, f)
                 for d, dh, nh, u, f in json.loads(row["breakdown"]))
    return Charge(row["id"], row["token"], row["ticket_id"], row["plate"] or "",
                  row["temp_card"] or "", row["entered_at"], row["exited_at"], row["minutes"],
                  row["fee_fen"], row["paid_fen"], row["change_fen"], row["cash_fen"],
                  row["waived_reason"], bool(row["lost_ticket"]), row["lost_reason"], days,
                  row["receipt_no"], row["shift_id"], row["guard"], row["guard_name"],
                  row["gate"])


@dataclass(frozen=True)
class BarrierResult:
    """What the barrier really did when the booth asked it to open."""

    gate: str
    opened: bool
    message_zh: str
    message_en: str


@dataclass(frozen=True)
class Entered:
    """A recorded entry and what its barrier did."""

    stay: Stay
    barrier: BarrierResult


@dataclass(frozen=True)
class Quote:
    """The exit screen of a stay (or of a lost ticket): the fee at ``exited_at`` and the
    token its charge will be stored under."""

    stay: Stay | None
    exited_at: float
    fee: Fee
    token: str


@dataclass(frozen=True)
class ExitForm:
    """A posted exit, validated (``ExitForm.parse``)."""

    token: str
    gate: str
    ticket_id: str | None
    exited_at: float
    quoted_fen: int
    paid_fen: int | None
    waived_reason: str
    lost_reason: str
    lost_plate: str
    lost_entered_at: float | None

    @staticmethod
    def parse(fields: Mapping[str, str], timezone: str) -> ExitForm:
        """The exit form's fields (strings as posted), refused with the field at fault."""
        token = fields.get("token", "")
        if not _TOKEN.match(token):
            raise BoothRefusal("收费单已失效，请重新查询车辆", "the exit form has no valid "
                               "charge token: look the car up again")
        try:
            exited_at = float(fields.get("exited_at", ""))
            quoted = int(fields.get("quoted_fen", ""))
        except ValueError:
            raise BoothRefusal("收费单已失效，请重新查询车辆",
                               "the exit form is damaged: look the car up again") from None
        paid_text = fields.get("paid", "").strip()
        paid = yuan_to_fen(paid_text, "paid") if paid_text else None
        entered_text = fields.get("lost_entered_at", "").strip()
        return ExitForm(
            token, fields.get("gate", "").strip(), fields.get("ticket_id", "").strip() or None,
            exited_at, quoted, paid, _reason(fields.get("waived_reason", ""), "waived_reason"),
            _reason(fields.get("lost_reason", ""), "lost_reason"),
            normal_plate(fields.get("lost_plate", "")),
            local_entry_time(entered_text, timezone) if entered_text else None)


@dataclass(frozen=True)
class Exited:
    """A charge and what the exit barrier did (None: a repeat, not opened again)."""

    charge: Charge
    barrier: BarrierResult | None
    repeated: bool


class Parking:
    """Temporary parking at this booth; see the module docstring."""

    def __init__(self, store: BoothStore, gates: PostGates, shifts: Shifts,
                 booth_list: Callable[[], BoothList], device: str) -> None:
        self.store = store
        self.gates = gates
        self.shifts = shifts
        self.booth_list = booth_list
        self.device = device
        store.migrate("parking", MIGRATIONS)
        shifts.add_cash_source(self.cash_in_shift)

    # -- the pool of temporary cards -------------------------------------------------------

    def add_card(self, number: str, guard: str) -> str:
        """Add a temporary card to the booth's pool (journalled ``parking_card_added``)."""
        card = normal_card(number)
        now = self.store.clock.wall()
        with self.store.record() as rec:
            if rec.execute("SELECT 1 FROM parking_cards WHERE number = ?", (card,)).fetchone():
                raise BoothRefusal(f"临时卡 {card} 已在卡池中", f"card {card} is already in "
                                   "the pool", "card")
            rec.execute("INSERT INTO parking_cards (number, added_at, added_by) "
                        "VALUES (?, ?, ?)", (card, now, guard))
            rec.append("parking_card_added", {"card": card, "guard": guard, "at": now})
        return card

    def cards(self) -> list[tuple[str, str]]:
        """Every pool card and the car holding it ("" when free), in card order."""
        rows = self.store.query(
            "SELECT c.number, coalesce(s.plate, s.ticket_id, '') AS holder "
            "FROM parking_cards c LEFT JOIN parking_stays s "
            "ON s.temp_card = c.number AND s.exited_at IS NULL ORDER BY c.number")
        return [(r["number"], r["holder"]) for r in rows]

    # -- entry --------------------------------------------------------------------------

    def lanes(self, role: Role) -> list[str]:
        """The post's car-park lanes of ``role`` (entry or exit)."""
        return [g.device for g in self.gates.gates if g.role is role]

    def _lane(self, device: str, role: Role) -> str:
        lanes = self.lanes(role)
        if not device and len(lanes) == 1:
            return lanes[0]
        if device not in lanes:
            word = ("入口", "entry") if role is Role.BARRIER_ENTRY else ("出口", "exit")
            raise BoothRefusal(f"请选择本岗的{word[0]}车道", f"choose an {word[1]} lane of "
                               "this post", "gate")
        return device

    def enter(self, *, guard: str, gate: str, plate: str, with_card: bool,
              forced_reason: str) -> Entered:
        """A temporary car enters: recorded (``parking_entry``), then the entry barrier is
        opened through the gate. A plate is the ticket, or a pool card handed out now;
        a car with neither (no readable plate, no ticket) needs the guard's reason."""
        lane = self._lane(gate, Role.BARRIER_ENTRY)
        plate = normal_plate(plate)
        reason = _reason(forced_reason, "forced_reason")
        if not plate and not with_card and not reason:
            raise BoothRefusal("无车牌又不发临时卡的强制入场须填写原因",
                               "a car with no plate and no card is a forced entry: give the "
                               "reason", "forced_reason")
        now = self.store.clock.wall()
        ticket_id = uuid.uuid4().hex
        with self.store.record() as rec:
            if plate:
                row = rec.execute("SELECT entered_at FROM parking_stays WHERE plate = ? "
                                  "AND exited_at IS NULL", (plate,)).fetchone()
                if row is not None:
                    raise BoothRefusal(f"车牌 {plate} 已在场内，请先办理出场",
                                       f"{plate} is already in: let it out first", "plate")
            card = ""
            if with_card:
                row = rec.execute(
                    "SELECT number FROM parking_cards WHERE number NOT IN (SELECT temp_card "
                    "FROM parking_stays WHERE exited_at IS NULL AND temp_card IS NOT NULL) "
                    "ORDER BY number LIMIT 1").fetchone()
                if row is None:
                    raise BoothRefusal("临时卡已发完：请在卡池添加临时卡，或按车牌入场",
                                       "no free temporary card: add cards to the pool or "
                                       "let the car in by its plate", "with_card")
                card = str(row[0])
            rec.execute("INSERT INTO parking_stays (ticket_id, plate, temp_card, entered_at, "
                        "gate, guard, forced_reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (ticket_id, plate or None, card or None, now, lane, guard, reason))
            rec.append("parking_entry", {"ticket_id": ticket_id, "plate": plate,
                                         "temp_card": card, "entered_at": now, "gate": lane,
                                         "guard": guard, "forced_reason": reason})
        stay = Stay(ticket_id, plate, card, now, lane, guard, reason, None)
        return Entered(stay, self.open_barrier(lane, guard, ENTRY_REASON))

    def open_barrier(self, gate: str, guard: str, reason: str) -> BarrierResult:
        """Ask the gate to open, and say truthfully what it did."""
        try:
            result = self.gates.call(gate, "open", guard=guard, reason=reason)
        except BoothRefusal as exc:
            return BarrierResult(gate, False, f"道闸未抬起：{exc.message_zh}",
                                 f"the barrier did not open: {exc.message_en}")
        if isinstance(result, dict) and result.get("opened"):
            return BarrierResult(gate, True, "道闸已抬起", "the barrier opened")
        return BarrierResult(gate, False, "道闸未抬起（封闭或故障），请查看门岗状态",
                             "the barrier did not open (lockdown or out of service): "
                             "see the gate's state")

    # -- the cars in -----------------------------------------------------------------------

    def cars_in(self) -> list[Stay]:
        """The temporary cars in now, oldest first."""
        return [_stay(r) for r in self.store.query(
            "SELECT * FROM parking_stays WHERE exited_at IS NULL ORDER BY entered_at")]

    def stay(self, ticket_id: str) -> Stay | None:
        """One stay, in or out."""
        row = self.store.one("SELECT * FROM parking_stays WHERE ticket_id = ?", (ticket_id,))
        return None if row is None else _stay(row)

    def find_in(self, plate_or_card: str) -> Stay:
        """The car in with this plate or this temporary card; refused when none is."""
        text = re.sub(r"[\s·•.\-]", "", plate_or_card).upper()
        if not text:
            raise BoothRefusal("请输入车牌或临时卡号", "type the plate or the card number",
                               "find")
        row = self.store.one("SELECT * FROM parking_stays WHERE exited_at IS NULL AND "
                             "(plate = ? OR temp_card = ?)", (text, text))
        if row is None:
            raise BoothRefusal(f"场内没有 {text} 的入场记录（遗失票请按补票办理）",
                               f"no car {text} is in (a lost ticket is charged as one)",
                               "find")
        return _stay(row)

    def find_for_exit(self, plate_or_card: str, guard: str) -> Stay:
        """The car in with this plate or card (``find_in``); else, for a plate, the
        temporary car the post's entry lane let in by its plate camera, taken over as a stay
        from the camera's entry time (journalled ``parking_entry`` with ``source``
        ``entry_camera``), so that its fee counts from when it really came in. Refused as
        ``find_in`` when neither knows the car (the page then offers the lost ticket)."""
        try:
            return self.find_in(plate_or_card)
        except BoothRefusal as not_in:
            plate = _plate_of(plate_or_card)
            if plate is None:
                raise
            entry, silent = self.camera_entry(plate)
            if entry is not None:
                stay = self._take_camera_entry(entry, guard)
                if stay is not None:
                    return stay
            if not silent:
                raise
            names = "、".join(self.gates.gate_name(g) for g in silent)
            raise BoothRefusal(f"{not_in.message_zh}；入口车道 {names} 未应答，"
                               "未能查车牌识别入场记录",
                               f"{not_in.message_en}; the entry lane {', '.join(silent)} did "
                               "not answer, so its plate reads could not be looked up",
                               not_in.field) from None

    def camera_entry(self, plate: str) -> tuple[CameraEntry | None, list[str]]:
        """The newest entry of ``plate`` as a temporary car by the post's entry lanes'
        cameras (a read of the very plate first; else a look-alike read, when only one plate
        matches), and the entry lanes that did not answer."""
        entries: list[CameraEntry] = []
        silent: list[str] = []
        for lane in self.lanes(Role.BARRIER_ENTRY):
            try:
                raw = self.gates.call(lane, "events", n=CAMERA_EVENTS)
            except BoothRefusal:
                silent.append(lane)
                continue
            for event in raw if isinstance(raw, list) else ():
                entry = camera_entry_of(lane, event) if isinstance(event, dict) else None
                if entry is not None and plate_key(entry.plate) == plate_key(plate):
                    entries.append(entry)
        exact = [e for e in entries if e.plate == plate]
        if not exact and len({e.plate for e in entries}) > 1:
            return None, silent  # several look-alike cars: the guard must not guess
        found = max(exact or entries, key=lambda e: (e.entered_at, e.seq), default=None)
        return found, silent

    def _take_camera_entry(self, entry: CameraEntry, guard: str) -> Stay | None:
        """The stay of a camera entry: recorded now, or the one recorded before while the car
        is still in; None when that entry was charged already (the car has no entry left
        to pay for)."""
        ticket_id = uuid.uuid4().hex
        with self.store.record() as rec:
            row = rec.execute("SELECT ticket_id, exited_at FROM parking_stays WHERE gate = ? "
                              "AND gate_seq = ?", (entry.gate, entry.seq)).fetchone()
            if row is not None:
                return None if row[1] is not None else self.stay(str(row[0]))
            row = rec.execute("SELECT ticket_id FROM parking_stays WHERE plate = ? AND "
                              "exited_at IS NULL", (entry.plate,)).fetchone()
            if row is not None:  # entered at the booth too, under the plate the camera read
                return self.stay(str(row[0]))
            rec.execute("INSERT INTO parking_stays (ticket_id, plate, entered_at, gate, guard, "
                        "source, gate_seq) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (ticket_id, entry.plate, entry.entered_at, entry.gate, guard,
                         CAMERA_ENTRY, entry.seq))
            rec.append("parking_entry", {"ticket_id": ticket_id, "plate": entry.plate,
                                         "temp_card": "", "entered_at": entry.entered_at,
                                         "gate": entry.gate, "guard": guard,
                                         "forced_reason": "", "source": CAMERA_ENTRY,
                                         "gate_seq": entry.seq})
        return self.stay(ticket_id)

    def fee_so_far(self, stay: Stay) -> int:
        """What the stay would pay if it left now."""
        current = self.booth_list()
        return fee(stay.entered_at, max(self.store.clock.wall(), stay.entered_at),
                   current.tariff, current.timezone).fen

    # -- exit ------------------------------------------------------------------------------

    def quote(self, ticket_id: str | None, *, lost_entered_at: float | None = None) -> Quote:
        """The exit screen of a stay (or, with no ticket, of a lost ticket): the fee if it
        leaves now, and a fresh charge token."""
        current = self.booth_list()
        now = self.store.clock.wall()
        stay = None
        if ticket_id is not None:
            stay = self.stay(ticket_id)
            if stay is None or stay.exited_at is not None:
                raise BoothRefusal("该车已出场或没有入场记录", "this car has left already or "
                                   "never entered")
        priced = self._price(stay, lost_entered_at, now, current)
        return Quote(stay, now, priced, secrets.token_hex(16))

    @staticmethod
    def _price(stay: Stay | None, lost_entered_at: float | None, exited_at: float,
               current: BoothList) -> Fee:
        if stay is not None:
            return fee(stay.entered_at, exited_at, current.tariff, current.timezone)
        if lost_entered_at is not None:
            return fee(lost_entered_at, exited_at, current.tariff, current.timezone)
        return lost_ticket_fee(exited_at, current.tariff, current.timezone)

    def charge_for(self, token: str) -> Charge | None:
        """The charge stored under ``token``, if any."""
        row = self.store.one("SELECT * FROM parking_charges WHERE token = ?", (token,))
        return None if row is None else _charge(row)

    def receipt(self, receipt_no: str) -> Charge | None:
        """The charge of a receipt number."""
        row = self.store.one("SELECT * FROM parking_charges WHERE receipt_no = ?",
                             (receipt_no,))
        return None if row is None else _charge(row)

    def charge(self, form: ExitForm, *, guard: str, guard_name: str) -> Exited:
        """Take the fee of a stay (or a lost ticket) and let the car out: the charge, the
        closed stay, the returned card, the receipt number and the ``parking_charge`` event
        in one transaction within the open shift, then the exit barrier. The same token
        again is the same charge (see the module docstring)."""
        done = self.charge_for(form.token)
        if done is not None:
            return Exited(done, None, True)
        shift = self.shifts.require_current()
        lane = self._lane(form.gate, Role.BARRIER_EXIT)
        current = self.booth_list()
        now = self.store.clock.wall()
        if not now - QUOTE_VALID_S <= form.exited_at <= now + CLOCK_SKEW_S:
            raise BoothRefusal("收费单已过期，请重新计费", "this exit screen is too old: "
                               "price the stay again")
        stay = None
        if form.ticket_id is not None:
            stay = self.stay(form.ticket_id)
            if stay is None:
                raise BoothRefusal("没有这个入场记录", "no such entry")
        elif not form.lost_reason:
            raise BoothRefusal("遗失票（无入场记录）须填写原因",
                               "a lost ticket (no entry record) needs a reason", "lost_reason")
        priced = self._price(stay, form.lost_entered_at, form.exited_at, current)
        if priced.fen != form.quoted_fen:
            raise BoothRefusal(f"应收金额已变为 ¥{priced.fen / 100:.2f}，请核对后重新收费",
                               f"the fee is now ¥{priced.fen / 100:.2f}: check and charge again",
                               "paid")
        if form.waived_reason:
            paid, change, cash = 0, 0, 0
        else:
            paid = form.paid_fen if form.paid_fen is not None else 0
            if paid < priced.fen:
                raise BoothRefusal(f"实收金额不足：应收 ¥{priced.fen / 100:.2f}",
                                   f"not enough received: the fee is ¥{priced.fen / 100:.2f}",
                                   "paid")
            change, cash = paid - priced.fen, priced.fen
        charge_id = uuid.uuid4().hex
        plate = stay.plate if stay is not None else form.lost_plate
        card = stay.temp_card if stay is not None else ""
        entered_at = stay.entered_at if stay is not None else form.lost_entered_at
        lost = stay is None
        with self.store.record() as rec:
            # Serialised with every other write: a second post of this token waited for the
            # first one's commit and finds its charge here.
            row = rec.execute("SELECT * FROM parking_charges WHERE token = ?",
                              (form.token,)).fetchone()
            if row is not None:
                return Exited(self.charge_for(form.token) or _never(), None, True)
            if stay is not None and rec.execute(
                    "SELECT 1 FROM parking_stays WHERE ticket_id = ? AND exited_at IS NULL",
                    (stay.ticket_id,)).fetchone() is None:
                raise BoothRefusal(f"{stay.label} 已收费出场", f"{stay.label} has left already")
            seq = int(rec.execute("SELECT coalesce(max(receipt_seq), 0) + 1 "
                                  "FROM parking_charges").fetchone()[0])
            receipt_no = f"{self.device}-{seq:06d}"
            rec.execute(
                "INSERT INTO parking_charges (id, token, ticket_id, plate, temp_card, "
                "entered_at, exited_at, minutes, fee_fen, paid_fen, change_fen, cash_fen, "
                "waived_reason, lost_ticket, lost_reason, breakdown, receipt_seq, receipt_no, "
                "shift_id, guard, guard_name, gate) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (charge_id, form.token, form.ticket_id, plate or None, card or None,
                 entered_at, form.exited_at, priced.minutes, priced.fen, paid, change, cash,
                 form.waived_reason, int(lost), form.lost_reason, _days_json(priced.days),
                 seq, receipt_no, shift.shift_id, guard, guard_name, lane))
            if stay is not None:
                rec.execute("UPDATE parking_stays SET exited_at = ?, charge_id = ? "
                            "WHERE ticket_id = ?", (form.exited_at, charge_id, stay.ticket_id))
            rec.append("parking_charge", {
                "charge_id": charge_id, "ticket_id": form.ticket_id, "plate": plate,
                "temp_card": card, "entered_at": entered_at, "exited_at": form.exited_at,
                "fee_fen": priced.fen, "paid_fen": paid, "change_fen": change,
                "waived_reason": form.waived_reason, "lost_ticket": lost,
                "lost_reason": form.lost_reason, "receipt_no": receipt_no,
                "shift_id": shift.shift_id, "gate": lane, "token": form.token,
                "guard": guard})
            self.shifts.cash_taken_in(rec, shift, guard)
        recorded = self.charge_for(form.token) or _never()
        return Exited(recorded, self.open_barrier(lane, guard, f"{EXIT_REASON} {receipt_no}"),
                      False)

    def cash_in_shift(self, shift_id: str) -> tuple[int, int]:
        """The shift's parking charges and the cash they took, in fen."""
        row = self.store.one("SELECT count(*), coalesce(sum(cash_fen), 0) "
                             "FROM parking_charges WHERE shift_id = ?", (shift_id,))
        assert row is not None
        return int(row[0]), int(row[1])

    def charges_in_shift(self, shift_id: str) -> list[Charge]:
        """The shift's charges, newest first."""
        return [_charge(r) for r in self.store.query(
            "SELECT * FROM parking_charges WHERE shift_id = ? ORDER BY receipt_seq DESC",
            (shift_id,))]


def _never() -> Charge:
    raise AssertionError("a charge just committed under its token is not found")
