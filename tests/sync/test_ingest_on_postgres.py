"""The hub's ingest on the company's PostgreSQL database when the server fails under it
(sync/hub/ingest.py): a batch whose store failed is not acknowledged, to the broker or to
its device, so it comes again; the store's next call has a new connection."""

from __future__ import annotations

import time
from typing import cast

import psycopg

from hardware_sim.compound_processes import wait_for
from hardware_sim.local_postgres import LocalPostgres
from sync.hub.ingest import Inbound, Ingest
from sync.hub.ingest_lanes import IngestLanes
from sync.hub.quotas import DeviceQuotas, QuotaLimits
from sync.hub.store import CentralStore
from sync.hub.store_database import libpq_url, schema_name
from sync.mqtt.link import MqttLink, Received
from sync.wire.device_messages import EventAck, EventBatch

SITE = "sunrise-garden"
DEVICE = "main-gate"
WALL = 1_796_000_000.0  # in 2026 (its month partition is made when first written)


class AckLink:
    """What the ingest publishes: the device's acks."""

    def __init__(self) -> None:
        self.acks: list[EventAck] = []

    def publish(self, _topic: str, payload: str) -> None:
        self.acks.append(EventAck.parse(payload.encode()))


def message(seq: int, url: str, broker_acked: list[tuple[int, bool]]) -> Inbound:
    """A batch of the one event ``seq``; when the broker is told, notes in ``broker_acked``
    whether the event was stored by then."""
    event = {"seq": seq, "boot_id": "b", "wall": WALL + seq, "mono": float(seq), "kind": "tap",
             "alarm": False, "clock_trusted": True, "data": {}}
    payload = EventBatch(DEVICE, (event,), seq - 1, "j").dump().encode()
    return Inbound("events", DEVICE, Received(
        "t", payload, False, lambda: broker_acked.append((seq, seq in stored(url)))))


def stored(url: str) -> list[int]:
    """The seqs stored, read on a connection of the test's own (none while the database
    refuses connections)."""
    try:
        conn = psycopg.connect(libpq_url(url))
    except psycopg.OperationalError:
        return []
    with conn:
        return [int(r[0]) for r in conn.execute(
            f'SELECT seq FROM "{schema_name(SITE)}".events ORDER BY seq')]


def test_a_batch_the_server_failed_to_store_is_not_acknowledged_and_comes_again(
        url: str, postgres: LocalPostgres) -> None:
    store = CentralStore(url, SITE)
    lanes = IngestLanes(1)
    ingest = Ingest(store, DeviceQuotas(QuotaLimits()), drop=lambda *_a: None,
                    over_quota=lambda *_a: None, lanes=lanes)
    link, broker_acked = AckLink(), list[tuple[int, bool]]()
    lanes.start()
    ingest.start(cast(MqttLink, link))
    try:
        ingest.put(message(1, url, broker_acked))
        wait_for("the first batch acknowledged", lambda: len(broker_acked) == 1, 30)
        # The database goes away for a while: every connection ended, new ones refused.
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(libpq_url(postgres.admin_url), autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                          "datname = %s", (name,))
            ingest.put(message(2, url, broker_acked))
            ingest.put(message(3, url, broker_acked))
            wait_for("both taken", ingest._inbox.empty, 30)
            time.sleep(0.5)  # the round that took them ends within milliseconds
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        # What a failed store held is told to no one: the broker delivers it again after
        # the next reconnect, the gate sends it again after its ack timeout, as here.
        missing = {2, 3} - set(stored(url))
        assert missing, "the server's failure was not met"
        assert all(ack.upto_seq < min(missing) for ack in link.acks)
        for seq in sorted(missing):
            ingest.put(message(seq, url, broker_acked))
        wait_for("everything stored", lambda: stored(url) == [1, 2, 3], 30)
        wait_for("everything acknowledged", lambda: {s for s, _ in broker_acked} == {1, 2, 3}, 30)
        # Never told the broker of a batch that was not stored (it would not come again).
        assert all(was_stored for _seq, was_stored in broker_acked), broker_acked
        assert link.acks[-1].upto_seq == 3
    finally:
        ingest.stop()
        lanes.stop()
        store.close()
