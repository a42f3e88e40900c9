"""A property company's hundred compounds, one office: gate events in, revocations out, the
desk's pages meanwhile (issue 14).

    python -m bench.company --sites 100 --gates 20 --workers 2

What runs, all on 127.0.0.1:

- PostgreSQL (hardware_sim/local_postgres.py, ``durable=True``: fsync'd commits, the
  product's durability) holding the desk's tables and every site's hub store (schema
  ``hub_<site>``: events partitioned by month, signed log, outbox);
- ``--workers`` real ``menwei-desk serve`` processes on it, each linked to every site through
  the central broker (``--sync-config`` with its ``worker_id``): the sites are spread over
  the workers by their leases, and the worker holding a site publishes it and stores its
  gates' events;
- one Mosquitto per site, bridged to one central Mosquitto, both rendered by the product
  (``sync.broker.config`` with a ``CentralBridge``, ``sync.broker.central_broker``), the
  desk workers connected to the central one only (``start_brokers``);
- ``--sites`` x ``--gates`` simulated gates, many per process (``--gate-processes``), each a
  paho client driven from one selector loop per process, speaking the real protocol with the
  real message classes: each has a journal of its own (its journal id, seqs 1..n) growing at
  ``--rate`` events a second, and ships it as the agent's uplink does
  (sync/agent/journal_uplink.py: every ``POLL_S`` and at once after an ack, batches of at
  most ``--batch`` events, ``--window`` batches in flight, everything unacknowledged sent
  again after ``ack_timeout`` without an ack moving), takes the ``EventAck`` of its journal,
  and verifies the signature of every authorisation change of its site before looking at
  it (``open_signed``, ``parse_auth_message``).

Figures, the last line JSON:

- ``events_per_s``: the events stored in PostgreSQL (rows counted at the end) over the run,
  from the gates' first event to the newest ``received_at``; the gates generate for
  ``--seconds``, then what they hold is drained (the revocations still to go are measured
  meanwhile, the desk still storing, and say how many were taken while generating).
  ``lost`` = events the gates generated that no row holds; ``duplicates`` = rows beyond one
  per (device, journal, seq) plus events sent again on the wire (the gates count their
  resends; ``resent`` alone too). Baseline: the same number of rows (at most
  ``--baseline-events``), in the product's mean batch size and ``GROUP_MESSAGES`` batches
  per commit, inserted with ``executemany`` by one client into the same partitioned events
  table (a hub schema of its own) with the same durability, right after the drain.
- ``revocation_p50_ms``/``revocation_p99_ms``: a clerk of the first site reports a card lost
  through the API (``POST /api/v1/cards/{uid}/report-lost``, sent to the workers in turn, as
  a load balancer would), until the last of the site's gates has the signed change
  verified; while every other site's gates keep sending. Baseline, alternating sample by
  sample: one publish of a payload of the same size on the central broker, through the
  same bridge, to the same gates.
- ``page_p50_ms``/``page_p99_ms``: ``--clerks`` clerks of the first site, each logged in
  through the login page, about one page a second (a household, the gates, the event feed)
  for the whole busy phase.
- ``sites_page_p50_ms``/``sites_page_p99_ms``: the office's duty director (an account of
  every site) watching every site's gates at a glance (``/sites/gates``, as its page
  refreshes itself: about every 5 s) for the whole busy phase; apart from ``page_*``.

Where the time went: the CPU seconds of each group of processes over the busy phase.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import secrets
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import psycopg
import tomli_w
from argon2 import PasswordHasher
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from bench.common import cpu_seconds, data_folder, figures, percentile
from bench.desk_load import API, CLERK_PASSWORD, Clerk, Operation, Tally, Work, start_desk
from bench.gate_fleet import (
    DRAIN_TIMEOUT_S,
    Arrivals,
    GateProcess,
    GateSettings,
    baseline_topic,
    start_gates,
)
from bench.revocation import CLERK, PASSWORD, Holder, clerk_and_cards, report_lost_body
from bench.revocation import write_site_file as write_site
from central.db import make_engine, upgrade
from central.models import Person, Role, Site
from central.services.context import Desk
from central.services.sites import load_site
from central.services.staff import NewStaff, create_staff
from central.site_file import read_site_file
from hardware_sim.local_ports import free_tcp_port
from hardware_sim.local_postgres import LocalPostgres
from hardware_sim.site_broker import start_mosquitto, stop_mosquitto
from sync.agent.journal_uplink import DEFAULT_ACK_TIMEOUT_S, DEFAULT_WINDOW
from sync.broker.central_broker import CentralBrokerLayout, write_central_broker
from sync.broker.config import BrokerLayout, CentralBridge, bridge_user, write_broker
from sync.hub.ingest import GROUP_MESSAGES
from sync.hub.site_lease import lease_holders
from sync.hub.store_database import PostgresStoreDatabase, libpq_url, schema_name
from sync.wire import topics
from sync.wire.signing import generate_key
from sync.wire.topics import CENTRAL_USER

WARM_UP_S = 5.0  # the gates' sending settles before the first revocation
PAUSE_S = 0.05  # between two revocation samples
HUB_HOUSEHOLDS = 2  # the sites other than the first: their gates are what is measured


def site_code(i: int) -> str:
    """The i-th site's code."""
    return f"site-{i:03d}"


def gate_name(j: int) -> str:
    """The j-th gate of a site (its device id, its broker user)."""
    return f"g{j:02d}"


# ---------------------------------------------------------------------------- brokers


@dataclass
class Brokers:
    """The brokers of the run: where the desk connects, where each site's gates connect."""

    desk_port: int
    gate_ports: dict[str, int]
    bridged: bool
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        """Stop every broker."""
        for proc in self.procs:
            stop_mosquitto(proc)


def _passwords(passwd: Path, users: dict[str, str]) -> None:
    """A Mosquitto password file for ``users``, hashed in one ``mosquitto_passwd -U`` (a
    call per user would be two thousand of them)."""
    passwd.write_text("".join(f"{u}:{p}\n" for u, p in users.items()))
    passwd.chmod(0o600)
    subprocess.run(["mosquitto_passwd", "-U", str(passwd)], check=True, capture_output=True)


def start_brokers(root: Path, sites: list[str], gates: list[str], desk_password: str,
                  gate_password: Callable[[str, str], str]) -> Brokers:
    """A Mosquitto per site bridged to one central Mosquitto, as a company runs them: the
    site brokers and the bridge rendered by ``menwei-sync broker-config``'s code, the
    central one by ``central-broker-acl``'s; the desk connects to the central one only.
    Each site's ACL also lets its gates read the revocation baseline's topic."""
    run_as = "root" if os.geteuid() == 0 else None
    central = CentralBrokerLayout(root / "central", root / "central" / "data",
                                  free_tcp_port(), free_tcp_port(), bind="127.0.0.1",
                                  run_as=run_as)
    bridge_passwords = {s: f"bridge-{s}-{secrets.token_hex(8)}" for s in sites}
    write_central_broker(central, list(bridge_passwords.items()), desk_password)
    brokers = Brokers(central.desk_port, {}, bridged=True)
    try:
        brokers.procs.append(start_mosquitto(central.conf, central.desk_port))
        for site in sites:
            folder = root / site
            folder.mkdir(parents=True)
            (folder / "bridge.password").write_text(bridge_passwords[site] + "\n")
            layout = BrokerLayout(site, folder, folder / "data", free_tcp_port(),
                                  run_as=run_as, bridge=CentralBridge(
                                      "127.0.0.1", central.port, bridge_user(site),
                                      folder / "bridge.password"))
            write_broker(layout, {})
            _passwords(layout.passwd, {g: gate_password(site, g) for g in gates})
            with layout.acl.open("a") as acl:
                acl.write(f"\n# bench/company.py: the revocation baseline\n"
                          f"pattern read {baseline_topic(site)}\n")
            brokers.procs.append(start_mosquitto(layout.conf, layout.port))
            brokers.gate_ports[site] = layout.port
    except BaseException:
        brokers.stop()
        raise
    return brokers


def _mqtt(port: int, client_id: str, password: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(CENTRAL_USER, password)
    client.connect("127.0.0.1", port)
    return client


def wait_bridges(port: int, password: str, sites: list[str], timeout: float = 120) -> None:
    """Until every site's bridge says it is up on the central broker (its retained
    notification, "1")."""
    up: set[str] = set()
    done = threading.Event()

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        site = message.topic.split("/")[1]
        (up.add if message.payload == b"1" else up.discard)(site)
        if up >= set(sites):
            done.set()

    client = _mqtt(port, "bench-bridge-watch", password)
    client.on_connect = lambda c, *_a: c.subscribe(f"{topics.ROOT}/+/bridge/state", qos=1)
    client.on_message = on_message
    client.loop_start()
    try:
        if not done.wait(timeout):
            raise TimeoutError(f"bridges up: {len(up)} of {len(sites)} after {timeout:.0f} s")
    finally:
        client.disconnect()
        client.loop_stop()


# ---------------------------------------------------------------------------- the desk


def build_desk(url: str, folder: Path, sites: list[str], cards: int,
               clerks: int) -> tuple[list[Holder], list[int]]:
    """The company's desk: every site loaded from its site file, a clerk (``CLERK``) and
    ``cards`` resident cards at the first site, and ``clerks`` front-desk leads there (who
    may open the gates' pages); the cards'
    holders and the first site's households."""
    engine = make_engine(url)
    upgrade(engine)
    # Real argon2id, cheap parameters: the clerks' logins are not what is measured.
    desk = Desk(engine, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    try:
        folder.mkdir(parents=True)
        for i, site in enumerate(sites):
            path = folder / f"{site}.toml"
            write_site(path, cards if i == 0 else HUB_HOUSEHOLDS, site)
            load_site(desk, read_site_file(path))
        holders = clerk_and_cards(desk, sites[0])
        for i in range(1, clerks + 1):
            create_staff(desk, NewStaff.from_form({
                "username": f"bench.clerk{i}", "role": Role.FRONT_DESK_LEAD.value,
                "password": CLERK_PASSWORD, "site": sites[0]}))
        create_staff(desk, NewStaff.from_form({
            "username": OFFICE, "role": Role.DIRECTOR.value, "password": CLERK_PASSWORD}))
        with desk.sessions() as s:
            households = sorted({h for h in s.scalars(
                select(Person.household_id).join(Site, Site.id == Person.site_id)
                .where(Site.code == sites[0])) if h is not None})
    finally:
        desk.close()
    return holders, households


@dataclass
class Worker:
    """One ``menwei-desk serve`` worker."""

    name: str
    proc: subprocess.Popen[bytes]
    base: str
    log: Path


def start_workers(root: Path, url: str, brokers: Brokers, desk_password: str, *,
                  sites: list[str], count: int) -> tuple[list[Worker], str]:
    """``count`` desk workers on the database, each linked to every site through the
    central broker; returns once each answers HTTP, with the public key the gates trust."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "broker.password").write_text(desk_password + "\n")
    public_key = generate_key(root / "signing.key")
    workers = []
    for n in range(1, count + 1):
        name = f"w{n}"
        sync_file = root / f"{name}-sync.toml"
        sync_file.write_text(tomli_w.dumps({
            "broker_host": "127.0.0.1", "broker_port": brokers.desk_port,
            "username": CENTRAL_USER, "password_file": "broker.password",
            "signing_key": "signing.key", "data_dir": f"sync-{name}", "sites": sites,
            "worker_id": name}))
        log = root / f"{name}.log"
        proc, base = start_desk(url, log, "--sync-config", str(sync_file))
        workers.append(Worker(name, proc, base, log))
    return workers, public_key


def leases(url: str, sites: list[str]) -> dict[str, str]:
    """Which worker publishes each site, as PostgreSQL shows its advisory locks."""
    with psycopg.connect(libpq_url(url)) as conn:
        return lease_holders(conn, sites)


def published_per_worker(url: str, workers: list[Worker], sites: list[str]) -> dict[str, int]:
    """How many sites each worker publishes now."""
    held = leases(url, sites).values()
    return {w.name: sum(1 for v in held if v == w.name) for w in workers}


def server_connections(url: str) -> int:
    """Client connections the PostgreSQL server has open now (this one included)."""
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity "
                           "WHERE backend_type = 'client backend'").fetchone()
    return int(row[0]) if row else 0


def wait_linked(workers: list[Worker], url: str, sites: list[str], port: int,
                timeout: float = 300) -> None:
    """Until every worker's link to every site is up and every site has its publisher."""
    deadline = time.monotonic() + timeout
    marker = f"connected to 127.0.0.1:{port}"
    while True:
        linked = [w.log.read_text(errors="replace").count(marker) for w in workers]
        leased = leases(url, sites)
        if all(n >= len(sites) for n in linked) and len(leased) == len(sites):
            return
        for w in workers:
            if w.proc.poll() is not None:
                raise RuntimeError(f"{w.name} exited: "
                                   f"{w.log.read_text(errors='replace')[-3000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"links up per worker {linked}, sites leased {len(leased)}")
        time.sleep(0.5)


# ---------------------------------------------------------------------------- revocations


@dataclass
class Revocations:
    """The revocation samples: product and baseline, ms."""

    product: list[float] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    during_generation: int = 0  # samples taken while the gates were still generating


def api_clients(workers: list[Worker]) -> list[httpx.Client]:
    """The revoking clerk logged in to the API of each worker (before the load starts)."""
    clients = []
    for w in workers:
        http = httpx.Client(base_url=f"{w.base}{API}", timeout=30)
        token = http.post("/login", json={"username": CLERK, "password": PASSWORD})
        token.raise_for_status()
        http.headers["Authorization"] = f"Bearer {token.json()['token']}"
        clients.append(http)
    return clients


MAX_REVOCATION_ERRORS = 10  # then the desk is not answering: stop asking


def revoke_all(clients: list[httpx.Client], holders: list[Holder], site: str, gates: int, *,
               brokers: Brokers, desk_password: str, arrivals: Arrivals,
               result: Revocations) -> None:
    """Each holder's card reported lost, the workers taking the API calls in turn, each
    followed by a baseline publish to the same gates. A call that fails or times out, or a
    change some gate never sees within a minute, is an error."""
    publisher = _mqtt(brokers.desk_port, "bench-baseline", desk_password)
    publisher.loop_start()
    try:
        for n, holder in enumerate(holders):
            http = clients[n % len(clients)]
            if len(result.errors) >= MAX_REVOCATION_ERRORS:
                break
            t0 = time.monotonic()
            try:
                answer = http.post(f"/cards/{holder.uid}/report-lost",
                                   json=report_lost_body(holder))
                answered = time.monotonic()
                if answer.status_code != 201:
                    result.errors.append(f"{holder.uid}: {answer.status_code} {answer.text}")
                    continue
                last = arrivals.wait("rev", site, holder.uid, gates, 60)
            except (httpx.HTTPError, TimeoutError) as exc:
                result.errors.append(f"{holder.uid}: {exc!r} after "
                                     f"{time.monotonic() - t0:.1f} s")
                continue
            result.product.append((last - t0) * 1000)
            result.answered.append((answered - t0) * 1000)
            time.sleep(PAUSE_S)
            size = arrivals.sizes[-1]
            mark = f"b{n:05d}"
            t0 = time.monotonic()
            publisher.publish(baseline_topic(site), f"{mark} ".ljust(size, "x"), qos=1)
            try:
                result.baseline.append((arrivals.wait("base", site, mark, gates, 60) - t0)
                                       * 1000)
            except TimeoutError as exc:
                result.errors.append(f"baseline {mark}: {exc}")
            time.sleep(PAUSE_S)
    finally:
        publisher.loop_stop()
        publisher.disconnect()


# ---------------------------------------------------------------------------- pages


PAGES = (
    Operation("household", "GET", "/households/{household_id}", None, 0.4, 150),
    Operation("gates", "GET", "/gates", None, 0.3, 150),
    Operation("events", "GET", "/gates/events", None, 0.3, 150),
)
# The office's duty director: every site's gates, as the page polls them.
OFFICE = "bench.office"
OFFICE_PAGES = (Operation("sites", "GET", "/sites/gates/rows", None, 1.0, 150),)


def browse(clerk: Clerk, households: list[int], until: threading.Event, tally: Tally,
           seed: int, *, pages: tuple[Operation, ...] = PAGES,
           pause: tuple[float, float] = (0.5, 1.5)) -> None:
    """A clerk opening a page about once a second (``pause``) until ``until`` is set."""
    rng = random.Random(seed)
    time.sleep(rng.uniform(0, 1.5))
    weights = [op.weight for op in pages]
    while not until.is_set():
        work = Work("", rng.choice(households), 0, 0, "", "")
        clerk.act(rng.choices(pages, weights)[0], work, tally)
        until.wait(rng.uniform(*pause))


# ---------------------------------------------------------------------------- counting


@dataclass
class Stored:
    """What the hub stores hold after the drain."""

    rows: int = 0
    distinct: int = 0
    per_journal: dict[tuple[str, str, str], tuple[int, int]] = field(default_factory=dict)
    last_received: float = 0.0


def count_stored(url: str, sites: list[str]) -> Stored:
    """Rows, distinct (device, journal, seq) and the newest received_at, per site's schema."""
    stored = Stored()
    with psycopg.connect(libpq_url(url)) as conn:
        for site in sites:
            for device, journal, rows, distinct, received in conn.execute(
                    f'SELECT device, journal_id, count(*), count(DISTINCT seq), '
                    f'max(received_at) FROM "{schema_name(site)}".events '
                    f'GROUP BY device, journal_id').fetchall():
                stored.rows += int(rows)
                stored.distinct += int(distinct)
                stored.per_journal[(site, device, journal)] = (int(rows), int(distinct))
                stored.last_received = max(stored.last_received, float(received))
    return stored


def baseline_ingest(url: str, events: int, batch: int) -> float:
    """Events per second of the physical limit: ``events`` rows like the gates', in batches
    of ``batch`` and ``GROUP_MESSAGES`` batches per fsync'd commit, ``executemany`` by one
    client into a hub schema's partitioned events table."""
    db = PostgresStoreDatabase(url, "bench-baseline")
    conn = db.connect()
    try:
        now = time.time()
        db.prepare_walls(conn, [now])
        rng = random.Random(1)
        rows = [("bare", "j" * 32, seq, "boot", now, now, "tap", 0, 1,
                 f"04{rng.randrange(1 << 48):012X}", 1, "granted", '{"latency_us":250}', now)
                for seq in range(1, events + 1)]
        sql = ("INSERT INTO events (device, journal_id, seq, boot_id, wall, mono, kind, "
               "alarm, clock_trusted, uid, granted, reason, data, received_at) VALUES "
               "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        step = batch * GROUP_MESSAGES
        started = time.perf_counter()
        for at in range(0, events, step):
            db.begin(conn, durable=True)
            for b in range(at, min(at + step, events), batch):
                conn.executemany(sql, rows[b:b + batch])
            conn.commit()
        return events / (time.perf_counter() - started)
    finally:
        conn.close()


# ---------------------------------------------------------------------------- CPU


def postgres_pids(pg: LocalPostgres) -> list[int]:
    """The postmaster and its backends."""
    master = int((pg.data / "postmaster.pid").read_text().split()[0])
    pids = [master]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            pids.append(int(stat.parent.name))
    return pids


def group_cpu(pids: list[int]) -> float:
    """CPU seconds the live processes ``pids`` have used."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):  # ended meanwhile
            total += cpu_seconds(pid)
    return total


def profile(workers: list[Worker], publisher: str, out: Path, seconds: int = 20) -> None:
    """py-spy's view of the worker publishing the first site and of another (if py-spy is
    installed), for ``seconds``, written beside the run and printed in short."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        print("(no py-spy in the virtualenv: no profile of the workers)")
        return
    chosen = sorted(workers, key=lambda w: w.name != publisher)[:2]
    procs = [subprocess.Popen([str(spy), "record", "--pid", str(w.proc.pid), "--duration",
                               str(seconds), "--rate", "20", "--format", "raw", "--output",
                               str(out.with_suffix(f".{w.name}.txt")), "--nonblocking"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for w in chosen]
    for proc, w in zip(procs, chosen, strict=True):
        try:
            proc.wait(seconds + 60)
        except subprocess.TimeoutExpired:
            # A worker of hundreds of threads on a starved machine: py-spy may not keep up.
            proc.kill()
            proc.wait(10)
            print(f"py-spy did not finish on {w.name} within {seconds + 60} s; stopped")
        print(f"profile of {w.name} ({seconds} s): {out.with_suffix(f'.{w.name}.txt')}")
        print(top_frames(out.with_suffix(f".{w.name}.txt")))


def top_frames(raw: Path, shown: int = 15) -> str:
    """The functions most often on the stack (inclusive), from py-spy's raw output."""
    if not raw.exists() or raw.stat().st_size == 0:
        return "  (py-spy wrote nothing: it could not read this interpreter)"
    counts: dict[str, int] = defaultdict(int)
    own: dict[str, int] = defaultdict(int)  # the frame running (the stack's last)
    total = 0
    for line in raw.read_text(errors="replace").splitlines() if raw.exists() else []:
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        frames = stack.split(";")
        own[frames[-1]] += int(n)
        for frame in set(frames):
            counts[frame] += int(n)
    lines = ["  on the stack:"]
    lines += [f"  {n / max(total, 1):5.0%}  {frame[:110]}"
              for frame, n in sorted(counts.items(), key=lambda kv: -kv[1])[:shown]]
    lines.append("  running:")
    lines += [f"  {n / max(total, 1):5.0%}  {frame[:110]}"
              for frame, n in sorted(own.items(), key=lambda kv: -kv[1])[:shown]]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- the run


@dataclass
class Run:
    """What one run measured."""

    events_per_s: float
    offered_per_s: float
    generated: int
    lost: int
    stored: Stored
    resent: int
    batches: int
    seconds: float
    drain_s: float
    revocations: Revocations
    pages: Tally
    office: Tally
    cpu: dict[str, float]
    baseline_events_per_s: float
    publishers: dict[str, int]
    connections: int


def run(root: Path, args: argparse.Namespace) -> Run:
    """Set everything up under ``root``, run the busy phase, drain, count."""
    sites = [site_code(i) for i in range(args.sites)]
    gates = [gate_name(j) for j in range(1, args.gates + 1)]
    desk_password = secrets.token_hex(12)
    gate_secret = secrets.token_hex(8)

    def gate_password(site: str, gate: str) -> str:
        return f"{gate_secret}-{site}-{gate}"

    # Per worker and site: the link's, ingest's, catch-up's and lease's connections, more
    # on the sites it publishes; the pages' and the relay's besides.
    pg = LocalPostgres(durable=True,
                       max_connections=max(300, args.sites * args.workers * 8 + 100))
    pg.start()
    brokers: Brokers | None = None
    workers: list[Worker] = []
    gate_procs: list[GateProcess] = []
    try:
        print(f"PostgreSQL in {pg.root} (durable: fsync on); {args.sites} sites x "
              f"{args.gates} gates, {args.workers} desk workers", flush=True)
        url = pg.create_database("company")
        t = time.perf_counter()
        holders, households = build_desk(url, root / "sites", sites, args.revocations,
                                         args.clerks)
        print(f"desk: {args.sites} sites loaded, {len(holders)} cards issued at {sites[0]} "
              f"in {time.perf_counter() - t:.1f} s", flush=True)
        t = time.perf_counter()
        brokers = start_brokers(root / "brokers", sites, gates, desk_password, gate_password)
        wait_bridges(brokers.desk_port, desk_password, sites)
        print(f"brokers: {len(sites)} site Mosquittos bridged to one central Mosquitto, up "
              f"in {time.perf_counter() - t:.1f} s", flush=True)
        t = time.perf_counter()
        workers, public_key = start_workers(root / "desk", url, brokers, desk_password,
                                            sites=sites, count=args.workers)
        wait_linked(workers, url, sites, brokers.desk_port)
        print(f"workers: linked to every site in {time.perf_counter() - t:.1f} s; sites "
              f"published per worker {published_per_worker(url, workers, sites)} (the first to "
              f"start takes them all, then hands over the others' shares); {sites[0]} by "
              f"{leases(url, sites)[sites[0]]}", flush=True)
        settings = GateSettings(args.rate, args.batch, args.window, args.ack_timeout,
                                public_key)
        arrivals = Arrivals()
        t = time.perf_counter()
        gate_procs = start_gates(root, sites, gates, brokers.gate_ports, settings=settings,
                                 processes=args.gate_processes,
                                 gate_password=gate_password, arrivals=arrivals)
        print(f"gates: {len(sites) * len(gates)} connected in {len(gate_procs)} processes in "
              f"{time.perf_counter() - t:.1f} s", flush=True)

        groups = {"desk workers": [w.proc.pid for w in workers],
                  "postgresql": postgres_pids(pg),
                  "mosquittos": [p.pid for p in brokers.procs],
                  "gate simulators": [p.proc.pid for p in gate_procs],
                  "this process (clerks, revocations)": [os.getpid()]}
        cpu0 = {name: group_cpu(pids) for name, pids in groups.items()}
        # Everyone logged in before the load: a login is not what is measured.
        clients = api_clients(workers)
        clerks = [Clerk(workers[i % len(workers)].base, f"bench.clerk{i + 1}", [], i)
                  for i in range(args.clerks)]
        office = Clerk(workers[-1].base, OFFICE, [], args.clerks)
        revocations, tally, office_tally = Revocations(), Tally(), Tally()
        done = threading.Event()
        started_wall = time.time()
        started = time.monotonic()
        for proc in gate_procs:
            proc.send("go")
        browsing = [threading.Thread(target=browse, args=(c, households, done, tally, i),
                                     daemon=True) for i, c in enumerate(clerks)]
        browsing.append(threading.Thread(
            target=browse, args=(office, households, done, office_tally, args.clerks),
            kwargs={"pages": OFFICE_PAGES, "pause": (4.5, 5.5)}, daemon=True))
        for thread in browsing:
            thread.start()
        time.sleep(WARM_UP_S)
        revoking = threading.Thread(target=revoke_all, args=(
            clients, holders, sites[0], len(gates)), kwargs={
            "brokers": brokers, "desk_password": desk_password, "arrivals": arrivals,
            "result": revocations}, daemon=True)
        revoking.start()
        if args.profile:
            # Kept after the run (its data folder is removed): var/company-profile.<worker>.txt
            profile(workers, leases(url, sites)[sites[0]],
                    Path(__file__).resolve().parents[1] / "var" / "company-profile.txt")
        remaining = args.seconds - (time.monotonic() - started)
        if remaining > 0:
            time.sleep(remaining)
        busy_s = time.monotonic() - started
        publishers = published_per_worker(url, workers, sites)
        print(f"sites published per worker at the end of the busy phase: {publishers}",
              flush=True)
        connections = server_connections(url)
        print(f"PostgreSQL connections open then: {connections} ({args.workers} workers, "
              f"{args.sites} sites; the server's max_connections must be above it)",
              flush=True)
        groups["postgresql"] = postgres_pids(pg)
        cpu = {name: group_cpu(pids) - cpu0[name] for name, pids in groups.items()}
        # The gates stop taking taps; what they hold is still being stored (the desk stays
        # busy) while the revocations still to go are measured.
        for proc in gate_procs:
            proc.send("stop")
        stopped = time.monotonic()
        revocations.during_generation = len(revocations.product)
        revoking.join()
        done.set()
        for proc in gate_procs:
            proc.send("exit")
        for thread in browsing:
            thread.join(30)
        for proc in gate_procs:
            proc.proc.wait(DRAIN_TIMEOUT_S + 60)
            proc.reader.join(30)
        drain_s = time.monotonic() - stopped
        summaries = [g for p in gate_procs for g in (p.summary or {}).get("gates", [])]
        if len(summaries) != len(sites) * len(gates):
            raise RuntimeError(f"{len(summaries)} gate summaries of "
                               f"{len(sites) * len(gates)}")
        stored = count_stored(url, sites)
        generated = sum(g["generated"] for g in summaries)
        seconds = stored.last_received - started_wall
        batches = sum(g["batches"] for g in summaries)
        mean_batch = max(1, round(generated / max(1, batches)))
        baseline = baseline_ingest(url, min(stored.distinct, args.baseline_events) or 1000,
                                   mean_batch)
        lost = 0
        for g in summaries:
            _rows, distinct = stored.per_journal.get((g["site"], g["gate"], g["journal_id"]),
                                                     (0, 0))
            lost += g["generated"] - distinct
        return Run(stored.distinct / seconds, generated / busy_s, generated, lost, stored,
                   sum(g["resent"] for g in summaries), batches, seconds, drain_s,
                   revocations, tally, office_tally, cpu, baseline, publishers, connections)
    finally:
        for proc in gate_procs:
            if proc.proc.poll() is None:
                proc.proc.kill()
                proc.proc.wait(10)
        for w in workers:
            w.proc.terminate()
        for w in workers:
            try:
                w.proc.wait(30)
            except subprocess.TimeoutExpired:
                w.proc.kill()
        if brokers is not None:
            brokers.stop()
        pg.stop()


def main() -> None:
    """Run the benchmark and print its figures; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--gates", type=int, default=20, help="per site")
    parser.add_argument("--workers", type=int, default=2, help="menwei-desk serve workers")
    parser.add_argument("--gate-processes", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=120,
                        help="the busy phase, at least (it lasts until the revocations end)")
    parser.add_argument("--rate", type=float, default=12,
                        help="events a second per gate (12: 24,000/s from 2,000 gates)")
    parser.add_argument("--batch", type=int, default=500, help="the agent's batch_size")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW)
    parser.add_argument("--ack-timeout", type=float, default=DEFAULT_ACK_TIMEOUT_S)
    parser.add_argument("--revocations", type=int, default=100)
    parser.add_argument("--clerks", type=int, default=4)
    parser.add_argument("--baseline-events", type=int, default=300_000)
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the desk workers for 20 s of the busy phase")
    parser.add_argument("--data-dir", type=Path, help="where the brokers' and desk's files "
                        "go (default: /var/lib/menwei-bench)")
    args = parser.parse_args()
    with data_folder(args.data_dir, "menwei-company-") as (root, _fs):
        result = run(root, args)
    report(result, args)


def report(result: Run, args: argparse.Namespace) -> None:
    """Print the figures; the last line JSON."""
    rev = result.revocations
    stored = result.stored
    row_duplicates = stored.rows - stored.distinct
    duplicates = row_duplicates + result.resent
    ratio = result.events_per_s / result.baseline_events_per_s
    print(f"gates generating {args.seconds:g} s: offered {result.offered_per_s:,.0f} events/s "
          f"from {args.sites * args.gates} gates; the last stored {result.drain_s:.1f} s "
          f"after they stopped")
    print(f"ingest: {result.generated:,} events generated, {stored.distinct:,} stored in "
          f"{result.seconds:.1f} s: {result.events_per_s:,.0f} events/s (goal >= 20,000); "
          f"lost {result.lost}, duplicate rows {row_duplicates}, resent on the wire "
          f"{result.resent}; mean batch {result.generated / max(1, result.batches):.0f} events")
    print(f"baseline: executemany by one client, same table and durability: "
          f"{result.baseline_events_per_s:,.0f} events/s; ratio {ratio:.2f}")
    out: dict[str, Any] = {
        "events_per_s": round(result.events_per_s, 1), "lost": result.lost,
        "duplicates": duplicates, "duplicate_rows": row_duplicates, "resent": result.resent,
        "baseline_events_per_s": round(result.baseline_events_per_s, 1),
        "ratio_events_per_s": round(ratio, 3),
        "offered_events_per_s": round(result.offered_per_s, 1),
        "sites": args.sites, "gates": args.gates, "workers": args.workers,
        "bridged": True, "publishers": result.publishers,
        "pg_connections": result.connections}
    if rev.product:
        p50, p99 = percentile(rev.product, 50), percentile(rev.product, 99)
        b50, b99 = percentile(rev.baseline, 50), percentile(rev.baseline, 99)
        print(figures(f"revocation -> all {args.gates} gates", rev.product, width=40, digits=1))
        print(figures("  the API's answer", rev.answered, width=40, digits=1))
        print(figures("baseline: publish -> the same gates", rev.baseline, width=40,
                      digits=1))
        print(f"revocation ratio p50 {p50 / b50:.2f}, p99 {p99 / b99:.2f} (goal p99 <= 500 ms)"
              f"; {len(rev.product)} samples ({rev.during_generation} while the gates were "
              f"generating, the rest while the desk still stored their backlog), "
              f"{len(rev.errors)} errors")
        out |= {"revocation_p50_ms": round(p50, 1), "revocation_p99_ms": round(p99, 1),
                "revocation_baseline_p50_ms": round(b50, 1),
                "revocation_baseline_p99_ms": round(b99, 1),
                "revocation_ratio_p99": round(p99 / b99, 2),
                "revocations": len(rev.product),
                "revocations_while_generating": rev.during_generation}
    for e in rev.errors[:5]:
        print(f"  revocation error: {e}")
    pages = [ms for times in result.pages.samples.values() for ms in times]
    if pages:
        print(figures(f"desk pages ({args.clerks} clerks)", pages, width=40, digits=1))
        for name, times in sorted(result.pages.samples.items()):
            print(figures(f"  {name}", times, width=40, digits=1))
        out |= {"page_p50_ms": round(percentile(pages, 50), 1),
                "page_p99_ms": round(percentile(pages, 99), 1), "pages": len(pages),
                "page_errors": len(result.pages.errors)}
    for e in result.pages.errors[:5]:
        print(f"  page error: {e}")
    watched = [ms for times in result.office.samples.values() for ms in times]
    if watched:
        print(figures(f"every site's gates ({args.sites} sites, office)", watched, width=40,
                      digits=1))
        out |= {"sites_page_p50_ms": round(percentile(watched, 50), 1),
                "sites_page_p99_ms": round(percentile(watched, 99), 1),
                "sites_pages": len(watched), "sites_page_errors": len(result.office.errors)}
    for e in result.office.errors[:5]:
        print(f"  every site's gates error: {e}")
    total = sum(result.cpu.values())
    print(f"CPU over the busy phase ({total:.0f} s of CPU; the machine has "
          f"{os.cpu_count()} cores):")
    for name, seconds in sorted(result.cpu.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<38} {seconds:7.1f} s ({seconds / max(total, 1e-9):.0%})")
    out["cpu_s"] = {k: round(v, 1) for k, v in result.cpu.items()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
