"""A desk worker's ingest lanes on the company's PostgreSQL database (sync/hub/ingest_lanes.py):
the rounds of several sites waiting in a lane's line are stored in one transaction on the
lane's own connection, each site's events in its own schema, each batch acknowledged once
committed; what breaks that transaction is stored site by site, as before."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from typing import cast

import psycopg
import pytest

from hardware_sim.local_postgres import LocalPostgres
from sync.hub.ingest import Inbound, Ingest
from sync.hub.ingest_lanes import IngestLanes
from sync.hub.quotas import DeviceQuotas, QuotaLimits
from sync.hub.store import CentralStore
from sync.hub.store_database import StoreConnection, libpq_url, schema_name
from sync.mqtt.link import MqttLink, Received
from sync.wire.device_messages import EventAck, EventBatch

SITES = ("sunrise-garden", "moonlight-court", "riverside")
WALL = 1_796_000_000.0  # in 2026 (its month partition is made when first written)


@pytest.fixture
def url(postgres: LocalPostgres) -> Iterator[str]:
    """A database of its own on the run's PostgreSQL cluster."""
    name = f"lanes_{uuid.uuid4().hex[:12]}"
    yield postgres.create_database(name)
    postgres.drop_database(name)


class AckLink:
    """What the ingest publishes (the device acks), by topic."""

    def __init__(self) -> None:
        self.acks: list[tuple[str, EventAck]] = []

    def publish(self, topic: str, payload: str) -> None:
        self.acks.append((topic, EventAck.parse(payload.encode())))


class BuggyStore(CentralStore):
    """The real store; a batch of the device ``breaks`` fails as no database error would
    (a bug): not a fault a real database can be made to have on demand."""

    def store_batch_in(self, conn: StoreConnection, device: str, batch: EventBatch,
                       now: float) -> int:
        if device == "breaks":
            raise RuntimeError("a bug in the store")
        return super().store_batch_in(conn, device, batch, now)

    def store_event_batches(self, batches: Sequence[tuple[str, EventBatch]]) -> list[int]:
        if any(device == "breaks" for device, _b in batches):
            raise RuntimeError("a bug in the store")
        return super().store_event_batches(batches)


def message(device: str, first: int, n: int, acked: list[str]) -> Inbound:
    """A batch of ``n`` events from ``first``, noting in ``acked`` when the broker is told."""
    events = tuple({"seq": s, "boot_id": "b", "wall": WALL + s, "mono": float(s),
                    "kind": "tap", "alarm": False, "clock_trusted": True, "data": {}}
                   for s in range(first, first + n))
    payload = EventBatch(device, events, first - 1, "j").dump().encode()
    received = Received("t", payload, False, lambda: acked.append(f"{device}:{first}"))
    return Inbound("events", device, received)


def transactions(url: str, site: str) -> set[int]:
    """The transactions (xmin) that wrote the site's stored events."""
    with psycopg.connect(libpq_url(url)) as conn:
        return {int(r[0]) for r in conn.execute(
            f'SELECT xmin::text FROM "{schema_name(site)}".events')}


def stored(url: str, site: str) -> list[int]:
    """The seqs of the site's gate stored, read on a connection of the test's own."""
    with psycopg.connect(libpq_url(url)) as conn:
        return [int(r[0]) for r in conn.execute(
            f'SELECT seq FROM "{schema_name(site)}".events ORDER BY seq')]


def run_lane(url: str, waiting: dict[str, list[Inbound]], acked: list[str], until: int,
             store_kind: type[CentralStore] = CentralStore
             ) -> tuple[dict[str, CentralStore], AckLink]:
    """One lane serving the sites, with ``waiting`` queued before it starts; returns once
    ``until`` messages are acknowledged to the broker (noted in ``acked``)."""
    lanes = IngestLanes(1)
    stores = {site: store_kind(url, site) for site in SITES}
    ingests = {site: Ingest(store, DeviceQuotas(QuotaLimits()), drop=lambda *_a: None,
                            over_quota=lambda *_a: None, lanes=lanes)
               for site, store in stores.items()}
    link = AckLink()
    for site, messages in waiting.items():
        for one in messages:
            ingests[site].put(one)
    for ingest in ingests.values():  # all in line before the lane takes any
        ingest.start(cast(MqttLink, link))
    lanes.start()
    try:
        deadline = time.monotonic() + 30
        while len(acked) < until:
            assert time.monotonic() < deadline, acked
            time.sleep(0.01)
    finally:
        for ingest in ingests.values():
            ingest.stop()
        lanes.stop()
    return stores, link


def test_sites_waiting_in_a_lane_are_stored_in_one_transaction(url: str) -> None:
    acked: list[str] = []
    waiting = {site: [message(f"{site}-gate", 1, 1, acked), message(f"{site}-gate", 2, 2, acked)]
               for site in SITES}
    stores, link = run_lane(url, waiting, acked, 6)
    for site, store in stores.items():
        assert store.event_seqs(f"{site}-gate") == [1, 2, 3]  # in its own schema only
        store.close()
    # One commit for the three sites: every row written by one transaction.
    assert len(set().union(*(transactions(url, site) for site in SITES))) == 1
    assert sorted((ack.device, ack.upto_seq) for _t, ack in link.acks) == sorted(
        (f"{site}-gate", upto) for site in SITES for upto in (1, 3))


def test_a_batch_breaking_the_shared_transaction_loses_only_itself(url: str) -> None:
    acked: list[str] = []
    waiting = {"sunrise-garden": [message("main-gate", 1, 3, acked)],
               "moonlight-court": [message("breaks", 1, 3, acked)],
               "riverside": [message("b1-lobby", 1, 2, acked)]}
    stores, link = run_lane(url, waiting, acked, 3, BuggyStore)
    # Together first; that failed, so each site alone: the other two stored and acknowledged.
    assert stores["sunrise-garden"].event_seqs("main-gate") == [1, 2, 3]
    assert stores["riverside"].event_seqs("b1-lobby") == [1, 2]
    assert stores["moonlight-court"].event_seqs("breaks") == []
    assert sorted(ack.device for _t, ack in link.acks) == ["b1-lobby", "main-gate"]
    assert sorted(acked) == ["b1-lobby:1", "breaks:1", "main-gate:1"]  # none redelivered
    for store in stores.values():
        store.close()


def test_a_lost_lane_connection_is_made_again(url: str) -> None:
    """The server ends every connection (a restart, an administrator): the round that finds
    the lane's connection gone stores nothing it cannot acknowledge, and a later one stores
    everything."""
    lanes = IngestLanes(1)
    stores = {site: CentralStore(url, site) for site in SITES}
    ingests = {site: Ingest(store, DeviceQuotas(QuotaLimits()), drop=lambda *_a: None,
                            over_quota=lambda *_a: None, lanes=lanes)
               for site, store in stores.items()}
    acked: list[str] = []
    link = AckLink()
    lanes.start()
    try:
        for ingest in ingests.values():
            ingest.start(cast(MqttLink, link))

        def send(first: int) -> None:
            for site in SITES:
                ingests[site].put(message(f"{site}-gate", first, 1, acked))

        def wait_acked(n: int) -> None:
            deadline = time.monotonic() + 30
            while len(link.acks) < n:
                assert time.monotonic() < deadline, link.acks
                time.sleep(0.01)

        send(1)
        wait_acked(3)
        with psycopg.connect(libpq_url(url), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                          "datname = current_database() AND pid <> pg_backend_pid()")
        for first in range(2, 5):
            send(first)
            time.sleep(0.3)
        # What a failed round did not store is not acknowledged; the gates would send it
        # again, as here.
        for site in SITES:
            missing = set(range(1, 5)) - set(stored(url, site))
            for first in sorted(missing):
                ingests[site].put(message(f"{site}-gate", first, 1, acked))
        deadline = time.monotonic() + 30
        while any(stored(url, s) != [1, 2, 3, 4] for s in SITES):
            assert time.monotonic() < deadline, {s: stored(url, s) for s in SITES}
            time.sleep(0.05)
    finally:
        for ingest in ingests.values():
            ingest.stop()
        lanes.stop()
        for store in stores.values():
            store.close()
    assert link.acks and all(ack.upto_seq <= 4 for _t, ack in link.acks)
