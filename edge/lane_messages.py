"""What a lane's display shows and its voice says for each outcome, in Chinese as residents
read it: "欢迎光临 粤B12345 月卡剩余15天", "一路顺风", "此卡已挂失", "车位已满",
"临时车 请到岗亭缴费". Every refusal reason (edge.decision.Reason) has a message.

A message is at most three rows: what happened, the plate, and what to do or how many days
are left; the voice line says the first and the last, never the plate.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.decision import Flag, Reason
from edge.ports import LaneMessage


@dataclass(frozen=True)
class LaneOutcome:
    """What the lane decided for one vehicle, as the display needs it."""

    granted: bool
    reason: Reason
    entering: bool  # an entry lane (False: the exit lane)
    plate: str | None = None  # the plate to show (read, or the card's)
    days_left: int | None = None  # monthly card: days of its paid month left, when reminded
    flags: tuple[Flag, ...] = ()
    free_temporary: int | None = None  # temporary spaces left, when the lot is counted
    # The vehicle came by a plate read (False: a card tap); for PAIR_INCOMPLETE it says which
    # half of card_and_plate the lane still waits for.
    by_plate: bool = False


MAX_LINES = 3
CALL_THE_BOOTH = "请联系岗亭"

# Each refusal: the first row (what happened) and the last (what to do), or None. The lane's
# own faults send the driver to the booth; nothing here names a card's holder.
_REFUSALS: dict[Reason, tuple[str, str | None]] = {
    Reason.UNKNOWN_CARD: ("此卡未登记", CALL_THE_BOOTH),
    Reason.LOST: ("此卡已挂失", CALL_THE_BOOTH),
    Reason.REVOKED: ("此卡已注销", CALL_THE_BOOTH),
    Reason.NOT_YET_VALID: ("此卡尚未生效", CALL_THE_BOOTH),
    Reason.EXPIRED: ("此卡已过期", "请到服务中心办理"),
    Reason.NOT_PERMITTED_HERE: ("此卡无权通行", CALL_THE_BOOTH),
    Reason.OUTSIDE_SCHEDULE: ("不在通行时段", CALL_THE_BOOTH),
    Reason.ANTI_PASSBACK: ("车辆已在场内", CALL_THE_BOOTH),
    Reason.CLOCK_UNTRUSTED: ("系统时间未校准", CALL_THE_BOOTH),
    Reason.OUT_OF_SERVICE: ("道闸故障 暂停使用", CALL_THE_BOOTH),
    Reason.LOCKDOWN: ("通道已封闭", CALL_THE_BOOTH),
    Reason.JOURNAL_UNAVAILABLE: ("系统故障 请联系岗亭", None),
    Reason.WHITELIST_UNAVAILABLE: ("系统故障 请联系岗亭", None),
    Reason.PARKING_EXPIRED: ("月卡已过期 请到服务中心续费", None),
    Reason.PARKING_NOT_STARTED: ("月卡尚未生效", CALL_THE_BOOTH),
    Reason.GUARD_CONFIRM: ("月卡已过期", "请等待岗亭确认"),
    Reason.LOT_FULL: ("车位已满", None),
    # A timed window's hours are the site's to choose: not always night.
    Reason.MONTHLY_ONLY: ("此时段仅限月卡车", None),
    Reason.PAY_AT_BOOTH: ("临时车 请到岗亭缴费", None),
    Reason.PLATE_UNKNOWN: ("未登记车辆", CALL_THE_BOOTH),
    Reason.PLATE_AMBIGUOUS: ("车牌无法确认", CALL_THE_BOOTH),
    Reason.PLATE_LOW_CONFIDENCE: ("车牌识别不清", CALL_THE_BOOTH),
    Reason.PLATE_MISMATCH: ("车牌与卡不符", CALL_THE_BOOTH),
    Reason.PAIR_INCOMPLETE: ("请刷卡", None),  # or "请识别车牌": see message_for
}


def message_for(outcome: LaneOutcome) -> LaneMessage:
    """The display lines and the voice line for ``outcome``."""
    if outcome.granted:
        return _welcome(outcome)
    first, last = _REFUSALS[outcome.reason]
    if outcome.reason is Reason.PAIR_INCOMPLETE and not outcome.by_plate:
        first = "请识别车牌"  # the card came: the camera has not read the car yet
    elif outcome.reason is Reason.PARKING_NOT_STARTED and not outcome.entering:
        last = "请到岗亭缴费"  # inside already: the booth charges for the stay
    return _message(first, outcome.plate, last)


def _welcome(outcome: LaneOutcome) -> LaneMessage:
    if Flag.AS_TEMPORARY in outcome.flags:
        first = "临时车 欢迎光临" if outcome.entering else "一路顺风"
    else:
        first = "欢迎光临" if outcome.entering else "一路顺风"
    last: str | None = None
    if Flag.PARKING_GRACE in outcome.flags:
        last = "月卡已到期 请尽快续费"
    elif outcome.days_left is not None:
        last = f"月卡剩余{outcome.days_left}天"
    elif (outcome.entering and Flag.AS_TEMPORARY in outcome.flags
          and outcome.free_temporary is not None):
        return _message(first, outcome.plate, _free_line(outcome.free_temporary), voice_last=False)
    return _message(first, outcome.plate, last)


def _message(first: str, plate: str | None, last: str | None, *,
             voice_last: bool = True) -> LaneMessage:
    lines = tuple(line for line in (first, plate, last) if line)[:MAX_LINES]
    voice = " ".join(part for part in (first, last if voice_last else None) if part)
    return LaneMessage(lines=lines, voice=voice)


def _free_line(free_temporary: int) -> str:
    return f"余位 {free_temporary}" if free_temporary > 0 else "车位已满"


def idle_message(idle_text: str, free_temporary: int | None) -> LaneMessage:
    """What the display shows between vehicles: the idle text and, when counted, "余位 N"
    (or "车位已满")."""
    lines = (idle_text,) if free_temporary is None else (idle_text, _free_line(free_temporary))
    return LaneMessage(lines=tuple(line for line in lines if line), voice=None)
