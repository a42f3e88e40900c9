"""A snapshot apply killed at any instant leaves the old whitelist or the new one, never a mix.

A real ``menwei-sync run`` process starts with a complete 80,000-card snapshot staged in
``auth.db`` beside a 60,000-card list (the two lists overlap in part and differ in content),
applies it at start-up, and is SIGKILLed at a random moment while it does. After every kill
``auth.db`` must pass SQLite's integrity check and be, by count, sequence number and a
checksum over every row, exactly the old list or exactly the new one; the old list with the
whole snapshot still staged, for the next start."""

from __future__ import annotations

import hashlib
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.auth_store import AuthStore
from edge.card_record import CardRow
from edge.cards import CardStatus
from edge.ports import SystemClock
from firmware_config.schema import EdgeConfig
from sync.agent.snapshot_staging import SnapshotStaging, open_staging_connection
from sync.wire.auth_messages import SnapshotChunk, SnapshotRows
from tests.sync.conftest import SITE, Broker
from tests.sync.test_edge_agent import agent_config

BIN = Path(sys.executable).parent
OLD_SEQ, NEW_SEQ = 100, 200
OLD_CARDS, NEW_CARDS = 60_000, 80_000
KILLS = 20
APPLY_STARTS = b"resuming staged snapshot"

Fingerprint = tuple[int, int, str]


def cards(first: int, n: int, status: CardStatus, seq: int) -> list[CardRow]:
    return [CardRow(uid=f"{first + i:08X}", status=status, valid_from=None, valid_until=None,
                    access_groups=("b1", "parking"), schedule=None, holder_kind="owner",
                    plate=None, auth_seq=seq) for i in range(n)]


def fingerprint(auth_db: Path) -> Fingerprint:
    """(applied_seq, number of cards, sha256 over every row) of a whitelist file."""
    conn = sqlite3.connect(auth_db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        applied = int(conn.execute("SELECT value FROM meta WHERE key = 'applied_seq'")
                      .fetchone()[0])
        digest = hashlib.sha256()
        n = 0
        for row in conn.execute("SELECT * FROM cards ORDER BY uid"):
            digest.update(repr(row).encode())
            n += 1
    finally:
        conn.close()
    return applied, n, digest.hexdigest()


def restore(template: Path, target: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, target)


def build_files(config: EdgeConfig, templates: Path) -> None:
    """The old whitelist in auth.db and the new one fully staged beside it, as a template."""
    store = AuthStore(config.auth_db)
    store.upsert(cards(0, OLD_CARDS, CardStatus.ACTIVE, OLD_SEQ), applied_seq=OLD_SEQ)
    store.close()
    conn = open_staging_connection(config.auth_db)
    staging = SnapshotStaging(conn, SystemClock())
    # Half of the new list overlaps the old one with another status; the rest is new.
    new = cards(OLD_CARDS // 2, NEW_CARDS, CardStatus.LOST, NEW_SEQ)
    per_chunk = 2000
    count = NEW_CARDS // per_chunk
    for index in range(count):
        complete = staging.add(SnapshotRows.of(SnapshotChunk(
            SITE, "snap-1", NEW_SEQ, index, index == count - 1, time.time(),
            tuple(new[index * per_chunk:(index + 1) * per_chunk]))))
    assert complete is not None and complete.received == count
    conn.close()
    templates.mkdir()
    # Closing the last connection checkpoints the WAL into the file itself.
    assert not Path(f"{config.auth_db}-wal").exists()
    shutil.copyfile(config.auth_db, templates / config.auth_db.name)


def start_agent(config: EdgeConfig) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(BIN / "menwei-sync"), "run", "--config", str(config.source)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for_apply_to_start(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stderr is not None
    for line in proc.stderr:
        if APPLY_STARTS in line:
            return
    raise AssertionError(f"the agent exited ({proc.wait()}) without applying the snapshot")


def test_sigkill_during_a_snapshot_apply_leaves_old_or_new_never_a_mix(
        tmp_path: Path, broker: Broker) -> None:
    config = agent_config(tmp_path, broker, Ed25519PrivateKey.generate())
    templates = tmp_path / "templates"
    build_files(config, templates)
    old = fingerprint(config.auth_db)
    assert old[:2] == (OLD_SEQ, OLD_CARDS)

    # One undisturbed run: how long does the apply take, and what does "new" look like?
    proc = start_agent(config)
    wait_for_apply_to_start(proc)
    started = time.monotonic()
    while fingerprint_seq(config.auth_db) != NEW_SEQ:
        assert proc.poll() is None
        time.sleep(0.005)
    apply_time = time.monotonic() - started
    proc.kill()
    proc.wait()
    new = fingerprint(config.auth_db)
    assert new[:2] == (NEW_SEQ, NEW_CARDS)

    rng = random.Random()
    outcomes = {"old": 0, "new": 0}
    for _ in range(KILLS):
        restore(templates / "auth.db", config.auth_db)
        proc = start_agent(config)
        wait_for_apply_to_start(proc)
        time.sleep(rng.uniform(0, apply_time * 2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        found = fingerprint(config.auth_db)
        assert found in (old, new), f"a mix after a kill: {found[:2]}"
        outcome = "old" if found == old else "new"
        outcomes[outcome] += 1
        if outcome == "old":
            assert staged_cards(config.auth_db) == NEW_CARDS  # kept for the next start

    # The kills landed on both sides of the swap's commit (the swap renames the staged
    # table: it takes milliseconds, so a kill rarely lands inside it; what it writes is
    # one transaction either way).
    print(f"kills: {outcomes}; apply took {apply_time:.3f} s")
    assert outcomes["old"] and outcomes["new"], outcomes

    # Undisturbed, the agent finishes the job, discards the staging and stops cleanly.
    restore(templates / "auth.db", config.auth_db)
    proc = start_agent(config)
    wait_for_apply_to_start(proc)
    while fingerprint_seq(config.auth_db) != NEW_SEQ:
        assert proc.poll() is None
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert fingerprint(config.auth_db) == new
    assert staged_cards(config.auth_db) == 0


def staged_cards(auth_db: Path) -> int:
    conn = sqlite3.connect(auth_db, timeout=10)
    try:
        if conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'cards_staged'"
                        ).fetchone()[0] == 0:
            return 0
        return int(conn.execute("SELECT count(*) FROM cards_staged").fetchone()[0])
    finally:
        conn.close()


def fingerprint_seq(auth_db: Path) -> int:
    """Just the applied sequence number (cheap enough to poll)."""
    conn = sqlite3.connect(auth_db, timeout=10)
    try:
        return int(conn.execute("SELECT value FROM meta WHERE key = 'applied_seq'")
                   .fetchone()[0])
    finally:
        conn.close()
