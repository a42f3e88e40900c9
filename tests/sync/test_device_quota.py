"""What one device may cost central: per-device quotas on events and on catch-up requests.
Over the quota the excess is delayed, never lost nor acknowledged unstored; the hub raises one
alarm; other devices are unaffected. Real sync agents, a real Mosquitto and CentralSync."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.agent.edge_agent import EdgeAgent
from sync.hub.bridge import CentralSync
from sync.hub.quotas import DeviceQuotas, QuotaLimits, TokenBucket
from sync.wire import topics
from sync.wire.auth_messages import CatchupRequest, TimeRequest
from tests.sync.conftest import SITE, Broker
from tests.sync.test_central_bridge import Device, card, changes_of
from tests.sync.test_edge_agent import agent_config, append_events, journal, wait_for

FLOOD = 1500


# ---------------------------------------------------------------- the buckets


def test_a_bucket_gives_its_burst_then_its_rate() -> None:
    bucket = TokenBucket(per_s=10, burst=100, now=0.0)
    assert bucket.take(100, 0.0)
    assert not bucket.take(1, 0.0)  # refused: nothing charged
    assert bucket.wait(5, 0.0) == pytest.approx(0.5)
    assert bucket.take(5, 0.5)
    assert bucket.take(95, 100.0) and not bucket.take(6, 100.0)  # never above the burst
    # A batch larger than the whole burst passes from a full bucket, leaving it in debt.
    assert bucket.take(300, 200.0) and not bucket.take(1, 210.0) and bucket.take(1, 221.0)


def test_quota_alarms_are_due_once_per_interval_and_count_what_was_refused() -> None:
    now = [0.0]
    quotas = DeviceQuotas(QuotaLimits(events_per_minute=60, events_burst=10,
                                      alarm_interval_s=60), monotonic=lambda: now[0])
    assert quotas.take("dev-a", "events", 10)
    assert not quotas.take("dev-a", "events", 5)
    assert quotas.take("dev-b", "events", 10)  # each device has its own bucket
    assert quotas.refused("dev-a", "events", 5) == 5
    assert quotas.refused("dev-a", "events", 7) is None
    now[0] = 61.0
    assert quotas.refused("dev-a", "events", 1) == 8
    with pytest.raises(ValueError, match="events_burst"):
        QuotaLimits(events_burst=0)


# ---------------------------------------------------------------- events


@pytest.fixture
def make_central(broker: Broker, tmp_path: Path) -> Iterator[Callable[..., CentralSync]]:
    made: list[CentralSync] = []

    def make(quota: QuotaLimits, key: Ed25519PrivateKey | None = None,
             **kwargs: Any) -> CentralSync:
        # The agents' pinned key: else central's signed time answers are refused and
        # journalled as security alarms, and the journals hold more than the test wrote.
        sync = CentralSync(tmp_path / "central.db", SITE, key or Ed25519PrivateKey.generate(),
                           "127.0.0.1", broker.port, password="central-pw",
                           reconnect_delay=(1, 1), quota=quota, **kwargs)
        made.append(sync)
        sync.start()
        wait_for(lambda: sync.connected, what="central connected")
        return sync

    yield make
    for sync in made:
        sync.close()


@pytest.fixture
def agents() -> Iterator[list[EdgeAgent]]:
    started: list[EdgeAgent] = []
    yield started
    for agent in started:
        agent.stop()


def quota_alarms(central: CentralSync, device: str) -> list[dict[str, Any]]:
    return [a for a in central.store.alarms(device) if a["kind"] == "quota_exceeded"]


@pytest.mark.timeout(180)
def test_a_device_flooding_events_is_delayed_not_lost_and_others_are_acknowledged(
        tmp_path: Path, broker: Broker, make_central: Callable[..., CentralSync],
        agents: list[EdgeAgent]) -> None:
    # 200 events a burst, 200 a second after it: the flood takes several seconds to drain.
    key = Ed25519PrivateKey.generate()
    central = make_central(QuotaLimits(events_per_minute=12_000, events_burst=200,
                                       alarm_interval_s=600), key=key)
    flood = agent_config(tmp_path, broker, key, device="dev-a", name="flood", batch_size=100)
    append_events(flood, FLOOD)
    quiet = agent_config(tmp_path, broker, key, device="dev-b", name="quiet")
    flooding = EdgeAgent(flood, ack_timeout=0.5)
    agents.append(flooding)
    flooding.start()
    flood_journal = journal(flood)

    wait_for(lambda: quota_alarms(central, "dev-a"), what="a quota alarm about dev-a")
    # Over its quota: acknowledged only what central stored, and central did not store it
    # all at once.
    stored = central.count_events("dev-a")
    assert flood_journal.acked_seq <= stored < FLOOD

    # Meanwhile another device's events are stored and acknowledged as usual.
    quiet_journal = journal(quiet)
    quiet_seqs = [quiet_journal.append("tap", {"n": n}) for n in range(3)]
    quieting = EdgeAgent(quiet, ack_timeout=0.5)
    agents.append(quieting)
    quieting.start()
    wait_for(lambda: quiet_journal.acked_seq == quiet_seqs[-1], what="dev-b acknowledged")
    assert flood_journal.acked_seq < FLOOD  # and that was while dev-a was still held back

    # The flood drains in the end: every event stored exactly once, none lost.
    wait_for(lambda: flood_journal.acked_seq == FLOOD, timeout=120, what="dev-a drained")
    seqs = [e["seq"] for e in central.events_for("dev-a", limit=10_000)]
    assert sorted(seqs) == list(range(1, FLOOD + 1))
    assert central.store.event_conflicts("dev-a") == []
    (alarm,) = quota_alarms(central, "dev-a")  # once, however long it went on
    assert alarm["detail"]["what"] == "events"
    assert alarm["detail"]["refused"] >= 100
    assert (alarm["detail"]["per_minute"], alarm["detail"]["burst"]) == (12_000, 200)
    assert quota_alarms(central, "dev-b") == []
    flood_journal.close()
    quiet_journal.close()


# ---------------------------------------------------------------- catch-up requests


@pytest.mark.timeout(120)
def test_a_device_flooding_catchup_requests_is_answered_within_its_quota(
        broker: Broker, make_central: Callable[..., CentralSync]) -> None:
    # Three answers at once, then one every 10 s.
    central = make_central(QuotaLimits(catchups_per_minute=6, catchups_burst=3))
    central.record_card(card(1))
    auth_a, auth_b = topics.device_auth(SITE, "dev-a"), topics.device_auth(SITE, "dev-b")
    flooder = Device(broker, "dev-a", [auth_a])
    other = Device(broker, "dev-b", [auth_b])
    try:
        for n in range(1, 4):  # within the quota: each answered
            flooder.publish(topics.catchup(SITE, "dev-a"), CatchupRequest("dev-a", 0).dump())
            flooder.wait_for(auth_a, n)
        for _ in range(20):
            flooder.publish(topics.catchup(SITE, "dev-a"), CatchupRequest("dev-a", 0).dump())
        wait_for(lambda: quota_alarms(central, "dev-a"), what="a quota alarm about dev-a")
        # Another device asking now is answered at once.
        other.publish(topics.catchup(SITE, "dev-b"), CatchupRequest("dev-b", 0).dump())
        other.wait_for(auth_b, 1)
        assert len(flooder.on(auth_a)) == 3
        (alarm,) = quota_alarms(central, "dev-a")
        assert alarm["detail"]["what"] == "catchups"
        assert (alarm["detail"]["per_minute"], alarm["detail"]["burst"]) == (6, 3)
        # The flood collapsed into one waiting request, answered when the quota allows:
        # a device behind is never left without its changes.
        flooder.wait_for(auth_a, 4, timeout=30)
        (change,) = changes_of(central.key, flooder.on(auth_a)[3:])
        assert (change.from_seq, change.to_seq) == (1, 1)
        assert quota_alarms(central, "dev-b") == []
        assert len(quota_alarms(central, "dev-a")) == 1
    finally:
        flooder.close()
        other.close()


def test_a_device_flooding_time_requests_gets_its_burst_of_answers_and_an_alarm(
        broker: Broker, make_central: Callable[..., CentralSync]) -> None:
    central = make_central(QuotaLimits(time_answers_per_minute=1, time_answers_burst=3))
    auth_a, auth_b = topics.device_auth(SITE, "dev-a"), topics.device_auth(SITE, "dev-b")
    flooder = Device(broker, "dev-a", [auth_a])
    other = Device(broker, "dev-b", [auth_b])
    try:
        for n in range(50):
            flooder.publish(topics.catchup(SITE, "dev-a"),
                            TimeRequest("dev-a", f"nonce-{n:04d}").dump())
        wait_for(lambda: quota_alarms(central, "dev-a"), what="a quota alarm about dev-a")
        other.publish(topics.catchup(SITE, "dev-b"), TimeRequest("dev-b", "nonce-b001").dump())
        other.wait_for(auth_b, 1)  # another device is answered at once
        assert len(flooder.on(auth_a)) == 3
        (alarm,) = quota_alarms(central, "dev-a")
        assert alarm["detail"]["what"] == "time_answers"
    finally:
        flooder.close()
        other.close()
