"""The post's controls over real gate processes: every control is journalled by the gate
before anything moves and recorded at the booth with the guard, the reason and what the gate
really did; an open refused by a lockdown is told as not opened; a stopped gate is refused,
its attempt recorded, nothing pretended."""

from __future__ import annotations

import time
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest
import tomli_w

from booth.gate_controls import OPEN_REASONS, RESET_CHECK_ZH, reason_text
from booth.refusals import BoothRefusal, GateUnreachable
from booth.service import BoothService
from firmware_config.schema import load_config
from hardware_sim.observed_pins import read_outputs_log
from tests.booth.booth_rig import BoothRig, booth_list, journal_data
from tests.edge.conftest import commission
from tests.edge.gate_process import stop_gate

DOOR, ENTRY, EXIT = "door-1", "lane-barrier_entry", "lane-barrier_exit"
STRIKE = "GPIO17"
GUARD = "wang.guard"
CARD = "04A1B2C3"


def quick_lanes(rig: BoothRig) -> None:
    """The lanes give up on a jammed arm after 1 s (not the default 6 s): tests wait less."""
    for name in (ENTRY, EXIT):
        path = rig.gate_configs[name].source
        doc = tomllib.loads(path.read_text())
        doc["barrier"]["travel_timeout"] = "1s"
        path.write_text(tomli_w.dumps(doc))
        rig.gate_configs[name] = load_config(path)


@pytest.fixture
def service(rig: BoothRig) -> Iterator[BoothService]:
    """The booth over the rig's three running gates, cards commissioned."""
    quick_lanes(rig)
    for config in rig.gate_configs.values():
        commission(config)
    rig.start_gates()
    built = rig.service()
    try:
        yield built
    finally:
        built.close()


def gate_events(rig: BoothRig, name: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in rig.gate_call(name, "events", n=500) if e["kind"] == kind]


def booth_records(service: BoothService, kind: str = "gate_control") -> list[dict[str, Any]]:
    return journal_data(service.config.events_db, kind)


def wait_for(check: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def test_a_manual_open_is_journalled_with_guard_and_reason_before_the_relay(
        service: BoothService, rig: BoothRig) -> None:
    outcome = service.gate_controls.open(DOOR, GUARD, "delivery", "顺丰 3栋")
    assert outcome.done and outcome.message_zh == "door-1 已开启"
    [record] = booth_records(service)
    assert record["guard"] == GUARD and record["reason"] == "送货/快递：顺丰 3栋"
    assert record["action"] == "open" and record["result"] == {"opened": True}
    [opened] = gate_events(rig, DOOR, "manual_open")
    assert record["gate_seq"] == opened["seq"] == outcome.gate_seq
    assert opened["data"]["guard"] == GUARD and opened["data"]["reason"] == "送货/快递：顺丰 3栋"
    # The relay moved only after the gate's journal had the guard and the reason.
    log = rig.gate_configs[DOOR].simulation.outputs_log  # type: ignore[union-attr]
    assert log is not None
    pulses = wait_for(lambda: [m for m, _pid, pin, high in read_outputs_log(log)
                               if pin == STRIKE and high])
    assert pulses and opened["mono"] < pulses[0]


def test_the_outcome_names_the_gate_as_the_desk_does_and_the_record_its_device(
        service: BoothService, rig: BoothRig) -> None:
    rig.publish(booth_list(1))
    outcome = service.gate_controls.open(DOOR, GUARD, "visitor", "")
    assert outcome.done and outcome.message_zh == "1栋大堂门 已开启"
    assert outcome.message_en == "1栋大堂门 opened" and outcome.gate == DOOR
    assert booth_records(service)[-1]["gate"] == DOOR
    # A list from a desk older than the gates' names: the device id, as before.
    rig.publish(booth_list(2, gates=()))
    assert service.gate_controls.open(DOOR, GUARD, "visitor", "").message_zh == "door-1 已开启"
    assert service.gate_name("no-such-gate") == "no-such-gate"


def test_an_open_during_lockdown_is_told_as_not_opened(service: BoothService,
                                                        rig: BoothRig) -> None:
    locked = service.gate_controls.lockdown_all(GUARD, "小区内发生治安事件")
    assert [o.gate for o in locked] == [DOOR, ENTRY, EXIT] and all(o.done for o in locked)
    assert {rig.gate_call(n, "status")["mode"] for n in (DOOR, ENTRY, EXIT)} == {"lockdown"}
    outcome = service.gate_controls.open(DOOR, GUARD, "forgot_card", "")
    assert not outcome.done
    assert outcome.message_zh == "door-1 未开启：处于封锁状态"
    record = booth_records(service)[-1]
    assert record["result"]["opened"] is False and record["reason"] == "住户忘带卡"
    assert gate_events(rig, DOOR, "manual_open_failed")
    released = service.gate_controls.release_all(GUARD)
    assert all(o.done for o in released)
    assert service.gate_controls.open(DOOR, GUARD, "forgot_card", "").done
    assert [r["action"] for r in booth_records(service)] == \
        ["lockdown"] * 3 + ["open"] + ["release"] * 3 + ["open"]


def test_hold_open_has_a_time_limit_and_is_released(service: BoothService,
                                                    rig: BoothRig) -> None:
    before = time.time()
    outcome = service.gate_controls.hold_open(DOOR, GUARD, "delivery", "搬家", "1h")
    assert outcome.done
    status = rig.gate_call(DOOR, "status")
    assert status["mode"] == "hold_open"
    assert before + 3600 - 5 < status["mode_until"] < time.time() + 3600 + 5
    assert booth_records(service)[-1]["until"] == pytest.approx(status["mode_until"])
    with pytest.raises(BoothRefusal, match="choose how long"):
        service.gate_controls.hold_open(DOOR, GUARD, "delivery", "", "1y")
    assert service.gate_controls.release(DOOR, GUARD).done
    assert rig.gate_call(DOOR, "status")["mode"] == "normal"


def test_a_reason_is_required(service: BoothService) -> None:
    with pytest.raises(BoothRefusal) as refused:
        service.gate_controls.open(DOOR, GUARD, "", "")
    assert refused.value.message_zh == "请选择原因" and refused.value.field == "reason"
    with pytest.raises(BoothRefusal, match="write the reason when choosing 'other'"):
        service.gate_controls.open(DOOR, GUARD, "other", "  ")
    with pytest.raises(BoothRefusal, match="write the reason"):
        service.gate_controls.lockdown_all(GUARD, "")
    assert reason_text("other", "消防检查") == "消防检查"
    assert {r.zh for r in OPEN_REASONS} >= {"访客已登记", "住户忘带卡", "救护/消防", "其他"}
    assert booth_records(service) == []


def test_a_stuck_barrier_is_reset_once_the_guard_has_checked_it(
        service: BoothService, rig: BoothRig) -> None:
    rig.gate_call(EXIT, "sim.jam")
    assert rig.gate_call(EXIT, "sim.read_card", uid=CARD)["granted"] is True
    assert wait_for(lambda: rig.gate_call(EXIT, "status")["in_service"] is False)
    with pytest.raises(BoothRefusal, match="tick that you checked"):
        service.gate_controls.reset(EXIT, GUARD, "", checked=False)
    assert booth_records(service) == []
    rig.gate_call(EXIT, "sim.jam", jammed=False)
    outcome = service.gate_controls.reset(EXIT, GUARD, "树枝已清除", checked=True)
    assert outcome.done and "恢复使用" in outcome.message_zh
    record = booth_records(service)[-1]
    assert record["reason"] == f"{RESET_CHECK_ZH}：树枝已清除"
    assert record["result"]["in_service"] is True
    [reset] = gate_events(rig, EXIT, "actuator_reset")
    assert reset["seq"] == record["gate_seq"] and reset["data"]["guard"] == GUARD
    with pytest.raises(BoothRefusal, match="is a door"):
        service.gate_controls.reset(DOOR, GUARD, "", checked=True)


def test_one_cards_presence_is_cleared_for_the_lane_pair(service: BoothService,
                                                         rig: BoothRig) -> None:
    assert rig.gate_call(ENTRY, "sim.read_card", uid=CARD)["granted"] is True
    # The card counts as inside once its car has passed the lane.
    rig.gate_call(ENTRY, "sim.drive_through")
    deadline = time.monotonic() + 15
    while not gate_events(rig, ENTRY, "vehicle_counted"):
        assert time.monotonic() < deadline, "the car never passed the entry lane"
        time.sleep(0.05)
    assert rig.gate_call(ENTRY, "sim.read_card", uid=CARD)["reason"] == "anti_passback"
    with pytest.raises(BoothRefusal, match="not a card UID"):
        service.gate_controls.clear_presence(ENTRY, GUARD, "zz-top", "出口未读卡")
    with pytest.raises(BoothRefusal, match="is a door"):
        service.gate_controls.clear_presence(DOOR, GUARD, CARD, "出口未读卡")
    outcome = service.gate_controls.clear_presence(EXIT, GUARD, "04:a1:b2:c3", "出口未读卡")
    assert outcome.done and "该卡原记录为场内" in outcome.message_zh
    record = booth_records(service)[-1]
    assert record["uid"] == CARD and record["result"] == {"was_inside": True, "cleared": True}
    [cleared] = gate_events(rig, EXIT, "presence_cleared")
    assert cleared["seq"] == record["gate_seq"] and cleared["data"]["reason"] == "出口未读卡"
    assert rig.gate_call(ENTRY, "sim.read_card", uid=CARD)["granted"] is True


def test_a_stopped_gate_is_refused_and_the_attempt_recorded(service: BoothService,
                                                            rig: BoothRig) -> None:
    rig.publish(booth_list(1))
    stop_gate(rig.procs.pop(DOOR))
    with pytest.raises(GateUnreachable) as refused:
        service.gate_controls.open(DOOR, GUARD, "visitor", "")
    assert refused.value.message_zh == "门 1栋大堂门 的控制程序未运行，请联系维修"
    record = booth_records(service)[-1]
    assert record["result"]["reached"] is False and record["gate_seq"] is None
    # A post-wide lockdown still locks the gates that answer, and says which did not.
    locked = {o.gate: o for o in service.gate_controls.lockdown_all(GUARD, "演练")}
    assert not locked[DOOR].done and "未运行" in locked[DOOR].message_zh
    assert locked[ENTRY].done and locked[EXIT].done
    assert service.gate_controls.batch(locked[DOOR].batch) == list(locked.values())

