"""The post's controls (rule G3): a guard opens a gate by hand with a reason, holds it open
for a while, locks down or releases every gate of the post, puts a stuck barrier back in
service once they have checked it, and clears one card's anti-passback presence.

The booth never moves anything itself: each control is a command to the gate over its
control socket (booth/post_gates.py), and the gate journals it with the guard and the reason
before anything moves. The booth then records what the gate answered — the truth, not the
wish: an open refused by a lockdown is recorded and told as not opened — in one
``gate_control`` record (docs/booth.md), also kept in the ``gate_controls`` table so the
page can show the guard the outcome, naming the gate as the guard knows it ("小区大门
已开启"; the record keeps the device id). A gate that does not answer is recorded as such
and refused to the guard; nothing is pretended."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from booth.car_park import CarPark, LotCorrection, check_against, counts_text, lot_view
from booth.post_gates import PostGate, PostGates
from booth.refusals import BoothRefusal, GateUnreachable
from booth.store import BoothStore
from edge.uid import normalize_uid

MIGRATIONS = [
    """
    CREATE TABLE gate_controls (
        id INTEGER PRIMARY KEY,
        batch TEXT NOT NULL,
        at REAL NOT NULL,
        gate TEXT NOT NULL,
        action TEXT NOT NULL,
        guard TEXT NOT NULL,
        reason TEXT NOT NULL,
        until REAL,
        uid TEXT,
        gate_seq INTEGER,
        done INTEGER NOT NULL,
        result TEXT NOT NULL,
        message_zh TEXT NOT NULL,
        message_en TEXT NOT NULL
    );
    CREATE INDEX gate_controls_batch ON gate_controls (batch)
    """,
]

MAX_REASON = 200


@dataclass(frozen=True)
class ControlReason:
    """One of the common reasons a guard picks from; journalled in Chinese (the site's
    language, whatever language the screen shows)."""

    code: str
    zh: str
    en: str


OTHER = "other"
OPEN_REASONS = (
    ControlReason("visitor", "访客已登记", "Visitor registered"),
    ControlReason("forgot_card", "住户忘带卡", "Resident forgot the card"),
    ControlReason("card_invalid", "卡片失效待补办", "Card not working, replacement pending"),
    ControlReason("delivery", "送货/快递", "Delivery / courier"),
    ControlReason("emergency", "救护/消防", "Ambulance / fire brigade"),
    ControlReason("fault", "设备故障", "Equipment fault"),
    ControlReason(OTHER, "其他", "Other"),
)
HOLD_LIMITS = (("15m", 15 * 60), ("1h", 3600), ("4h", 4 * 3600))
RESET_CHECK_ZH = "已检查道闸，确认无车辆/行人"
RELEASE_REASON_ZH = "保安在岗亭解除"


@dataclass(frozen=True)
class ControlOutcome:
    """What one control did at one gate, as the guard is told it."""

    control_id: int
    batch: str
    gate: str
    action: str
    done: bool
    message_zh: str
    message_en: str
    gate_seq: int | None


def reason_text(code: str, note: str, *, reasons: tuple[ControlReason, ...] = OPEN_REASONS
                ) -> str:
    """The reason as journalled: the chosen reason in Chinese, with the guard's words after
    it; refused when nothing is chosen, the choice is unknown, or "other" has no words."""
    note = note.strip()
    if len(note) > MAX_REASON:
        raise BoothRefusal(f"说明不能超过 {MAX_REASON} 个字", f"the note is over {MAX_REASON} "
                           "characters", "note")
    if not code:
        raise BoothRefusal("请选择原因", "choose a reason", "reason")
    chosen = next((r for r in reasons if r.code == code), None)
    if chosen is None:
        raise BoothRefusal("没有这个原因，请重新选择", f"unknown reason {code!r}", "reason")
    if chosen.code == OTHER:
        if not note:
            raise BoothRefusal("选择“其他”时请填写具体原因", "write the reason when choosing "
                               "'other'", "note")
        return note
    return f"{chosen.zh}：{note}" if note else chosen.zh


def free_reason(note: str, field: str = "note") -> str:
    """A reason the guard writes in full (lockdown, presence clear); refused when empty."""
    note = note.strip()
    if not note:
        raise BoothRefusal("请填写原因", "write the reason", field)
    if len(note) > MAX_REASON:
        raise BoothRefusal(f"原因不能超过 {MAX_REASON} 个字",
                           f"the reason is over {MAX_REASON} characters", field)
    return note


def hold_limit_seconds(key: str) -> int:
    """The seconds of one of the hold-open limits offered (15 min, 1 h, 4 h)."""
    for name, seconds in HOLD_LIMITS:
        if name == key:
            return seconds
    raise BoothRefusal("请选择常开时长", "choose how long to hold it open", "limit")


def _outcome(row: sqlite3.Row) -> ControlOutcome:
    return ControlOutcome(row["id"], row["batch"], row["gate"], row["action"], bool(row["done"]),
                          row["message_zh"], row["message_en"], row["gate_seq"])


@dataclass(frozen=True)
class _Answer:
    """What the gate answered (or why it did not), before it is recorded."""

    done: bool
    message_zh: str
    message_en: str
    gate_seq: int | None
    result: Mapping[str, Any]
    until: float | None = None
    refusal: BoothRefusal | None = None


class GateControls:
    """The post's controls over its gates; see the module docstring."""

    def __init__(self, store: BoothStore, gates: PostGates) -> None:
        self.store = store
        self.gates = gates
        store.migrate("gate_controls", MIGRATIONS)

    # ------------------------------------------------------------------ the controls

    def open(self, device: str, guard: str, code: str, note: str) -> ControlOutcome:
        """Open ``device`` once by hand; the outcome says whether it really opened."""
        gate = self.gates.gate(device)
        reason = reason_text(code, note)
        return self._one(gate, "open", guard, reason, lambda: self._open(gate, guard, reason))

    def hold_open(self, device: str, guard: str, code: str, note: str,
                  limit: str) -> ControlOutcome:
        """Hold ``device`` open until released or for ``limit`` (15m, 1h, 4h)."""
        gate = self.gates.gate(device)
        reason = reason_text(code, note)
        until = self.store.clock.wall() + hold_limit_seconds(limit)
        return self._one(gate, "hold_open", guard, reason,
                         lambda: self._mode(gate, "hold_open", guard, reason, until))

    def release(self, device: str, guard: str) -> ControlOutcome:
        """Return ``device`` to normal (ends a hold-open or a lockdown)."""
        gate = self.gates.gate(device)
        return self._one(gate, "release", guard, RELEASE_REASON_ZH,
                         lambda: self._mode(gate, "normal", guard, RELEASE_REASON_ZH, None))

    def lockdown_all(self, guard: str, note: str) -> list[ControlOutcome]:
        """Lock down every gate of the post at once (until released); one outcome per gate,
        a gate that does not answer among them."""
        reason = free_reason(note)
        return self._all("lockdown", guard, reason,
                         lambda g: self._mode(g, "lockdown", guard, reason, None))

    def release_all(self, guard: str) -> list[ControlOutcome]:
        """Return every gate of the post to normal."""
        return self._all("release", guard, RELEASE_REASON_ZH,
                         lambda g: self._mode(g, "normal", guard, RELEASE_REASON_ZH, None))

    def reset(self, device: str, guard: str, note: str, checked: bool) -> ControlOutcome:
        """Put a stuck barrier back in service, once the guard has checked the lane."""
        gate = self.gates.gate(device)
        if not gate.is_barrier:
            raise BoothRefusal("门禁没有道闸，无需复位", f"{device} is a door: nothing to reset",
                               "gate")
        if not checked:
            raise BoothRefusal(f"请先勾选“{RESET_CHECK_ZH}”",
                               "tick that you checked the barrier and nobody is under it",
                               "checked")
        note = note.strip()
        if len(note) > MAX_REASON:
            raise BoothRefusal(f"说明不能超过 {MAX_REASON} 个字",
                               f"the note is over {MAX_REASON} characters", "note")
        reason = f"{RESET_CHECK_ZH}：{note}" if note else RESET_CHECK_ZH
        return self._one(gate, "reset", guard, reason, lambda: self._reset(gate, guard, reason))

    def clear_presence(self, device: str, guard: str, uid: str, note: str) -> ControlOutcome:
        """Forget one card's anti-passback presence on a barrier lane."""
        gate = self.gates.gate(device)
        if not gate.is_barrier:
            raise BoothRefusal("门禁不记录车辆在场，无需清除",
                               f"{device} is a door: it keeps no presence", "gate")
        try:
            card = normalize_uid(uid)
        except ValueError as exc:
            raise BoothRefusal("卡号格式不对：应为十六进制数字，如 04A1B2C3",
                               f"not a card UID: {exc}", "uid") from exc
        reason = free_reason(note)
        return self._one(gate, "clear_presence", guard, reason,
                         lambda: self._clear(gate, guard, card, reason), uid=card)

    def correct_lot(self, device: str, guard: str, lot: str,
                    correction: LotCorrection) -> ControlOutcome:
        """A guard's count of the car park ``lot`` (booth/car_park.py): sent to its lane
        ``device``, which journals it and carries it to the car park's other lanes;
        refused (and recorded) when the numbers do not fit the car park or the lane does not
        answer."""
        gate = self.gates.gate(device)
        if not gate.is_barrier:
            raise BoothRefusal("门禁不计车位", f"{device} is a door: it counts no car park",
                               "gate")
        return self._one(gate, "lot_correct", guard, correction.reason,
                         lambda: self._lot_correct(gate, guard, lot, correction))

    # ------------------------------------------------------------------ reading back

    def batch(self, batch: str) -> list[ControlOutcome]:
        """The outcomes of one control (several for a post-wide one)."""
        rows = self.store.query("SELECT * FROM gate_controls WHERE batch = ? ORDER BY id",
                                (batch,))
        return [_outcome(r) for r in rows]

    def recent(self, n: int = 10) -> list[ControlOutcome]:
        """The newest controls at this booth, newest first."""
        rows = self.store.query("SELECT * FROM gate_controls ORDER BY id DESC LIMIT ?", (n,))
        return [_outcome(r) for r in rows]

    # ------------------------------------------------------------------ the gate's answers

    def _call(self, gate: PostGate, cmd: str, **args: object) -> dict[str, Any]:
        result = self.gates.call(gate.device, cmd, **args)
        if not isinstance(result, dict):
            name = self.gates.gate_name(gate.device)
            raise BoothRefusal(f"门 {name} 的应答无法识别", f"gate {name} "
                               f"answered {cmd} with {result!r}", "gate")
        return result

    def _open(self, gate: PostGate, guard: str, reason: str) -> _Answer:
        answer = self._call(gate, "open", guard=guard, reason=reason)
        name = self.gates.gate_name(gate.device)
        seq = int(answer.get("seq") or 0) or None
        if answer.get("opened") is True:
            return _Answer(True, f"{name} 已开启", f"{name} opened", seq,
                           {"opened": True})
        # Why not: the gate journalled it (manual_open_failed); the guard is told in words.
        status = self.gates.status(gate.device) or {}
        if status.get("mode") == "lockdown":
            zh, en = "处于封锁状态", "it is locked down"
        elif status.get("in_service") is False:
            zh, en = "故障停用（请检查后复位）", "it is out of service (check it, then reset)"
        else:
            zh, en = "门未响应开启", "it did not open"
        return _Answer(False, f"{name} 未开启：{zh}", f"{name} NOT opened: {en}",
                       seq, {"opened": False, "mode": status.get("mode"),
                             "in_service": status.get("in_service")})

    def _mode(self, gate: PostGate, mode: str, guard: str, reason: str,
              until: float | None) -> _Answer:
        answer = self._call(gate, "mode", mode=mode, guard=guard, reason=reason, until=until)
        name = self.gates.gate_name(gate.device)
        now = answer.get("mode")
        seq = int(answer.get("seq") or 0) or None
        words = {"normal": ("已恢复正常", "back to normal"),
                 "hold_open": ("已设为常开", "held open"),
                 "lockdown": ("已封锁", "locked down")}
        zh, en = words.get(str(now), (f"模式为 {now}", f"mode {now}"))
        return _Answer(now == mode, f"{name} {zh}", f"{name} {en}", seq,
                       {"mode": now, "until": answer.get("until")}, until=until)

    def _reset(self, gate: PostGate, guard: str, reason: str) -> _Answer:
        answer = self._call(gate, "reset", guard=guard, reason=reason)
        name = self.gates.gate_name(gate.device)
        seq = int(answer.get("seq") or 0) or None
        result = {"in_service": answer.get("in_service"), "state": answer.get("state")}
        if answer.get("in_service") is True:
            return _Answer(True, f"{name} 已复位，恢复使用",
                           f"{name} reset: back in service", seq, result)
        return _Answer(False, f"{name} 复位后仍无法使用（状态：{answer.get('state')}），"
                              "请检查道闸和限位开关，或联系维修",
                       f"{name} still out of service after the reset "
                       f"(state {answer.get('state')}): check the arm and its limit switches",
                       seq, result)

    def _clear(self, gate: PostGate, guard: str, uid: str, reason: str) -> _Answer:
        answer = self._call(gate, "clear_presence", uid=uid, guard=guard, reason=reason)
        name = self.gates.gate_name(gate.device)
        seq = int(answer.get("seq") or 0) or None
        result = {"was_inside": answer.get("was_inside"), "cleared": answer.get("cleared")}
        if answer.get("cleared") is not True:
            return _Answer(False, f"{name} 未能清除该卡的在场记录（存储故障）",
                           f"{name} could not clear the card's presence (storage)",
                           seq, result)
        before = ("该卡原记录为场内", "it was recorded inside") if answer.get("was_inside") \
            else ("该卡原本不在场内", "it was not recorded inside")
        return _Answer(True, f"{name} 已清除该卡的在场记录（{before[0]}）",
                       f"{name} cleared the card's presence ({before[1]})", seq, result)

    def _lot_correct(self, gate: PostGate, guard: str, lot: str,
                     correction: LotCorrection) -> _Answer:
        view = CarPark(self.gates).ask(gate.device)
        if view.lot != lot:
            name = self.gates.gate_name(gate.device)
            raise BoothRefusal(f"{name} 不属于停车场 {lot}，请刷新页面后重试",
                               f"{name} is not a lane of car park {lot}: reload the page",
                               "gate")
        check_against(correction, view)
        occupied = {c.value: n for c, n in correction.occupied.items()}
        answer = self._call(gate, "lot_correct", occupied=occupied, guard=guard,
                            reason=correction.reason)
        name = view.name or view.lot
        seq = int(answer.get("seq") or 0) or None
        result: dict[str, Any] = {"lot": view.lot, "occupied": occupied,
                                  "corrected": answer.get("corrected")}
        if answer.get("corrected") is not True:
            result["error"] = answer.get("error")
            return _Answer(False, f"{name} 车位数未能校正（车道存储故障），请联系维修",
                           f"{name}: the count could not be corrected (the lane's storage)",
                           seq, result)
        after = lot_view(gate.device, answer).classes
        result["classes"] = answer.get("classes")
        return _Answer(True, f"{name} 车位数已校正：{counts_text(after, zh=True)}",
                       f"{name}: count corrected: {counts_text(after, zh=False)}", seq, result)

    # ------------------------------------------------------------------ recording

    def _ask(self, ask: Callable[[], _Answer]) -> _Answer:
        try:
            answer = ask()
        except GateUnreachable as exc:
            return _Answer(False, exc.message_zh, exc.message_en, None,
                           {"reached": False, "error": exc.message_en}, refusal=exc)
        except BoothRefusal as exc:
            return _Answer(False, exc.message_zh, exc.message_en, None,
                           {"reached": True, "refused": exc.message_en}, refusal=exc)
        return answer

    def _record(self, batch: str, gate: PostGate, answer: _Answer, *, action: str,
                guard: str, reason: str, uid: str | None) -> ControlOutcome:
        now = self.store.clock.wall()
        data = {"gate": gate.device, "action": action, "guard": guard, "reason": reason,
                "until": answer.until, "uid": uid, "gate_seq": answer.gate_seq,
                "result": dict(answer.result)}
        with self.store.record() as rec:
            cur = rec.execute(
                "INSERT INTO gate_controls (batch, at, gate, action, guard, reason, until, uid, "
                "gate_seq, done, result, message_zh, message_en) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (batch, now, gate.device, action, guard, reason, answer.until, uid,
                 answer.gate_seq, int(answer.done), json.dumps(data["result"]),
                 answer.message_zh, answer.message_en))
            rec.append("gate_control", data)
            control_id = int(cur.lastrowid or 0)
        return ControlOutcome(control_id, batch, gate.device, action, answer.done,
                              answer.message_zh, answer.message_en, answer.gate_seq)

    def _one(self, gate: PostGate, action: str, guard: str, reason: str,
             ask: Callable[[], _Answer], *,
             uid: str | None = None) -> ControlOutcome:
        """Ask one gate, record its answer; a gate that did not answer (or refused) is
        recorded, then refused to the guard."""
        answer = self._ask(ask)
        outcome = self._record(uuid.uuid4().hex, gate, answer, action=action, guard=guard,
                               reason=reason, uid=uid)
        if answer.refusal is not None:
            raise answer.refusal
        return outcome

    def _all(self, action: str, guard: str, reason: str,
             ask: Callable[[PostGate], _Answer]) -> list[ControlOutcome]:
        batch = uuid.uuid4().hex
        return [self._record(batch, gate, self._ask(partial(ask, gate)), action=action,
                             guard=guard, reason=reason, uid=None)
                for gate in self.gates.gates]
