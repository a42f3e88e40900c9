"""Two lanes of one car park share their counts through a real Mosquitto (issue 12, lot
capacity): each lane's own ``lot.db`` (the gate's side, written here as the gate writes it)
and its real sync agent (sync/agent/lot_exchange.py wired into EdgeAgent). Entries at one
lane, exits at the other; the broker stopped while cars pass and started again; a lane
restarting; a guard's correction; a full lot. Afterwards both lanes compute the same,
right occupancy."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.atomic_file import write_atomically
from edge.lot_counts import LaneCounters, LotCounts
from edge.ports import SystemClock
from edge.site_rules import FILE_NAME, Lot, SiteRules, SpaceClass
from firmware_config.schema import EdgeConfig
from sync.agent.edge_agent import EdgeAgent
from sync.agent.lot_exchange import LotExchange
from sync.broker.config import render_acl
from sync.hub.bridge import CentralSync
from sync.wire import topics
from sync.wire.lot_message import LotCountsMessage
from sync.wire.signing import public_key_text
from sync.wire.topics import CENTRAL_USER
from tests.edge.conftest import barrier_doc, write_doc
from tests.sync.conftest import SITE, Broker, ConnectProbe

TEMPORARY, MONTHLY = SpaceClass.TEMPORARY, SpaceClass.MONTHLY
LOT = Lot(id="main", name="地面停车场", gates=("dev-a", "dev-b"),
          spaces={SpaceClass.FIXED: 1, MONTHLY: 5, TEMPORARY: 3})
RULES = SiteRules(site=SITE, version=1, issued_at=1.0, lots=(LOT,))
NOT_AUTHORIZED = 0x87


def wait_for(predicate: Callable[[], object], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not reached in {timeout} s: {what}"
        time.sleep(0.05)


def lane_config(tmp_path: Path, broker: Broker, key: Ed25519PrivateKey, device: str,
                role: str) -> EdgeConfig:
    """A barrier lane with a [sync] table, and the site's rules written where the agent of
    another helper (H4b) writes them."""
    doc = barrier_doc(tmp_path / device, role, apb="off")
    doc["device"]["id"] = device
    password = tmp_path / f"{device}.password"
    password.write_text(broker.passwords[device] + "\n")
    doc["sync"] = {"broker_port": broker.port, "password_file": str(password),
                   "central_public_key": public_key_text(key), "reconnect_max": "1s"}
    config = write_doc(tmp_path / f"{device}.toml", doc)
    config.device.data_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(config.device.data_dir / FILE_NAME, RULES.dump())
    return config


class Lane:
    """A lane's two processes as this test plays them: the gate's lot.db, the sync agent."""

    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        assert config.lane is not None
        self.agent: EdgeAgent | None = None
        self.gate = LotCounts(config.lane.lot_db, config.device.id)

    def start_agent(self) -> None:
        self.agent = EdgeAgent(self.config)
        self.agent.start()
        assert self.agent.wait_connected(10), "the agent did not connect"

    def stop_agent(self) -> None:
        if self.agent is not None:
            self.agent.stop()
            self.agent = None

    def restart_gate(self) -> None:
        """The gate process restarts: its lot.db is opened again."""
        self.gate.close()
        assert self.config.lane is not None
        self.gate = LotCounts(self.config.lane.lot_db, self.config.device.id)

    def passes(self, n: int, entering: bool, space_class: SpaceClass = TEMPORARY) -> None:
        for _ in range(n):
            self.gate.record_passage(entering, space_class, time.time())

    def occupied(self) -> dict[SpaceClass, int]:
        return dict(self.gate.occupancy(LOT).occupied)

    def close(self) -> None:
        self.stop_agent()
        self.gate.close()


@pytest.fixture
def lanes(tmp_path: Path, broker: Broker, key: Ed25519PrivateKey) -> Iterator[tuple[Lane, Lane]]:
    entry = Lane(lane_config(tmp_path, broker, key, "dev-a", "barrier_entry"))
    exit_lane = Lane(lane_config(tmp_path, broker, key, "dev-b", "barrier_exit"))
    yield entry, exit_lane
    entry.close()
    exit_lane.close()


def agree_on(entry: Lane, exit_lane: Lane, expected: dict[SpaceClass, int]) -> None:
    """Both lanes reach ``expected`` (the classes named) and the same whole count."""
    def both() -> bool:
        a, b = entry.occupied(), exit_lane.occupied()
        return a == b and all(a.get(c) == n for c, n in expected.items())

    try:
        wait_for(both)
    except AssertionError:
        raise AssertionError(f"both lanes not at {expected}: {entry.occupied()} / "
                             f"{exit_lane.occupied()}") from None


def test_two_lanes_agree_through_an_outage_a_restart_a_correction_and_a_full_lot(
        lanes: tuple[Lane, Lane], broker: Broker) -> None:
    entry, exit_lane = lanes
    entry.start_agent()
    exit_lane.start_agent()
    entry.passes(2, entering=True)
    entry.passes(1, entering=True, space_class=MONTHLY)
    agree_on(entry, exit_lane, {TEMPORARY: 2, MONTHLY: 1})

    # The broker goes down while cars pass at both lanes.
    broker.stop()
    entry.passes(2, entering=True)
    exit_lane.passes(1, entering=False)
    exit_lane.passes(1, entering=False, space_class=MONTHLY)
    # Each lane counts its own cars at once; the other's are missing until it hears them.
    assert entry.occupied()[TEMPORARY] == 4 and exit_lane.occupied()[TEMPORARY] == 1
    later = time.time() + 600
    assert entry.gate.occupancy(LOT, later).stale_lanes == ("dev-b",)

    # The entry lane's gate restarts during the outage; its totals go on from the file.
    entry.restart_gate()
    entry.passes(1, entering=False)
    assert entry.gate.own_counters() == LaneCounters({TEMPORARY: 4, MONTHLY: 1},
                                                     {TEMPORARY: 1, MONTHLY: 0})

    broker.start()
    # 4 temporary in, 2 out; 1 monthly in, 1 out: whatever order the messages came in.
    agree_on(entry, exit_lane, {TEMPORARY: 2, MONTHLY: 0})
    assert entry.gate.occupancy(LOT).stale_lanes == ()

    # The sync agent of the exit lane restarts too: nothing is counted twice.
    exit_lane.stop_agent()
    exit_lane.start_agent()
    entry.passes(1, entering=True)
    agree_on(entry, exit_lane, {TEMPORARY: 3})
    # The lot is full for temporary cars at both lanes; monthly spaces are still free.
    for lane in lanes:
        occupancy = lane.gate.occupancy(LOT)
        assert occupancy.free(TEMPORARY) == 0 and occupancy.free(MONTHLY) == 5

    # The guard at the exit booth counts 2 temporary cars (one left by the pedestrian way,
    # say): the correction reaches the entry lane, and later passages add to it.
    exit_lane.gate.correct(LOT, {TEMPORARY: 2}, "王保安", "夜间清点", time.time())
    agree_on(entry, exit_lane, {TEMPORARY: 2})
    assert entry.gate.base("main") == exit_lane.gate.base("main")
    entry.passes(1, entering=True)
    agree_on(entry, exit_lane, {TEMPORARY: 3})
    assert entry.gate.occupancy(LOT).free(TEMPORARY) == 0


def test_a_lane_that_lost_its_file_gets_its_totals_back_from_its_retained_message(
        lanes: tuple[Lane, Lane]) -> None:
    entry, exit_lane = lanes
    entry.start_agent()
    exit_lane.start_agent()
    entry.passes(3, entering=True)
    agree_on(entry, exit_lane, {TEMPORARY: 3})
    entry.stop_agent()
    entry.gate.close()
    assert entry.config.lane is not None
    entry.config.lane.lot_db.unlink()  # a replaced SD card
    for extra in ("-wal", "-shm"):
        Path(f"{entry.config.lane.lot_db}{extra}").unlink(missing_ok=True)
    entry.gate = LotCounts(entry.config.lane.lot_db, "dev-a")
    entry.start_agent()
    wait_for(lambda: entry.gate.own_counters().entries.get(TEMPORARY) == 3,
             what="the entry lane's totals back from its own retained message")
    agree_on(entry, exit_lane, {TEMPORARY: 3})


def test_a_lane_writes_only_its_own_lot_topic_and_reads_the_sites(
        broker: Broker, mqtt_clients: ConnectProbe) -> None:
    assert f"pattern write {topics.lot(SITE, '+', '%u')}" in render_acl(SITE)
    dev_a = mqtt_clients(broker.port, "dev-a", broker.passwords["dev-a"])
    dev_b = mqtt_clients(broker.port, "dev-b", broker.passwords["dev-b"])
    central = mqtt_clients(broker.port, CENTRAL_USER, broker.passwords[CENTRAL_USER])
    for reader in (dev_b, central):
        assert not reader.subscribe(topics.lot_wildcard(SITE)).is_failure
    own = topics.lot(SITE, "main", "dev-a")
    assert not dev_a.publish(own, b"mine").is_failure
    assert dev_b.wait_for(own, b"mine") and central.wait_for(own, b"mine")
    forged = topics.lot(SITE, "main", "dev-b")
    rc = dev_a.publish(forged, b"forged by dev-a")
    assert rc.is_failure and rc.value == NOT_AUTHORIZED
    assert not central.publish(forged, b"marker").is_failure
    assert central.wait_for(forged, b"marker") and central.on(forged) == [b"marker"]


class Published:
    """What an exchange handed to the broker, retained."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []
        self.up = True

    def __call__(self, topic: str, payload: str) -> bool:
        if self.up:
            self.messages.append((topic, payload))
        return self.up


def exchange(tmp_path: Path, device: str, published: Published, **kw: Any) -> LotExchange:
    folder = tmp_path / device
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(folder / FILE_NAME, RULES.dump())
    return LotExchange(folder / "lot.db", folder / FILE_NAME, site=SITE, device=device,
                       publish=published, clock=SystemClock(), poll_s=0.0, **kw)


def test_malformed_or_misaddressed_messages_are_dropped_and_nothing_is_counted(
        tmp_path: Path) -> None:
    published = Published()
    lane = exchange(tmp_path, "dev-a", published)
    good = LotCountsMessage(SITE, "dev-b", 1.0, LOT, LaneCounters({TEMPORARY: 2}, {}))
    topic = topics.lot(SITE, "main", "dev-b")
    bad = [b"not json", b'{"v":1,"type":"lot_counts"}',
           good.dump().replace('"temporary":[2,0]', '"temporary":[-2,0]').encode(),
           good.dump().replace('"gates":["dev-a","dev-b"]', '"gates":[]').encode()]
    for payload in bad:
        assert not lane.handle(topic, payload)
    assert lane.dropped == len(bad)
    # Said on another lane's topic, or by a lane that is not one of the lot's, or for
    # another car park: not counted.
    assert not lane.handle(topics.lot(SITE, "main", "dev-c"), good.dump().encode())
    stranger = LotCountsMessage(SITE, "dev-c", 1.0, LOT, LaneCounters({TEMPORARY: 9}, {}))
    assert not lane.handle(topics.lot(SITE, "main", "dev-c"), stranger.dump().encode())
    assert not lane.handle(topics.lot(SITE, "other", "dev-b"), good.dump().encode())
    assert lane.counts.occupancy(LOT).occupied[TEMPORARY] == 0
    assert lane.handle(topic, good.dump().encode())
    assert lane.counts.occupancy(LOT).occupied[TEMPORARY] == 2
    lane.close()


def test_counts_are_published_on_change_at_connect_and_as_a_heartbeat(tmp_path: Path) -> None:
    published = Published()
    lane = exchange(tmp_path, "dev-a", published, heartbeat_s=3600.0)
    lane.tick()
    lane.tick()
    assert len(published.messages) == 1  # once, not at every poll
    topic, payload = published.messages[0]
    assert topic == topics.lot(SITE, "main", "dev-a")
    assert LotCountsMessage.parse(payload).counters == LaneCounters()
    lane.counts.record_passage(True, TEMPORARY, 1.0)
    published.up = False
    lane.tick()  # the broker is away: tried again at the next tick
    published.up = True
    lane.tick()
    assert LotCountsMessage.parse(published.messages[-1][1]).counters.entries[TEMPORARY] == 1
    lane.on_connected()
    lane.tick()
    assert len(published.messages) == 3  # again at a reconnect
    lane.heartbeat_s = 0.0
    lane.tick()
    assert len(published.messages) == 4
    lane.close()


def test_a_lane_in_no_lot_publishes_nothing_and_a_lane_moved_clears_its_old_topic(
        tmp_path: Path) -> None:
    published = Published()
    lane = exchange(tmp_path, "dev-a", published)
    lane.tick()
    moved = SiteRules(site=SITE, version=2, issued_at=2.0, lots=(
        Lot(id="north", name="北区", gates=("dev-a",), spaces={TEMPORARY: 1}),))
    write_atomically(tmp_path / "dev-a" / FILE_NAME, moved.dump())
    time.sleep(0.01)
    lane.tick()
    assert published.messages[1] == (topics.lot(SITE, "main", "dev-a"), "")
    assert published.messages[2][0] == topics.lot(SITE, "north", "dev-a")
    write_atomically(tmp_path / "dev-a" / FILE_NAME,
                     SiteRules(site=SITE, version=3, issued_at=3.0).dump())
    lane.tick()
    assert published.messages[3:] == [(topics.lot(SITE, "north", "dev-a"), "")]
    lane.tick()
    assert len(published.messages) == 4
    lane.close()


def test_the_desk_hears_every_lane_and_counts_as_they_do(
        lanes: tuple[Lane, Lane], broker: Broker, key: Ed25519PrivateKey,
        tmp_path: Path) -> None:
    entry, exit_lane = lanes
    entry.start_agent()
    exit_lane.start_agent()
    entry.passes(3, entering=True)
    entry.passes(2, entering=True, space_class=MONTHLY)
    exit_lane.passes(1, entering=False)
    agree_on(entry, exit_lane, {TEMPORARY: 2, MONTHLY: 2})
    exit_lane.gate.correct(LOT, {MONTHLY: 4}, "王保安", "清点", time.time())
    agree_on(entry, exit_lane, {TEMPORARY: 2, MONTHLY: 4})
    # The desk connects later: the retained messages bring it every lane at once.
    hub = CentralSync(tmp_path / "central.db", SITE, key, "127.0.0.1", broker.port,
                      password=broker.passwords[CENTRAL_USER], reconnect_delay=(1, 1))
    hub.start()
    try:
        def desk_count() -> dict[SpaceClass, int] | None:
            readings = hub.lot_readings()
            return dict(readings[0].occupancy.occupied) if readings else None

        wait_for(lambda: desk_count() == entry.occupied(), what="the desk's count")
        [reading] = hub.lot_readings()
        assert reading.lot == LOT and reading.occupancy.free(TEMPORARY) == 1
        assert reading.base is not None and reading.base.guard == "王保安"
        assert reading.occupancy.stale_lanes == ()
        entry.passes(1, entering=True)
        wait_for(lambda: desk_count() == {**entry.occupied(), TEMPORARY: 3},
                 what="the desk hears a later car")
    finally:
        hub.close()
