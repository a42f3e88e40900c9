"""What the guard sees at the post, from real gate processes: every gate's state, the taps
merged newest first with masked UIDs, a stopped gate shown as unreachable, the gates' alarms
acknowledged once with a comment (journalled as ``alarm_ack``); every reason a gate gives
and every event kind shown has words in Chinese."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator

import pytest
from babel.messages.pofile import read_po

from booth.post_feed import FEED_KINDS, mask_uid
from booth.refusals import BoothRefusal
from booth.service import BoothService
from booth.web.i18n import LOCALE_DIR
from booth.web.post_pages import (
    DETAIL_WORDS,
    HOLD_WORDS,
    HOLDER_WORDS,
    KIND_WORDS,
    MODE_WORDS,
    REASON_WORDS,
    ROLE_WORDS,
    STATE_WORDS,
)
from edge.decision import Reason
from tests.booth.booth_rig import BoothRig
from tests.edge.conftest import commission
from tests.edge.gate_process import stop_gate

DOOR, ENTRY, EXIT = "door-1", "lane-barrier_entry", "lane-barrier_exit"


@pytest.fixture
def service(rig: BoothRig) -> Iterator[BoothService]:
    for config in rig.gate_configs.values():
        commission(config)
    rig.start_gates()
    built = rig.service()
    try:
        yield built
    finally:
        built.close()


def test_the_feed_merges_the_gates_taps_newest_first(service: BoothService,
                                                     rig: BoothRig) -> None:
    rig.gate_call(DOOR, "sim.read_card", uid="0A0B0C0D")  # a lost card
    time.sleep(0.01)
    rig.gate_call(ENTRY, "sim.read_card", uid="04A1B2C3")
    view = service.post_feed.view()
    assert [g.device for g in view.gates] == [DOOR, ENTRY, EXIT]
    assert all(g.reachable and g.in_service and g.mode == "normal" for g in view.gates)
    assert view.gates[0].state == "locked" and not view.gates[0].is_barrier
    assert view.gates[1].is_barrier and view.gates[1].state is not None
    taps = [e for e in view.feed if e.kind == "tap"]
    assert [(e.gate, e.granted, e.reason) for e in taps] == [
        (ENTRY, True, "granted"), (DOOR, False, "lost")]
    assert taps[0].masked_uid == "****B2C3" and taps[0].holder_kind == "owner"
    assert "04A1B2C3" not in repr(view.feed)


def test_a_stopped_gate_shows_as_unreachable(service: BoothService, rig: BoothRig) -> None:
    stop_gate(rig.procs.pop(EXIT))
    view = service.post_feed.view()
    down = {g.device: g for g in view.gates}[EXIT]
    assert not down.reachable and down.mode is None and down.state is None
    assert {g.device: g.reachable for g in view.gates} == {DOOR: True, ENTRY: True,
                                                           EXIT: False}


def test_an_alarm_is_acknowledged_once_with_a_comment(service: BoothService,
                                                     rig: BoothRig) -> None:
    rig.gate_call(DOOR, "sim.force")  # the door is forced open
    deadline = time.monotonic() + 5
    while not [a for a in service.post_feed.view().alarms if a.event.kind == "door_forced_open"]:
        assert time.monotonic() < deadline, "no alarm from the forced door"
        time.sleep(0.05)
    view = service.post_feed.view()
    [alarm] = [a for a in view.alarms if a.event.kind == "door_forced_open"]
    assert alarm.ack is None and view.unacknowledged >= 1
    with pytest.raises(BoothRefusal, match="write what you found"):
        service.post_feed.acknowledge(DOOR, alarm.event.seq, "wang.guard", " ")
    with pytest.raises(BoothRefusal, match="no recent alarm"):
        service.post_feed.acknowledge(DOOR, 1, "wang.guard", "boot is no alarm")
    ack = service.post_feed.acknowledge(DOOR, alarm.event.seq, "wang.guard", "已到现场，门已关好")
    assert ack.comment == "已到现场，门已关好"
    with pytest.raises(BoothRefusal, match=r"already acknowledged by wang\.guard"):
        service.post_feed.acknowledge(DOOR, alarm.event.seq, "li.guard", "again")
    after = service.post_feed.view()
    [acked] = [a for a in after.alarms if a.event.seq == alarm.event.seq]
    assert acked.ack is not None and acked.ack.guard == "wang.guard"
    assert after.unacknowledged == view.unacknowledged - 1
    conn = sqlite3.connect(service.config.events_db)
    rows = conn.execute("SELECT data FROM events WHERE kind = 'alarm_ack'").fetchall()
    conn.close()
    assert [json.loads(r[0]) for r in rows] == [{
        "gate": DOOR, "gate_seq": alarm.event.seq, "kind": "door_forced_open",
        "guard": "wang.guard", "comment": "已到现场，门已关好"}]


def test_the_post_renders_fast_with_three_gates(service: BoothService, rig: BoothRig) -> None:
    for _ in range(40):
        rig.gate_call(DOOR, "sim.read_card", uid="0E0E0E0E")
    service.post_feed.view()  # warm
    took = []
    for _ in range(10):
        started = time.perf_counter()
        service.post_feed.view()
        took.append(time.perf_counter() - started)
    assert sorted(took)[len(took) // 2] < 0.1, took


def catalog() -> dict[str, str]:
    with (LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "post.po").open("rb") as fp:
        return {str(m.id): str(m.string) for m in read_po(fp) if m.id}


def test_every_reason_and_event_kind_shown_has_chinese_words() -> None:
    assert set(REASON_WORDS) == {r.value for r in Reason}
    assert set(KIND_WORDS) >= FEED_KINDS
    chinese = catalog()
    for words in (REASON_WORDS, KIND_WORDS, HOLDER_WORDS, STATE_WORDS, MODE_WORDS, ROLE_WORDS,
                  DETAIL_WORDS, HOLD_WORDS):
        for english in words.values():
            assert chinese.get(english), f"no Chinese for {english!r}"


def test_uids_are_masked_to_their_last_four_digits() -> None:
    assert mask_uid("04A1B2C3") == "****B2C3"
    assert mask_uid("04A1") == "****" and mask_uid(None) is None
