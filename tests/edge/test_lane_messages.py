"""What a lane shows and says: every reason has its Chinese message; welcome, reminder, grace,
temporary cars and the free spaces between vehicles."""

from __future__ import annotations

import pytest

from edge.decision import Flag, Reason
from edge.lane_messages import LaneOutcome, idle_message, message_for
from edge.ports import LaneMessage

PLATE = "粤B12345"


def refused(reason: Reason, *, entering: bool = True, by_plate: bool = False) -> LaneMessage:
    return message_for(LaneOutcome(False, reason, entering, plate=PLATE, by_plate=by_plate))


@pytest.mark.parametrize("reason", list(Reason))
@pytest.mark.parametrize("entering", [True, False])
def test_every_reason_has_a_chinese_message_and_voice(reason: Reason, entering: bool) -> None:
    message = message_for(LaneOutcome(reason is Reason.GRANTED, reason, entering, plate=PLATE))
    assert 1 <= len(message.lines) <= 3
    assert message.voice
    for text in (*message.lines, message.voice):
        assert text.strip() == text and text
    headline = message.lines[0]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in headline), headline
    assert PLATE in message.lines
    assert PLATE not in message.voice


def test_refusals_say_what_happened_each_in_its_own_words() -> None:
    headlines = {reason: refused(reason).lines[0] for reason in Reason
                 if reason is not Reason.GRANTED}
    # Only the two storage faults share one message: the driver can do the same about both.
    shared = {Reason.JOURNAL_UNAVAILABLE, Reason.WHITELIST_UNAVAILABLE}
    distinct = {h for r, h in headlines.items() if r not in shared}
    assert len(distinct) == len(headlines) - len(shared)
    assert headlines[Reason.JOURNAL_UNAVAILABLE] == headlines[Reason.WHITELIST_UNAVAILABLE]


@pytest.mark.parametrize(("reason", "text"), [
    (Reason.LOST, "此卡已挂失"),
    (Reason.ANTI_PASSBACK, "车辆已在场内"),
    (Reason.JOURNAL_UNAVAILABLE, "系统故障 请联系岗亭"),
    (Reason.WHITELIST_UNAVAILABLE, "系统故障 请联系岗亭"),
    (Reason.PARKING_EXPIRED, "月卡已过期 请到服务中心续费"),
    (Reason.GUARD_CONFIRM, "请等待岗亭确认"),
    (Reason.LOT_FULL, "车位已满"),
    (Reason.PAY_AT_BOOTH, "临时车 请到岗亭缴费"),
    (Reason.PLATE_MISMATCH, "车牌与卡不符"),
    (Reason.MONTHLY_ONLY, "此时段仅限月卡车"),
])
def test_refusal_texts(reason: Reason, text: str) -> None:
    message = refused(reason)
    assert text in message.lines
    assert message.voice is not None and text in message.voice


def test_lost_card_message_in_full() -> None:
    assert refused(Reason.LOST) == LaneMessage(("此卡已挂失", PLATE, "请联系岗亭"),
                                               "此卡已挂失 请联系岗亭")


def test_pair_incomplete_asks_for_the_missing_half() -> None:
    assert refused(Reason.PAIR_INCOMPLETE, by_plate=True).lines[0] == "请刷卡"
    assert refused(Reason.PAIR_INCOMPLETE, by_plate=False).lines[0] == "请识别车牌"


def test_not_started_at_the_exit_sends_the_car_to_the_booth() -> None:
    assert refused(Reason.PARKING_NOT_STARTED, entering=True).lines[-1] == "请联系岗亭"
    assert refused(Reason.PARKING_NOT_STARTED, entering=False).lines[-1] == "请到岗亭缴费"


def test_refusal_without_a_plate_has_no_blank_row() -> None:
    message = message_for(LaneOutcome(False, Reason.UNKNOWN_CARD, True))
    assert message.lines == ("此卡未登记", "请联系岗亭")


def test_monthly_entry_with_the_reminder() -> None:
    message = message_for(LaneOutcome(True, Reason.GRANTED, True, plate=PLATE, days_left=15))
    assert message.lines == ("欢迎光临", PLATE, "月卡剩余15天")
    assert message.voice == "欢迎光临 月卡剩余15天"


def test_monthly_entry_without_the_reminder() -> None:
    message = message_for(LaneOutcome(True, Reason.GRANTED, True, plate=PLATE))
    assert message == LaneMessage(("欢迎光临", PLATE), "欢迎光临")


def test_grace_asks_to_renew() -> None:
    message = message_for(LaneOutcome(True, Reason.GRANTED, True, plate=PLATE,
                                      flags=(Flag.PARKING_GRACE,)))
    assert message.lines == ("欢迎光临", PLATE, "月卡已到期 请尽快续费")
    assert message.voice == "欢迎光临 月卡已到期 请尽快续费"


def test_temporary_car_entry_shows_the_free_spaces() -> None:
    message = message_for(LaneOutcome(True, Reason.GRANTED, True, plate=PLATE,
                                      flags=(Flag.AS_TEMPORARY,), free_temporary=7))
    assert message.lines == ("临时车 欢迎光临", PLATE, "余位 7")
    assert message.voice == "临时车 欢迎光临"
    uncounted = message_for(LaneOutcome(True, Reason.GRANTED, True, plate=PLATE,
                                        flags=(Flag.AS_TEMPORARY,)))
    assert uncounted.lines == ("临时车 欢迎光临", PLATE)


def test_exit() -> None:
    message = message_for(LaneOutcome(True, Reason.GRANTED, False, plate=PLATE))
    assert message == LaneMessage(("一路顺风", PLATE), "一路顺风")
    reminded = message_for(LaneOutcome(True, Reason.GRANTED, False, plate=PLATE, days_left=3))
    assert reminded.lines == ("一路顺风", PLATE, "月卡剩余3天")
    assert reminded.voice == "一路顺风 月卡剩余3天"


@pytest.mark.parametrize(("free", "lines"), [
    (None, ("欢迎光临",)),
    (12, ("欢迎光临", "余位 12")),
    (0, ("欢迎光临", "车位已满")),
])
def test_idle_message(free: int | None, lines: tuple[str, ...]) -> None:
    message = idle_message("欢迎光临", free)
    assert message.lines == lines
    assert message.voice is None
