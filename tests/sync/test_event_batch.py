"""An event batch from the gate's journal to the central store: the agent writes each row's
data as the journal holds it, central validates every event in one pass into the values it
stores. Real journal and central SQLite files; the MQTT leg is covered by
test_edge_agent.py and test_central_bridge.py."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from edge.journal import Journal
from edge.ports import SystemClock
from sync.agent.journal_uplink import JournalUplink
from sync.hub.store import CentralStore
from sync.wire.device_messages import EventBatch
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
    assert central.store_events(DEVICE, batch.events, batch.acked_seq,
                                journal_id=batch.journal_id, values=batch.values) == 4

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
