"""Goods release at the exit (G4) over the booth's real file: a slip from the desk's list
is let out once, with both checks ticked and the guard's signature; every refusal has its
reason and is journalled; a long-term pass is used again and again within its dates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from booth.goods import GoodsRefused, Refused
from booth.refusals import BoothRefusal
from booth.service import BoothService
from sync.wire.booth_list import BoothGoodsPass, BoothSlip
from tests.booth.booth_rig import BoothRig, SettableClock, booth_list

TZ = ZoneInfo("Asia/Shanghai")
# 2026-03-10 00:30 at the site: still 2026-03-09 in UTC, so a day taken in UTC is wrong.
NOW = datetime(2026, 3, 10, 0, 30, tzinfo=TZ).timestamp()
TODAY = date(2026, 3, 10)
GUARD = "wang.guard"

SLIPS = (
    BoothSlip(1001, "1-1201", "张三", "旧沙发一张", TODAY, True, "open"),
    BoothSlip(1002, "1-1202", "李四", "冰箱", date(2026, 3, 9), True, "open"),
    BoothSlip(1003, "1-1203", "王五", "电视", date(2026, 3, 11), True, "open"),
    BoothSlip(1004, "1-1204", "赵六", "书柜", TODAY, True, "used"),
    BoothSlip(1005, "1-1205", "钱七", "衣柜", TODAY, True, "revoked"),
    BoothSlip(1006, "1-1206", "孙八", "床", TODAY, False, "open"),
)
PASSES = (
    BoothGoodsPass(12, "周**", "2-0101", date(2025, 6, 1), date(2026, 5, 31), False),
    BoothGoodsPass(13, "吴**", "2-0102", date(2025, 1, 1), date(2025, 12, 31), False),
    BoothGoodsPass(14, "郑**", "2-0103", date(2025, 6, 1), date(2026, 5, 31), True),
    BoothGoodsPass(15, "冯**", "2-0104", date(2026, 4, 1), date(2027, 3, 31), False),
)


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(NOW)


@pytest.fixture
def service(rig: BoothRig, clock: SettableClock) -> Iterator[BoothService]:
    rig.publish(booth_list(1, slips=SLIPS, goods_passes=PASSES))
    assert rig.config is not None
    built = BoothService(rig.config, clock)
    yield built
    built.close()


def journal(service: BoothService) -> list[tuple[str, dict[str, object]]]:
    return [(e.kind, e.data) for e in service.store.journal.read()]


def test_a_slip_goes_out_once_signed_and_a_second_use_is_refused(
        service: BoothService, clock: SettableClock) -> None:
    slip = service.goods.look_up(" 1001\n", GUARD)
    assert isinstance(slip, BoothSlip) and slip.items == "旧沙发一张"
    assert journal(service) == []
    out = service.goods.let_out(1001, "", items_match=True, carrier_matches=True, guard=GUARD)
    first_gate = service.gates.gates[0].device
    assert (out.number, out.gate, out.left_at, out.guard) == (1001, first_gate, NOW, GUARD)
    assert journal(service) == [("goods_slip_out", {
        "number": 1001, "gate": first_gate, "left_at": NOW, "items_match": True,
        "carrier_matches": True, "guard": GUARD})]
    assert [s.number for s in service.goods.slips_out_today()] == [1001]

    # The desk's list still says "open": the booth refuses the second use by itself.
    clock.now += 600
    with pytest.raises(GoodsRefused) as refused:
        service.goods.look_up("1001", "li.guard")
    assert refused.value.reason is Refused.USED
    # Told with the exit's name from the desk's list (the record above keeps the device id).
    assert first_gate == "door-1"
    assert refused.value.message_zh == "此放行条已使用（2026-03-10 00:30 从 1栋大堂门 放行）"
    with pytest.raises(GoodsRefused, match="used"):
        service.goods.let_out(1001, "", items_match=True, carrier_matches=True, guard=GUARD)
    kinds = journal(service)
    assert kinds[1:] == [("goods_slip_refused", {"number": "1001", "reason": "used",
                                                 "at": NOW + 600, "guard": "li.guard"}),
                         ("goods_slip_refused", {"number": "1001", "reason": "used",
                                                 "at": NOW + 600, "guard": GUARD})]
    assert [r.reason for r in service.goods.refusals_today()] == [Refused.USED] * 2


@pytest.mark.parametrize(("typed", "reason", "words"), [
    ("999", Refused.UNKNOWN, "没有此放行条（编号 999）"),
    ("abc", Refused.UNKNOWN, "没有此放行条（编号 ABC）"),
    ("1002", Refused.NOT_TODAY, "此放行条仅限 2026-03-09 当天使用，今天不能放行（已过期）"),
    ("1003", Refused.NOT_TODAY, "此放行条仅限 2026-03-11 当天使用，今天不能放行"),
    ("1004", Refused.USED, "此放行条已使用（服务中心记录为已放行）"),
    ("1005", Refused.REVOKED, "此放行条已作废"),
    ("1006", Refused.NOT_APPROVED, "放行条未经审批"),
    ("L99", Refused.UNKNOWN, "没有此长期放行证（编号 L99）"),
    ("l13", Refused.PASS_NOT_VALID, "此长期放行证已于 2025-12-31 到期"),
    ("L14", Refused.REVOKED, "此长期放行证已作废"),
    ("L15", Refused.PASS_NOT_VALID, "此长期放行证自 2026-04-01 起才有效"),
])
def test_every_refusal_has_its_reason_and_is_journalled(
        service: BoothService, typed: str, reason: Refused, words: str) -> None:
    with pytest.raises(GoodsRefused) as refused:
        service.goods.look_up(typed, GUARD)
    assert refused.value.reason is reason
    assert refused.value.message_zh == words
    number = typed.upper()
    assert journal(service) == [("goods_slip_refused", {"number": number,
                                                        "reason": reason.value, "at": NOW,
                                                        "guard": GUARD})]
    assert service.goods.slips_out_today() == []


def test_letting_out_is_judged_again_and_needs_both_ticks(service: BoothService) -> None:
    for ticks, field in (((False, True), "items_match"), ((True, False), "carrier_matches")):
        with pytest.raises(BoothRefusal) as refused:
            service.goods.let_out(1001, "", items_match=ticks[0], carrier_matches=ticks[1],
                                  guard=GUARD)
        assert refused.value.field == field
    with pytest.raises(BoothRefusal, match="no gate"):
        service.goods.let_out(1001, "gate-x", items_match=True, carrier_matches=True,
                              guard=GUARD)
    assert journal(service) == []
    # A slip revoked at the desk between the look-up and the confirmation is refused.
    with pytest.raises(GoodsRefused, match="revoked"):
        service.goods.let_out(1005, "", items_match=True, carrier_matches=True, guard=GUARD)
    assert journal(service)[-1][1]["reason"] == "revoked"
    exit_gate = service.gates.gates[-1].device
    out = service.goods.let_out(1001, exit_gate, items_match=True, carrier_matches=True,
                                guard=GUARD)
    assert out.gate == exit_gate


def test_empty_input_is_asked_again_without_a_journal_entry(service: BoothService) -> None:
    with pytest.raises(BoothRefusal, match="scan or type") as refused:
        service.goods.look_up("  ", GUARD)
    assert not isinstance(refused.value, GoodsRefused)
    assert journal(service) == []


def test_a_long_term_pass_is_used_again_and_again_with_its_items(
        service: BoothService, clock: SettableClock) -> None:
    found = service.goods.look_up("L12", GUARD)
    assert isinstance(found, BoothGoodsPass) and found.unit == "2-0101"
    first = service.goods.use_pass(12, "", " 纸箱  三个 ", GUARD)
    clock.now += 60
    second = service.goods.use_pass(12, "", "旧报纸", "li.guard")
    assert (first.items, second.items) == ("纸箱 三个", "旧报纸")
    gate = service.gates.gates[0].device
    assert journal(service) == [
        ("goods_pass_used", {"pass_id": 12, "gate": gate, "at": NOW, "items": "纸箱 三个",
                             "guard": GUARD}),
        ("goods_pass_used", {"pass_id": 12, "gate": gate, "at": NOW + 60, "items": "旧报纸",
                             "guard": "li.guard"})]
    assert [u.use_id for u in service.goods.pass_uses_today()] == [second.use_id,
                                                                  first.use_id]
    with pytest.raises(BoothRefusal, match="items carried out"):
        service.goods.use_pass(12, "", " ", GUARD)
    with pytest.raises(GoodsRefused, match="revoked"):
        service.goods.use_pass(14, "", "纸箱", GUARD)
    assert journal(service)[-1] == ("goods_slip_refused", {"number": "L14",
                                                           "reason": "revoked",
                                                           "at": NOW + 60, "guard": GUARD})


def test_the_desks_newer_list_is_what_counts(rig: BoothRig, service: BoothService) -> None:
    service.goods.look_up("1001", GUARD)
    revoked = (BoothSlip(1001, "1-1201", "张三", "旧沙发一张", TODAY, True, "revoked"),)
    rig.publish(booth_list(2, slips=revoked))
    with pytest.raises(GoodsRefused, match="revoked"):
        service.goods.let_out(1001, "", items_match=True, carrier_matches=True, guard=GUARD)
