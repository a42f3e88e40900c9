"""A company's desk as several ``menwei-desk serve`` workers against one PostgreSQL and one
broker (issue 14): one worker publishes the site and stores its gates' events (it holds the
site's lease). The worker publishing is killed with SIGKILL while the desk's changes stream
out; the other takes the site over within seconds, and every gate ends on the same list, in
order, nothing twice, every event stored once."""

from __future__ import annotations

import getpass
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select

from central.db import make_engine
from central.models import AuthLogEntry, Site
from central.services.context import Desk
from central.services.gate_record import append_entry
from central.services.sites import load_site
from central.site_file import read_site_file
from edge.card_record import CardRow, to_wire
from edge.cards import CardStatus
from firmware_config.schema import EdgeConfig
from hardware_sim.local_ports import free_tcp_port
from hardware_sim.local_postgres import LocalPostgres
from hardware_sim.site_broker import LocalBroker
from sync.agent.edge_agent import EdgeAgent
from sync.broker.config import BrokerLayout, add_user
from sync.hub.site_lease import lease_holders
from sync.hub.store_database import libpq_url, schema_name
from sync.wire.signing import generate_key, load_private_key, public_key_text
from sync.wire.topics import CENTRAL_USER
from tests.edge.conftest import door_doc, write_doc

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "central" / "examples"
SITE = "sunrise-garden"
GATES = ("gate-1", "gate-2", "gate-3")
CHANGES = 240
EVENTS_PER_GATE = 400


def wait_until(done: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def company_broker(root: Path) -> LocalBroker:
    """A plain Mosquitto as a company's central broker: every account signed in, client ids
    as the clients give them (several desk workers share one account)."""
    layout = BrokerLayout(site=SITE, conf_dir=root, data_dir=root / "data",
                          port=free_tcp_port(),
                          run_as=getpass.getuser() if os.geteuid() == 0 else None)
    layout.data_dir.mkdir(parents=True)
    users = {CENTRAL_USER: "central-pw", **{g: f"pw-{g}" for g in GATES}}
    for user, password in users.items():
        add_user(layout.passwd, user, password)
    lines = [f"listener {layout.port} 127.0.0.1", "allow_anonymous false",
             f"password_file {layout.passwd}", "persistence true",
             f"persistence_location {layout.data_dir}/", "max_queued_messages 100000"]
    if layout.run_as:
        lines.append(f"user {layout.run_as}")
    layout.conf.write_text("\n".join(lines) + "\n")
    return LocalBroker(layout, users)


def card(n: int, status: CardStatus) -> CardRow:
    return CardRow(uid=f"{0x0A000000 + n:08X}", status=status, valid_from=None,
                   valid_until=None, access_groups=("b1",), schedule=None,
                   holder_kind="owner", plate=None)


def change(desk: Desk, n: int) -> None:
    """One change at the desk, as a desk action appends it (its site row locked)."""
    row = card(n % 40, (CardStatus.ACTIVE, CardStatus.LOST, CardStatus.REVOKED)[n % 3])
    with desk.write_sessions() as s, s.begin():
        site = s.scalars(select(Site).where(Site.code == SITE).with_for_update()).one()
        append_entry(s, site, row.uid, json.dumps(to_wire(row)), site.created_at)


def lease_holder(url: str) -> str | None:
    """The worker holding the site's lease, as PostgreSQL shows it."""
    with psycopg.connect(libpq_url(url)) as conn:
        return lease_holders(conn, [SITE]).get(SITE)


def whitelist(auth_db: Path) -> tuple[int, dict[str, str]]:
    conn = sqlite3.connect(auth_db)
    try:
        applied = int(conn.execute("SELECT value FROM meta WHERE key = 'applied_seq'")
                      .fetchone()[0])
        return applied, dict(conn.execute("SELECT uid, status FROM cards").fetchall())
    finally:
        conn.close()


@pytest.fixture
def company(postgres: LocalPostgres, postgres_desk_template: str,
            tmp_path: Path) -> Iterator[tuple[str, LocalBroker]]:
    url = postgres.create_database("company_workers", template=postgres_desk_template)
    desk = Desk(make_engine(url))
    load_site(desk, read_site_file(EXAMPLES / "site.toml"))
    desk.close()
    broker = company_broker(tmp_path / "broker")
    broker.start()
    try:
        yield url, broker
    finally:
        broker.stop()
        postgres.drop_database("company_workers")


def test_a_worker_killed_while_publishing_is_taken_over_and_nothing_is_lost_or_doubled(
        company: tuple[str, LocalBroker], tmp_path: Path) -> None:
    url, broker = company
    key_file = tmp_path / "signing.key"
    generate_key(key_file)
    (tmp_path / "central.password").write_text("central-pw\n")
    workers: dict[str, subprocess.Popen[bytes]] = {}
    for worker in ("w1", "w2"):
        config_file = tmp_path / f"{worker}.toml"
        config_file.write_text(
            f'broker_port = {broker.port}\nsites = ["{SITE}"]\n'
            f'password_file = "{tmp_path / "central.password"}"\n'
            f'signing_key = "{key_file}"\ndata_dir = "{tmp_path / worker}"\n'
            f'worker_id = "{worker}"\n')
        log = (tmp_path / f"{worker}.log").open("wb")
        workers[worker] = subprocess.Popen(
            [sys.executable, "-m", "central.cli", "serve", "--db", url, "--port",
             str(free_tcp_port()), "--sync-config", str(config_file)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    public = public_key_text(load_private_key(key_file))
    agents: list[EdgeAgent] = []
    configs: list[EdgeConfig] = []
    for gate in GATES:
        doc = door_doc(tmp_path / gate)
        doc["site"]["id"] = SITE
        doc["device"]["id"] = gate
        (tmp_path / f"{gate}.password").write_text(f"pw-{gate}\n")
        doc["sync"] = {"broker_port": broker.port,
                       "password_file": str(tmp_path / f"{gate}.password"),
                       "central_public_key": public, "reconnect_max": "1s"}
        configs.append(write_doc(tmp_path / f"{gate}.toml", doc))
    desk = Desk(make_engine(url))
    try:
        wait_until(lambda: lease_holder(url) is not None, "a worker to take the site")
        first = lease_holder(url)
        for config in configs:
            agent = EdgeAgent(config, ack_timeout=2.0)
            agents.append(agent)
            agent.start()
            for n in range(EVENTS_PER_GATE):
                agent.journal.event("tap", {"n": n})

        def stream() -> None:
            for n in range(CHANGES):
                change(desk, n)
                time.sleep(0.01)

        writer = threading.Thread(target=stream)
        writer.start()
        time.sleep(1.0)  # mid-stream: changes written, some published, more coming
        assert first is not None
        workers[first].send_signal(signal.SIGKILL)
        workers[first].wait(10)
        killed_at = time.monotonic()
        survivor = next(w for w in workers if w != first)
        wait_until(lambda: lease_holder(url) == survivor, "the other worker to take over",
                   timeout=15)
        takeover_s = time.monotonic() - killed_at
        writer.join(60)

        with desk.sessions() as s:
            final = {uid: json.loads(text)["status"] for uid, text in s.execute(
                select(AuthLogEntry.uid, AuthLogEntry.card).order_by(AuthLogEntry.seq))}
        with psycopg.connect(libpq_url(url)) as conn:
            conn.execute(f'SET search_path TO "{schema_name(SITE)}"')

            def hub_head() -> int:
                return int(conn.execute("SELECT coalesce(max(seq), 0) FROM auth_log")
                           .fetchone()[0])  # type: ignore[index]

            wait_until(lambda: hub_head() >= CHANGES, "the desk's changes to be relayed")
            wait_until(lambda: all(whitelist(c.auth_db)[0] == hub_head() for c in configs),
                       "every gate to apply the whole list")
            # The desk's log relayed once each, in its order: nothing twice, no gap.
            relayed = [r[0] for r in conn.execute(
                "SELECT desk_seq FROM auth_log ORDER BY seq").fetchall()]
            assert relayed == sorted(relayed) and len(relayed) == len(set(relayed)) == CHANGES
            for config in configs:
                assert whitelist(config.auth_db)[1] == final, config.device.id

            def stored(gate: str) -> int:
                return int(conn.execute(
                    "SELECT count(*) FROM events WHERE device = %s AND kind = 'tap'",
                    (gate,)).fetchone()[0])  # type: ignore[index]

            wait_until(lambda: all(stored(g) == EVENTS_PER_GATE for g in GATES),
                       "every gate's events to be stored")
            duplicates = conn.execute(
                "SELECT device, journal_id, seq FROM events GROUP BY device, journal_id, seq "
                "HAVING count(*) > 1").fetchall()
            assert duplicates == []
        print(f"takeover {takeover_s:.1f} s after the SIGKILL")
        assert takeover_s < 10
    finally:
        for agent in agents:
            agent.stop()
        desk.close()
        for process in workers.values():
            if process.poll() is None:
                process.terminate()
                process.wait(30)
