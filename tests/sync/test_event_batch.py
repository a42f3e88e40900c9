"""An event batch from the gate's journal to the central store: the agent writes each row's
data as the journal holds it and keeps a deep window in flight, central validates every event
in one pass into the values it stores and commits the batches waiting together at once. Real
journal and central SQLite files; the MQTT leg is covered by test_edge_agent.py and
test_central_bridge.py."""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from edge.journal import Journal
from edge.ports import SystemClock
from sync.agent.journal_uplink import MAX_ACK_TIMEOUT_S, JournalUplink
from sync.hub.ingest import Inbound, Ingest
from sync.hub.ingest_lanes import IngestLanes
from sync.hub.quotas import DeviceQuotas, QuotaLimits
from sync.hub.store import CentralStore
from sync.mqtt.link import MqttLink, Received
from sync.wire.device_messages import EventAck, EventBatch
from sync.wire.payload import MAX_MESSAGE_BYTES, ProtocolError

DEVICE = "dev-a"


def uplink_payloads(journal: Journal, batch_size: int = 1000) -> list[bytes]:
    """Everything the uplink sends for the journal's events, acknowledging as it goes."""
    sent: list[str] = []

    def publish(_topic: str, payload: str) -> bool:
        sent.append(payload)
        return True

    uplink = JournalUplink(journal, DEVICE, "events", publish, batch_size, window=1)
    uplink.on_connected()
    while uplink.pump():
        uplink.on_ack(journal.journal_id, EventBatch.parse(sent[-1].encode()).last_seq)
    return [p.encode() for p in sent]


def stored_rows(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT device, journal_id, seq, boot_id, wall, mono, kind, alarm, "
                            "clock_trusted, uid, granted, reason, data FROM events "
                            "ORDER BY seq").fetchall()
    finally:
        conn.close()


def test_a_journal_row_reaches_the_store_as_the_gate_wrote_it(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "events.db", SystemClock(), max_events=1000)
    journal.append("tap", {"reader": "前门", "latency_us": 250, "nested": {"a": [1, 2.5]}},
                   uid="04A1B2C3", granted=True, reason="granted")
    journal.append("tap", {}, uid="04FFFFFF", granted=False, reason="unknown_card")
    journal.append("door_forced", None, alarm=True)
    # json.dumps (the journal's writer) writes NaN, which orjson refuses to read.
    journal.append("reader_fault", {"voltage": float("nan"), "limit": float("inf")})
    expected = journal.read(0, 10)

    (payload,) = uplink_payloads(journal)
    assert json.loads(payload)["events"][0]["data"]["reader"] == "前门"
    batch = EventBatch.parse(payload)
    central = CentralStore(tmp_path / "central.db", "site", clock=lambda: 5.0)
    assert central.store_event_batches([(DEVICE, batch)]) == [4]

    got = central.events_for(DEVICE)
    assert [(e["seq"], e["kind"], e["alarm"], e["uid"], e["granted"], e["reason"])
            for e in got] == [(e.seq, e.kind, e.alarm, e.uid, e.granted, e.reason)
                              for e in expected]
    assert [(e["wall"], e["mono"], e["boot_id"]) for e in got] == \
        [(e.wall, e.mono, e.boot_id) for e in expected]
    assert [e["data"] for e in got[:3]] == [e.data for e in expected[:3]]
    assert math.isnan(got[3]["data"]["voltage"]) and got[3]["data"]["limit"] == math.inf

    # The values parse built are the rows the store builds from the events themselves.
    by_mapping = CentralStore(tmp_path / "by-mapping.db", "site", clock=lambda: 5.0)
    by_mapping.store_events(DEVICE, batch.events, batch.acked_seq, journal_id=batch.journal_id)
    assert stored_rows(tmp_path / "central.db") == stored_rows(tmp_path / "by-mapping.db")
    journal.close()


def test_a_batch_over_the_message_size_is_halved_and_every_event_arrives(
        tmp_path: Path) -> None:
    journal = Journal(tmp_path / "events.db", SystemClock(), max_events=10_000)
    for n in range(1000):
        journal.append("tap", {"n": n, "pad": "x" * 400}, uid="04A1B2C3", granted=True,
                       reason="granted")
    payloads = uplink_payloads(journal)
    assert len(payloads) > 1
    assert all(len(p) <= MAX_MESSAGE_BYTES for p in payloads)
    seqs = [int(e["seq"]) for p in payloads for e in EventBatch.parse(p).events]
    assert seqs == list(range(1, 1001))
    journal.close()


def _batch(**change: Any) -> bytes:
    event = {"seq": 1, "boot_id": "b", "wall": 1.5, "mono": 2, "kind": "tap", "alarm": False,
             "clock_trusted": True, "uid": "04A1", "granted": True, "reason": "granted",
             "data": {}}
    for key, value in change.items():
        if value is KeyError:
            del event[key]
        else:
            event[key] = value
    return EventBatch(DEVICE, (event,)).dump().encode()


@pytest.mark.parametrize(("change", "error"), [
    ({"seq": "1"}, "events.events[0].seq: expected int, got str"),
    ({"seq": True}, "events.events[0].seq: expected int, got a boolean"),
    ({"boot_id": KeyError}, "events.events[0].boot_id: missing"),
    ({"wall": True}, "events.events[0].wall: expected int, got a boolean"),
    ({"mono": "2"}, "events.events[0].mono: expected int, got str"),
    ({"alarm": 1}, "events.events[0].alarm: expected bool, got int"),
    ({"clock_trusted": None}, "events.events[0].clock_trusted: missing"),
    ({"uid": 42}, "events.events[0].uid: expected str, got int"),
    ({"granted": "yes"}, "events.events[0].granted: expected bool, got str"),
    ({"reason": 0}, "events.events[0].reason: expected str, got int"),
    ({"data": []}, "events.events[0].data: expected an object"),
    ({"data": None}, "events.events[0].data: expected an object"),
])
def test_each_malformed_field_is_refused_naming_it(change: dict[str, Any], error: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        EventBatch.parse(_batch(**change))
    assert str(refused.value) == error


def test_optional_fields_may_be_absent_or_null_and_numbers_may_be_whole() -> None:
    batch = EventBatch.parse(_batch(uid=None, granted=KeyError, reason=KeyError,
                                    data=KeyError))
    assert batch.values == ((1, "b", 1.5, 2.0, "tap", 0, 1, None, None, None, "{}"),)
    assert isinstance(batch.values[0][3], float)


def test_a_batch_whose_events_are_not_objects_or_not_ascending_is_refused() -> None:
    good = json.loads(_batch())
    for events, error in (([7], "events.events[0]: expected an object"),
                          ([good["events"][0]] * 2, "events.events[1].seq: not ascending"),
                          ([], "events.events: empty batch")):
        with pytest.raises(ProtocolError) as refused:
            EventBatch.parse(json.dumps({**good, "events": events}).encode())
        assert str(refused.value) == error
    with pytest.raises(ProtocolError, match="not JSON"):
        EventBatch.parse(b'{"v": 1, "type": "events", "events": [')
    with pytest.raises(ProtocolError, match="expected a 'events' message"):
        EventBatch.parse(json.dumps({**good, "type": "ack"}).encode())


class Link:
    """What the uplink hands to MQTT: each payload's first and last seq."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, int]] = []

    def publish(self, _topic: str, payload: str) -> bool:
        events = EventBatch.parse(payload.encode()).events
        self.sent.append((int(events[0]["seq"]), int(events[-1]["seq"])))
        return True


def test_a_deep_window_worked_through_slowly_is_not_sent_again(tmp_path: Path) -> None:
    # Several devices drain at once: central works through this one's window more slowly
    # than the ack timeout, one batch at a time. The acks keep moving, so nothing is sent
    # twice; once they stop, what is unacknowledged goes again after the timeout.
    journal = Journal(tmp_path / "events.db", SystemClock(), max_events=1000)
    for _ in range(100):
        journal.append("tap", {})
    now = [0.0]
    link = Link()
    uplink = JournalUplink(journal, DEVICE, "events", link.publish, 5, window=16,
                           ack_timeout=10.0, monotonic=lambda: now[0])
    uplink.on_connected()
    assert uplink.pump() == 16
    assert link.sent[-1] == (76, 80)
    for upto in range(5, 40, 5):  # one batch acknowledged every 4 s: 28 s for these
        now[0] += 4.0
        assert uplink.on_ack(journal.journal_id, upto)
        uplink.pump()
    # Each batch once, in order: the 16 of the window, then one more per ack until the
    # journal's 20 are out.
    assert [first for first, _ in link.sent] == list(range(1, 101, 5))
    now[0] += 9.0
    uplink.pump()
    assert len(link.sent) == 20  # within the timeout of the last ack that moved
    now[0] += 2.0
    uplink.pump()
    assert link.sent[20][0] == 36  # 11 s without progress: everything unacknowledged again
    assert uplink.resends == 1
    journal.close()


def test_a_trickle_of_events_waits_for_an_ack_and_goes_in_one_batch(tmp_path: Path) -> None:
    # A gate tapped now and then: its first event goes at once; those tapped while that
    # batch awaits its ack gather and go together when the ack comes (one message an ack,
    # not one a tap, whatever central's delay). Full batches still fill the window.
    journal = Journal(tmp_path / "events.db", SystemClock(), max_events=1000)
    now = [0.0]
    link = Link()
    uplink = JournalUplink(journal, DEVICE, "events", link.publish, 5, window=16,
                           ack_timeout=10.0, monotonic=lambda: now[0])
    uplink.on_connected()
    journal.append("tap", {})
    assert uplink.pump() == 1
    for _ in range(3):
        now[0] += 1.0
        journal.append("tap", {})
        assert uplink.pump() == 0  # central has not acknowledged the first yet
    assert uplink.on_ack(journal.journal_id, 1)
    assert uplink.pump() == 1
    assert link.sent == [(1, 1), (2, 4)]
    for _ in range(12):  # a burst: two full batches go behind the one in flight
        journal.append("tap", {})
    assert uplink.pump() == 2
    assert link.sent[2:] == [(5, 9), (10, 14)]
    assert uplink.on_ack(journal.journal_id, 9)  # moved, not to the end: one more may go
    assert uplink.pump() == 1
    assert link.sent[4:] == [(15, 16)]
    assert uplink.resends == 0
    journal.close()


class CountingStore(CentralStore):
    """The real store, noting how many batches each transaction held; a device named
    ``breaks`` makes the store fail as no database error would."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "site")
        self.transactions: list[int] = []

    def store_event_batches(self, batches: Sequence[tuple[str, EventBatch]]) -> list[int]:
        self.transactions.append(len(batches))
        if any(device == "breaks" for device, _b in batches):
            raise RuntimeError("a bug in the store")
        return super().store_event_batches(batches)


class AckLink:
    """What the ingest publishes (the device acks)."""

    def __init__(self) -> None:
        self.acks: list[EventAck] = []

    def publish(self, _topic: str, payload: str) -> None:
        self.acks.append(EventAck.parse(payload.encode()))


def events_message(device: str, first: int, n: int, acked: list[str]) -> Inbound:
    events = tuple({"seq": s, "boot_id": "b", "wall": 1.0, "mono": 1.0, "kind": "tap",
                    "alarm": False, "clock_trusted": True, "data": {}}
                   for s in range(first, first + n))
    payload = EventBatch(device, events, first - 1, "j").dump().encode()
    received = Received("t", payload, False, lambda: acked.append(f"{device}:{first}"))
    return Inbound("events", device, received)


def test_batches_waiting_together_are_stored_in_one_commit_and_each_acknowledged(
        tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "central.db")
    ingest = Ingest(store, DeviceQuotas(QuotaLimits()), drop=lambda *_a: None,
                    over_quota=lambda *_a: None)
    acked: list[str] = []
    for first in (1, 11, 21):  # a draining device's window, queued before the ingest runs
        ingest.put(events_message("dev-a", first, 10, acked))
    ingest.put(events_message("dev-b", 1, 5, acked))
    link = AckLink()
    ingest.start(cast(MqttLink, link))
    try:
        deadline = time.monotonic() + 10
        while len(link.acks) < 4:
            assert time.monotonic() < deadline, link.acks
            time.sleep(0.01)
    finally:
        ingest.stop()
    assert store.transactions == [4]
    assert link.acks == [EventAck("dev-a", 10, "j"), EventAck("dev-a", 20, "j"),
                         EventAck("dev-a", 30, "j"), EventAck("dev-b", 5, "j")]
    assert acked == ["dev-a:1", "dev-a:11", "dev-a:21", "dev-b:1"]
    assert store.count_events("dev-a") == 30 and store.count_events("dev-b") == 5


def test_a_batch_that_breaks_the_store_loses_only_itself(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "central.db")
    ingest = Ingest(store, DeviceQuotas(QuotaLimits()), drop=lambda *_a: None,
                    over_quota=lambda *_a: None)
    acked: list[str] = []
    ingest.put(events_message("dev-a", 1, 10, acked))
    ingest.put(events_message("breaks", 1, 10, acked))
    ingest.put(events_message("dev-a", 11, 10, acked))
    link = AckLink()
    ingest.start(cast(MqttLink, link))
    try:
        deadline = time.monotonic() + 10
        while len(acked) < 3:
            assert time.monotonic() < deadline, acked
            time.sleep(0.01)
    finally:
        ingest.stop()
    # Together first; then each on its own, so the other two are stored and acknowledged.
    assert store.transactions == [3, 1, 1, 1]
    assert link.acks == [EventAck("dev-a", 10, "j"), EventAck("dev-a", 20, "j")]
    assert store.count_events("dev-a") == 20 and store.count_events("breaks") == 0
    assert sorted(acked) == ["breaks:1", "dev-a:1", "dev-a:11"]  # none left to redeliver


class LoggedStore(CountingStore):
    """The real store, writing each transaction's size into one log shared by the sites."""

    def __init__(self, path: Path, name: str, log: list[str]) -> None:
        super().__init__(path)
        self.name, self.log = name, log

    def store_event_batches(self, batches: Sequence[tuple[str, EventBatch]]) -> list[int]:
        self.log.append(f"{self.name}{len(batches)}")
        return super().store_event_batches(batches)


def test_sites_sharing_a_lane_are_served_in_turn(tmp_path: Path) -> None:
    """A desk worker's sites share its ingest lanes (sync/hub/ingest_lanes.py); a lane
    serves its sites in turn, a round of at most GROUP_MESSAGES each, so one site's backlog
    does not hold back another site's acknowledgement until its gates send again."""
    lanes = IngestLanes(1)
    log: list[str] = []
    stores = {name: LoggedStore(tmp_path / f"{name}.db", name, log) for name in "ab"}
    ingests = {name: Ingest(store, DeviceQuotas(QuotaLimits()), drop=lambda *_a: None,
                            over_quota=lambda *_a: None, lanes=lanes)
               for name, store in stores.items()}
    acked: list[str] = []
    for first in range(1, 121, 10):  # site a: twelve batches waiting, site b: one
        ingests["a"].put(events_message("dev-a", first, 10, acked))
    ingests["b"].put(events_message("dev-b", 1, 10, acked))
    lanes.start()
    try:
        for name in "ab":
            ingests[name].start(cast(MqttLink, AckLink()))
        deadline = time.monotonic() + 10
        while len(acked) < 13:
            assert time.monotonic() < deadline, acked
            time.sleep(0.01)
    finally:
        for ingest in ingests.values():
            ingest.stop()
        lanes.stop()
    assert log == ["a4", "b1", "a4", "a4"]
    assert stores["a"].count_events("dev-a") == 120
    assert stores["b"].count_events("dev-b") == 10


def test_a_window_sent_again_without_an_ack_moving_waits_twice_as_long_each_time(
        tmp_path: Path) -> None:
    """Resends back off: a central behind a company's gates is given the time to work
    through what it holds, instead of all of it again every ack timeout; an ack that moves
    brings the wait back to the timeout."""
    journal = Journal(tmp_path / "events.db", SystemClock(), max_events=1000)
    for _ in range(10):
        journal.append("tap", {})
    now = [0.0]
    link = Link()
    uplink = JournalUplink(journal, DEVICE, "events", link.publish, 5, window=16,
                           ack_timeout=10.0, monotonic=lambda: now[0])
    uplink.on_connected()
    assert uplink.pump() == 2

    def resent_at(seconds: float) -> bool:
        sent = len(link.sent)
        now[0] += seconds
        uplink.pump()
        return len(link.sent) > sent

    assert not resent_at(10.0) and resent_at(0.5)  # the timeout: 10 s
    assert not resent_at(20.0) and resent_at(0.5)  # then 20 s
    assert not resent_at(40.0) and resent_at(0.5)  # then 40 s
    assert uplink.on_ack(journal.journal_id, 5)  # an ack moved: 10 s again
    assert not resent_at(10.0) and resent_at(0.5)
    for _ in range(8):  # never longer than MAX_ACK_TIMEOUT_S
        resent_at(MAX_ACK_TIMEOUT_S + 0.5)
    assert not resent_at(MAX_ACK_TIMEOUT_S - 0.5) and resent_at(1.0)
    assert uplink.resends == 13
    journal.close()


def test_a_site_lined_up_before_its_lanes_start_is_served_once_they_do(tmp_path: Path) -> None:
    """A site's gates may speak before the worker's lanes run (they start together at the
    desk's start): what they said waits in line."""
    lanes = IngestLanes(1)
    store = CountingStore(tmp_path / "central.db")
    ingest = Ingest(store, DeviceQuotas(QuotaLimits()), drop=lambda *_a: None,
                    over_quota=lambda *_a: None, lanes=lanes)
    acked: list[str] = []
    ingest.start(cast(MqttLink, AckLink()))
    ingest.put(events_message("dev-a", 1, 10, acked))
    lanes.start()
    try:
        deadline = time.monotonic() + 10
        while acked != ["dev-a:1"]:
            assert time.monotonic() < deadline, acked
            time.sleep(0.01)
    finally:
        ingest.stop()
        lanes.stop()
    assert store.count_events("dev-a") == 10
