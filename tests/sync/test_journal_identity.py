"""A journal has an identity: a gate whose events.db is lost starts a new journal with a new
id; central stores its events as themselves (keyed by device, journal id and seq), shows
them, acknowledges them to that journal only, and raises one alarm that the device lost its
journal. Real gate processes, a real sync agent, a real Mosquitto and CentralSync."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.control_socket import ControlClient
from edge.journal import MIGRATIONS as JOURNAL_MIGRATIONS
from edge.journal import Journal
from edge.migrations import connect, migrate
from edge.ports import SystemClock
from firmware_config.schema import EdgeConfig
from sync.agent.edge_agent import EdgeAgent
from sync.hub.bridge import CentralSync
from sync.hub.schema import MIGRATIONS as CENTRAL_MIGRATIONS
from sync.hub.store import CentralStore
from tests.edge.conftest import commission
from tests.edge.test_fault_kill import start_gate
from tests.sync.conftest import SITE, Broker
from tests.sync.test_edge_agent import agent_config, wait_for

DEVICE = "dev-a"


def ev(seq: int, boot: str = "boot-1", **extra: Any) -> dict[str, Any]:
    return {"seq": seq, "boot_id": boot, "wall": 1_750_000_000.0 + seq, "mono": float(seq),
            "kind": "tap", "alarm": False, "clock_trusted": True, "uid": f"04{seq:06X}",
            "granted": True, "reason": "granted", "data": {}, **extra}


def journal_id_of(path: Path) -> str:
    j = Journal(path, SystemClock(), max_events=1000)
    try:
        return j.journal_id
    finally:
        j.close()


# ---------------------------------------------------------------- the gate's journal file


def test_a_new_journal_file_gets_a_new_id_and_an_existing_one_keeps_its_own(
        tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    first = journal_id_of(path)
    assert len(first) == 32 and int(first, 16) >= 0
    assert journal_id_of(path) == first  # the same file is the same journal
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    assert journal_id_of(path) not in ("", first)  # a lost file: a new journal

    # A journal written before ids existed (schema version 1) gets one, once, and keeps
    # its events and its acknowledged mark.
    old = tmp_path / "old-events.db"
    conn = connect(str(old))
    migrate(conn, JOURNAL_MIGRATIONS[:1], "old journal")
    conn.execute("INSERT INTO events (boot_id, wall, mono, kind, clock_trusted) "
                 "VALUES ('b', 1.0, 1.0, 'boot', 1)")
    conn.execute("UPDATE sync_state SET acked_seq = 1")
    conn.close()
    named = journal_id_of(old)
    assert len(named) == 32 and journal_id_of(old) == named
    j = Journal(old, SystemClock(), max_events=1000)
    assert (j.last_seq(), j.acked_seq, [e.kind for e in j.read()]) == (1, 1, ["boot"])
    j.close()


# ---------------------------------------------------------------- the central store


def test_a_replaced_journal_is_stored_as_itself_with_one_alarm(
        store_at: Callable[[str], Path | str]) -> None:
    store = CentralStore(store_at("central.db"), SITE)
    old, new = "a" * 32, "b" * 32
    assert store.store_events(DEVICE, [ev(s) for s in (1, 2, 3)], journal_id=old) == 3
    assert store.alarms(DEVICE) == []  # a device's first journal is no news
    # The SD card is replaced: a new journal numbers from 1 again.
    assert store.store_events(DEVICE, [ev(s, "new-card") for s in (1, 2)], journal_id=new) == 2
    assert store.store_events(DEVICE, [ev(s, "new-card") for s in (1, 2)], journal_id=new) == 2
    assert store.count_events(DEVICE) == 5
    assert store.event_conflicts(DEVICE) == []
    assert sorted((e["journal_id"], e["seq"]) for e in store.events_for(DEVICE)) == [
        (old, 1), (old, 2), (old, 3), (new, 1), (new, 2)]
    (alarm,) = store.alarms(DEVICE)
    assert (alarm["kind"], alarm["detail"]) == ("journal_replaced",
                                                {"old": old, "new": new, "old_upto": 3})
    # A late batch of the old journal (redelivered by the broker) is stored as the old
    # journal's, acknowledged to it, and changes nothing about the current journal.
    assert store.store_events(DEVICE, [ev(4)], acked_seq=3, journal_id=old) == 4
    (status,) = store.device_status()
    assert (status["journal_id"], status["events_upto"]) == (new, 2)
    assert len(store.alarms(DEVICE)) == 1
    # Within one journal a seq that comes back with other content is still a conflict.
    assert store.store_events(DEVICE, [ev(2, "impostor")], journal_id=new) == 2
    assert [e["boot_id"] for e in store.event_conflicts(DEVICE)] == ["impostor"]
    store.close()


def test_imported_history_is_stored_without_becoming_the_devices_journal(
        store_at: Callable[[str], Path | str]) -> None:
    store = CentralStore(store_at("central.db"), SITE)
    history = "demo-history"
    assert store.import_events(DEVICE, history, [ev(s, "old-boot") for s in (1, 2, 3)]) == 3
    assert store.import_events(DEVICE, history, [ev(s, "old-boot") for s in (2, 3)]) == 0
    assert store.device_status() == []  # no device has reported yet
    # The gate's own first batch opens its journal as a first one: no alarm.
    assert store.store_events(DEVICE, [ev(s) for s in (1, 2)], journal_id="c" * 32) == 2
    assert store.alarms(DEVICE) == []
    (status,) = store.device_status()
    assert (status["journal_id"], status["events_upto"]) == ("c" * 32, 2)
    assert sorted((e["journal_id"], e["seq"]) for e in store.events_for(DEVICE)) == [
        ("c" * 32, 1), ("c" * 32, 2), (history, 1), (history, 2), (history, 3)]
    store.close()


def test_an_existing_central_db_keeps_its_events_and_adopts_each_devices_named_journal(
        tmp_path: Path) -> None:
    # A central.db written by the code before journal ids (schema version 2).
    path = tmp_path / "central.db"
    conn = connect(str(path))
    migrate(conn, CENTRAL_MIGRATIONS[:2], "old central store")
    for device in ("dev-a", "dev-b", "dev-c"):
        conn.executemany(
            "INSERT INTO events (device, seq, boot_id, wall, mono, kind, alarm, clock_trusted, "
            "data, received_at) VALUES (?, ?, 'boot-1', 1.0, ?, 'tap', 0, 1, '{}', 2.0)",
            [(device, s, float(s)) for s in (1, 2, 3)])
        conn.execute("INSERT INTO devices (device, events_upto, last_seen) VALUES (?, 3, 5.0)",
                     (device,))
    conn.execute("INSERT INTO event_gaps VALUES ('dev-a', 10, 12)")
    conn.close()

    store = CentralStore(path, SITE)
    assert store.count_events() == 9
    assert {e["journal_id"] for e in store.events_for()} == {""}
    assert {d["device"]: (d["journal_id"], d["events_upto"]) for d in store.device_status()} \
        == {"dev-a": ("", 3), "dev-b": ("", 3), "dev-c": ("", 3)}
    # dev-a's agent is upgraded: its journal gets an id, and its batch says central
    # acknowledged it up to 3 — the same journal. The gap it announced still counts.
    named = "c" * 32
    assert store.store_events("dev-a", [ev(s) for s in (4, 5, 6, 7, 8, 9, 13)], acked_seq=3,
                              journal_id=named) == 13
    assert {e["journal_id"] for e in store.events_for("dev-a")} == {named}
    assert store.count_events("dev-a") == 10
    # dev-b's acknowledgement was lost before the upgrade: it sends 1..3 again, unchanged.
    assert store.store_events("dev-b", [ev(s) for s in (1, 2, 3)],
                              journal_id="d" * 32) == 3
    assert store.count_events("dev-b") == 3
    # dev-c's SD card was replaced with the upgrade: a new journal, other events at 1.
    assert store.store_events("dev-c", [ev(1, "new-card")], journal_id="e" * 32) == 1
    assert store.count_events("dev-c") == 4
    assert [(a["device"], a["kind"]) for a in store.alarms()] == [("dev-c", "journal_replaced")]
    assert store.event_conflicts("dev-c") == []
    store.close()


# ---------------------------------------------------------------- the whole path


def stop_gate(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    assert proc.wait(15) == 0


def taps(config: EdgeConfig, uids: list[str]) -> None:
    with ControlClient(config.control_socket, timeout=5) as client:
        for uid in uids:
            client.call("sim.read_card", uid=uid)


def journal_rows(config: EdgeConfig) -> tuple[str, int, int, list[tuple[int, str, str]]]:
    """(journal id, last seq, acked seq, [(seq, boot_id, kind)]) of the gate's journal."""
    conn = sqlite3.connect(f"file:{config.events_db}?mode=ro", uri=True)
    try:
        journal_id, acked = conn.execute("SELECT journal_id, acked_seq FROM sync_state").fetchone()
        rows = conn.execute("SELECT seq, boot_id, kind FROM events ORDER BY seq").fetchall()
    finally:
        conn.close()
    return str(journal_id), rows[-1][0], int(acked), [tuple(r) for r in rows]


@pytest.fixture
def central(broker: Broker, tmp_path: Path) -> Iterator[CentralSync]:
    sync = CentralSync(tmp_path / "central.db", SITE, Ed25519PrivateKey.generate(),
                       "127.0.0.1", broker.port, password="central-pw",
                       reconnect_delay=(1, 1))
    sync.start()
    wait_for(lambda: sync.connected, what="central connected")
    yield sync
    sync.close()


def ship_one_journal(config: EdgeConfig, uids: list[str]) -> tuple[str, list[Any]]:
    """Run the gate and its agent: taps, then the gate stops and the agent drains its
    journal until central acknowledged all of it. The journal's id and rows."""
    gate = start_gate(config)
    agent = EdgeAgent(config, ack_timeout=2.0)
    agent.start()
    try:
        assert agent.wait_connected(10)
        taps(config, uids)
        stop_gate(gate)
        journal_id, last, _acked, rows = journal_rows(config)
        wait_for(lambda: journal_rows(config)[2] == last, timeout=20,
                 what=f"the agent drained journal {journal_id} up to {last}")
    finally:
        if gate.poll() is None:
            gate.kill()
        agent.stop()
    return journal_id, rows


@pytest.mark.timeout(120)
def test_a_gate_whose_journal_is_lost_ships_its_new_journal_as_itself(
        tmp_path: Path, broker: Broker, central: CentralSync) -> None:
    config = agent_config(tmp_path, broker, Ed25519PrivateKey.generate(), device=DEVICE)
    commission(config)
    old_id, old_rows = ship_one_journal(config, ["04A1B2C3", "DEADBEEF"])
    assert central.count_events(DEVICE) == len(old_rows)

    # The journal file is lost (a new SD card): gate and agent start on a fresh one.
    for suffix in ("", "-wal", "-shm"):
        Path(f"{config.events_db}{suffix}").unlink(missing_ok=True)
    new_id, new_rows = ship_one_journal(config, ["04A1B2C3", "0A0B0C0D", "DEADBEEF"])
    assert new_id != old_id and new_rows[0][0] == 1  # it numbers from 1 again

    store = central.store
    wait_for(lambda: central.count_events(DEVICE) == len(old_rows) + len(new_rows),
             what="both journals stored")
    assert store.event_conflicts(DEVICE) == []
    stored = {(e["journal_id"], e["seq"]): (e["boot_id"], e["kind"])
              for e in central.events_for(DEVICE, limit=10_000)}
    assert stored == {**{(old_id, s): (b, k) for s, b, k in old_rows},
                      **{(new_id, s): (b, k) for s, b, k in new_rows}}
    taps_now = [e for e in central.events_for(DEVICE, limit=10_000)
                if e["journal_id"] == new_id and e["kind"] == "tap"]
    assert [e["uid"] for e in taps_now] == ["04A1B2C3", "0A0B0C0D", "DEADBEEF"]
    (alarm,) = store.alarms(DEVICE)
    assert (alarm["kind"], alarm["detail"]) == (
        "journal_replaced", {"old": old_id, "new": new_id, "old_upto": len(old_rows)})
    (status,) = central.device_status()
    assert (status["journal_id"], status["events_upto"]) == (new_id, len(new_rows))
    # The new journal was acknowledged as itself, up to its own last event.
    assert journal_rows(config)[:3] == (new_id, len(new_rows), len(new_rows))
    time.sleep(0.2)
    assert len(store.alarms(DEVICE)) == 1
