"""A sync agent whose clock is behind, against a real Mosquitto: a genuine, correctly
sequenced list is applied (a lost card must not keep opening because the clock is wrong),
the clock being behind is journalled without a security alarm, and commands are judged
against the floor of trusted time, never letting a replayed nonce through."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.auth_store import AuthStore
from edge.cards import CardStatus
from edge.clock_files import evidence_path, load_agent_evidence
from sync.agent.edge_agent import EdgeAgent
from tests.sync.conftest import Broker
from tests.sync.test_edge_agent import (
    Central,
    SettableClock,
    agent_config,
    card,
    commission,
    events,
    refusals,
    start_agent,
    wait_for,
    whitelist,
)

MONTH_S = 30 * 86400.0
__all__ = ["start_agent"]  # a fixture shared with test_edge_agent


def behind(seconds: float) -> SettableClock:
    clock = SettableClock()
    clock.now -= seconds
    return clock


def test_a_list_from_the_agents_future_is_applied_and_the_clock_journalled_behind(
        tmp_path: Path, broker: Broker, key: Ed25519PrivateKey,
        start_agent: Callable[..., EdgeAgent]) -> None:
    config = agent_config(tmp_path, broker, key)
    commission(config, [card(1, seq=1)], applied_seq=1)
    central = Central(broker, key, answer_time=False)  # only the list speaks of the time
    try:
        start_agent(config, clock=behind(MONTH_S))
        issued = time.time()
        central.send_changes(2, [card(1, CardStatus.LOST)], issued_at=issued)  # rule L1
        wait_for(lambda: whitelist(config) == (2, {"00000001": ("lost", 2)}),
                 what="the lost card applied")
        assert refusals(config) == []
        noted = events(config, "clock_behind")
        assert len(noted) == 1 and not noted[0].alarm
        assert noted[0].data["subject"] == "auth_changes"
        assert float(str(noted[0].data["behind_s"])) > MONTH_S - 60
        # The list's issue time went into auth.db with applied_seq: the gate's floor.
        store = AuthStore(config.auth_db)
        try:
            assert store.list_issued_at == issued
        finally:
            store.close()
        # Still journalled once, not once per list.
        central.send_changes(3, [card(2)], issued_at=time.time())
        wait_for(lambda: whitelist(config)[0] == 3)
        assert len(events(config, "clock_behind")) == 1
    finally:
        central.close()


def test_commands_with_a_clock_behind_are_judged_against_the_floor(
        tmp_path: Path, broker: Broker, key: Ed25519PrivateKey,
        start_agent: Callable[..., EdgeAgent]) -> None:
    config = agent_config(tmp_path, broker, key)
    commission(config, [card(1, seq=1)], applied_seq=1)
    store = AuthStore(config.auth_db)
    store.upsert([], list_issued_at=time.time())  # a list applied moments ago: the floor
    store.close()
    central = Central(broker, key, answer_time=False)
    try:
        agent = start_agent(config, clock=behind(3600))
        assert not agent.trust.trusted()
        # Issued now by central, an hour ahead of this clock: genuine, not refused for that.
        command = central.command(lifetime=30)
        central.send_command(command)
        wait_for(lambda: len(events(config, "remote_command_undelivered")) == 1,
                 what="the command accepted (no gate is running to carry it out)")
        assert refusals(config) == []
        # Its issue time is floor evidence for the gate (written after the delivery attempt).
        wait_for(lambda: load_agent_evidence(evidence_path(config.clock_state))
                 .command_issued_at == command.issued_at, what="the command's issue time kept")
        # A replayed nonce is refused whatever the clock.
        central.send_command(command)
        wait_for(lambda: refusals(config) == [("command", "replayed_nonce")])
        # One that expired before the floor is refused, though this clock calls it fresh.
        stale = central.command(issued_at=time.time() - 1800, lifetime=30)
        central.send_command(stale)
        wait_for(lambda: refusals(config)[-1:] == [("command", "expired")])
        assert len(events(config, "remote_command_undelivered")) == 1
    finally:
        central.close()


def test_a_snapshot_from_the_agents_future_is_applied_with_its_issue_time(
        tmp_path: Path, broker: Broker, key: Ed25519PrivateKey,
        start_agent: Callable[..., EdgeAgent]) -> None:
    config = agent_config(tmp_path, broker, key)
    central = Central(broker, key, answer_time=False)
    try:
        start_agent(config, clock=behind(MONTH_S))
        chunks = central.snapshot(50, [card(n) for n in range(1, 6)], per_chunk=2)
        for chunk in chunks:
            central.send_chunk(chunk)
        wait_for(lambda: whitelist(config)[0] == 50, what="the snapshot applied")
        assert refusals(config) == []
        assert [e.data["subject"] for e in events(config, "clock_behind")] == ["auth_snapshot"]
        store = AuthStore(config.auth_db)
        try:
            assert store.list_issued_at == chunks[0].issued_at
        finally:
            store.close()
    finally:
        central.close()
