"""Revocation, desk -> every gate: a clerk reports a card lost through the desk's API (rule
L1), until the last of ``--devices`` gates' auth.db no longer admits it.

    python -m bench.revocation --devices 50 --revocations 100

The product: a real ``menwei-desk serve`` on 127.0.0.1 with its gate link
(``--sync-config``: the desk's auth_log relayed into the site's CentralSync, which signs
and publishes to a real Mosquitto), a clerk logged in, and one real ``menwei-sync run``
per device, each with its own auth.db. The clock starts at ``POST
/cards/{uid}/report-lost`` and stops when every device's auth.db shows the card ``lost``.

The baseline is the physical limit of the same work: one paho publish of a payload the
size of a signed one-card change, on the same broker, to as many subscriber processes
(bench/fanout_subscriber.py), each committing it into its own copy of a gate's auth.db
with the gate's durability (WAL, synchronous=FULL: an UPDATE of the card's row), until
the last file shows it. Both sides are detected alike, by polling the files with one
query. Product and baseline alternate revocation by revocation, every process running
throughout, files under the data folder where a gate keeps its data.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import tomli_w
from argon2 import PasswordHasher
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from bench.common import data_folder, figures, percentile
from bench.desk_load import API, start_desk
from bench.sync_rig import SITE, device_config, start_agent, stop, wait_for
from central.db import make_engine, upgrade
from central.models import Person, Role, Site
from central.services.context import Actor, Desk
from central.services.resident_cards import IssueResidentCards, issue_resident_cards
from central.services.sites import load_site
from central.services.staff import NewStaff, create_staff
from central.site_file import read_site_file
from edge.auth_store import LIST_ISSUED_AT
from hardware_sim.site_broker import LocalBroker
from sync.hub.auth_payloads import changes_payloads, signed
from sync.wire.signing import generate_key
from sync.wire.topics import CENTRAL_USER, ROOT

CLERK = "bench.clerk"
PASSWORD = "bench-clerk-password"
BASELINE_TOPIC = f"{ROOT}/{SITE}/bench/baseline"
PUBLISHER = "bench-publisher"
PAUSE_S = 0.05  # between two revocations: each starts from a quiet system
IDLE_S = 2.0  # how long the idle CPU of each side is measured


@dataclass(frozen=True)
class Holder:
    """A card to report lost, and its holder (who reports it in person, rule L1)."""

    uid: str
    person_id: int
    name: str


# ---------------------------------------------------------------------------- the desk


def write_site_file(path: Path, households: int, code: str = SITE) -> None:
    """A site ``code`` of ``households`` flats in one building (access group b1, the group
    the benchmark's doors serve), one owner each."""
    doc = {
        "site": {"code": code, "name": f"基准小区 {code}", "timezone": "Asia/Shanghai"},
        "access_groups": [{"name": "b1", "description": "building 1"}],
        "buildings": [{"code": "1", "name": "1栋", "access_groups": ["b1"]}],
        "units": [{"building": "1", "number": str(101 + i), "area_m2": "90"}
                  for i in range(households)],
        "households": [{"key": f"h{i}", "building": "1", "unit": str(101 + i),
                        "kind": "ownership"} for i in range(households)],
        "persons": [{"household": f"h{i}", "name": f"业主{i:04d}", "holder_kind": "owner",
                     "relationship": "self", "id_number": f"4403011980{i:08d}"}
                    for i in range(households)],
    }
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")


def build_desk(folder: Path, cards: int) -> tuple[Path, list[Holder]]:
    """The desk's database: the site, a clerk, and ``cards`` resident cards, one per
    household, issued through the desk's own service (so each is in the auth_log the gate
    link relays); its file and the cards' holders."""
    folder.mkdir(parents=True)
    db = folder / "desk.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    # Real argon2id, cheap parameters: the clerk's one login is not what is measured.
    desk = Desk(engine, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    try:
        write_site_file(folder / "site.toml", cards)
        load_site(desk, read_site_file(folder / "site.toml"))
        holders = clerk_and_cards(desk, SITE)
    finally:
        desk.close()
    return db, holders


def clerk_and_cards(desk: Desk, site: str) -> list[Holder]:
    """A clerk (``CLERK``) of ``site``, and a resident card issued through the desk's own
    service to each person of the site (so each is in the auth_log the gate link relays);
    the cards' holders."""
    clerk = Actor(create_staff(desk, NewStaff.from_form({
        "username": CLERK, "role": Role.CLERK.value, "password": PASSWORD,
        "site": site})), site)
    holders = []
    with desk.sessions() as s:
        people = s.execute(select(Person.id, Person.household_id, Person.name,
                                  Person.id_number).join(Site, Site.id == Person.site_id)
                           .where(Site.code == site).order_by(Person.id)).all()
    for i, (person_id, household_id, name, id_number) in enumerate(people):
        uid = f"0B{i:012X}"
        issue_resident_cards(desk, clerk, IssueResidentCards.from_form({
            "household_id": household_id, "applicant_person_id": person_id,
            "applicant_in_person": True,
            "lines": [{"uid": uid, "relationship": "self", "holder_person_id": person_id,
                       "id_number_presented": id_number,
                       "holder_signoff": {"signer_name": name}}]}))
        holders.append(Holder(uid, person_id, name))
    return holders


def desk_sync_file(folder: Path, broker: LocalBroker) -> tuple[Path, str]:
    """The desk's gate link config (``serve --sync-config``) and the public key the gates
    trust."""
    public_key = generate_key(folder / "signing.key")
    (folder / "broker.password").write_text(broker.passwords[CENTRAL_USER] + "\n")
    path = folder / "desk-sync.toml"
    path.write_text(tomli_w.dumps({
        "broker_host": "127.0.0.1", "broker_port": broker.port, "username": CENTRAL_USER,
        "password_file": "broker.password", "signing_key": "signing.key",
        "data_dir": "sync", "sites": [SITE]}))
    return path, public_key


def wait_linked(log: Path, broker: LocalBroker, timeout: float = 60) -> None:
    """Until the desk's log says its gate link is connected to ``broker``."""
    deadline = time.monotonic() + timeout
    while f"connected to 127.0.0.1:{broker.port}" not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the desk's gate link did not connect: "
                               f"{log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)


# ---------------------------------------------------------------------------- detection


def open_readers(paths: Sequence[Path]) -> list[sqlite3.Connection]:
    """Read-only connections to the devices' files, as the detection polls them."""
    return [sqlite3.connect(f"file:{p}?mode=ro", uri=True) for p in paths]


def wait_all(conns: Sequence[sqlite3.Connection], sql: str, args: tuple[object, ...],
             expected: object, timeout: float) -> tuple[float, float]:
    """Poll every file until ``sql`` gives ``expected``; (perf_counter when the first did,
    when the last did). Both sides of the benchmark are detected by this loop."""
    pending = set(range(len(conns)))
    first = 0.0
    deadline = time.perf_counter() + timeout
    while True:
        for i in list(pending):
            row = conns[i].execute(sql, args).fetchone()
            if row is not None and row[0] == expected:
                pending.discard(i)
                first = first or time.perf_counter()
        if not pending:
            return first, time.perf_counter()
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{len(pending)} devices never reached {expected!r}")
        time.sleep(0.001)


LOST = "SELECT status FROM cards WHERE uid = ?"


# ---------------------------------------------------------------------------- the two sides


@dataclass
class Sample:
    """One product revocation: ms from the API call to each point."""

    total: float
    answered: float  # the API's 201 received
    first_gate: float
    signed: float  # the change's issued_at (the hub signing it), from a gate's auth.db


def report_lost_body(holder: Holder) -> dict[str, object]:
    """The report-lost API call's body: the holder reports in person (rule L1)."""
    return {"reporter_person_id": holder.person_id, "in_person": True,
            "balance_shown_yuan": "0.00", "holder_agrees": True,
            "signoff": {"signer_name": holder.name, "reference": "挂失单 bench"}}


class ProductSide:
    """The clerk's API calls, and the devices' auth.db files."""

    def __init__(self, base: str, files: Sequence[Path]) -> None:
        self.http = httpx.Client(base_url=f"{base}{API}", timeout=30)
        token = self.http.post("/login", json={"username": CLERK, "password": PASSWORD})
        token.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {token.json()['token']}"
        self.conns = open_readers(files)

    def revoke(self, holder: Holder) -> Sample:
        """Report ``holder``'s card lost; when every device shows it."""
        wall, t0 = time.time(), time.perf_counter()
        answer = self.http.post(f"/cards/{holder.uid}/report-lost",
                                json=report_lost_body(holder))
        answered = time.perf_counter()
        if answer.status_code != 201:
            raise RuntimeError(f"report-lost {holder.uid}: {answer.status_code} {answer.text}")
        first, last = wait_all(self.conns, LOST, (holder.uid,), "lost", 30)
        issued = self.conns[0].execute("SELECT value FROM meta WHERE key = ?",
                                       (LIST_ISSUED_AT,)).fetchone()
        return Sample((last - t0) * 1000, (answered - t0) * 1000, (first - t0) * 1000,
                      (float(issued[0]) - wall) * 1000 if issued else float("nan"))

    def close(self) -> None:
        """Close the HTTP client and the readers."""
        self.http.close()
        for c in self.conns:
            c.close()


class BaselineSide:
    """One publisher, ``len(files)`` committing subscribers, the same detection."""

    def __init__(self, broker: LocalBroker, files: Sequence[Path], payload_bytes: int) -> None:
        self.payload_bytes = payload_bytes
        names = [f"base-{i:03d}" for i in range(len(files))]
        self.subs = [subprocess.Popen(
            [sys.executable, "-m", "bench.fanout_subscriber", str(broker.port), n,
             broker.passwords[n], BASELINE_TOPIC, str(f)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for n, f in zip(names, files, strict=True)]
        for s in self.subs:
            assert s.stdout is not None
            if s.stdout.readline().strip() != "ready":
                raise RuntimeError("a baseline subscriber did not start")
        self.pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fanout-pub",
                               protocol=mqtt.MQTTv5)
        self.pub.username_pw_set(PUBLISHER, broker.passwords[PUBLISHER])
        self.pub.connect("127.0.0.1", broker.port)
        self.pub.loop_start()
        self.conns = open_readers(files)

    def revoke(self, uid: str) -> float:
        """Publish ``uid``'s change; ms until every subscriber's file shows it."""
        payload = f"{uid} ".ljust(self.payload_bytes, "x")
        t0 = time.perf_counter()
        self.pub.publish(BASELINE_TOPIC, payload, qos=1)
        _first, last = wait_all(self.conns, LOST, (uid,), "lost", 30)
        return (last - t0) * 1000

    def close(self) -> None:
        """Stop the publisher and the subscribers."""
        self.pub.loop_stop()
        self.pub.disconnect()
        for c in self.conns:
            c.close()
        for s in self.subs:
            assert s.stdin is not None
            s.stdin.close()
        for s in self.subs:
            s.wait(15)


def change_bytes(sync_store: Path) -> int:
    """The size of a signed one-card change as the hub sends it: the newest card of the
    hub's log, marked lost, signed (by a key of the same kind)."""
    conn = sqlite3.connect(f"file:{sync_store}?mode=ro", uri=True)
    try:
        seq, text = conn.execute("SELECT seq, card FROM auth_log ORDER BY seq DESC LIMIT 1"
                                 ).fetchone()
    finally:
        conn.close()
    text = text.replace('"active"', '"lost"')
    change = next(changes_payloads(SITE, [(seq + 1, text)], time.time()))
    return len(signed(Ed25519PrivateKey.generate(), change))


def copy_store(source: Path, target: Path) -> None:
    """A copy of a device's auth.db (same schema, same cards), for a baseline device."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU the processes ``pids`` have used so far, in seconds."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """What one run measured."""

    samples: list[Sample]
    baseline_ms: list[float]
    payload_bytes: int
    # CPU ms per revocation, over the alternating loop (idle work included): every agent,
    # every baseline subscriber, the desk service.
    agents_cpu_ms: float
    subscribers_cpu_ms: float
    desk_cpu_ms: float
    # CPU ms per second of the same three doing nothing, measured just before.
    idle_cpu_ms_per_s: list[float]


# ---------------------------------------------------------------------------- the run


def run(root: Path, devices: int, revocations: int) -> Run:
    """Set everything up under ``root``, then alternate product and baseline revocations."""
    names = [f"dev-{i:03d}" for i in range(devices)]
    bases = [f"base-{i:03d}" for i in range(devices)]
    users = {CENTRAL_USER: "central-pw", PUBLISHER: "publisher-pw"} | {
        n: f"pw-{n}" for n in names + bases}
    broker = LocalBroker.create(root / "broker", SITE, users)
    # The baseline's own publisher (the broker keys sessions by user name: as the central
    # user it would throw the desk's link off) and its topic, readable by its subscribers
    # through one pattern line, as auth/changes is.
    with broker.layout.acl.open("a") as acl:
        acl.write(f"pattern read {BASELINE_TOPIC}\nuser {PUBLISHER}\n"
                  f"topic write {BASELINE_TOPIC}\n")
    t = time.perf_counter()
    db, holders = build_desk(root / "desk", revocations)
    print(f"desk: {len(holders)} cards issued in {time.perf_counter() - t:.1f} s")
    sync_file, public_key = desk_sync_file(root / "desk", broker)
    configs = [device_config(root / "gates", n, broker.port, public_key) for n in names]
    broker.start()
    procs: list[subprocess.Popen[bytes]] = []
    desk = None
    try:
        desk, base = start_desk(db, root / "desk.log", "--sync-config", str(sync_file))
        wait_linked(root / "desk.log", broker)
        procs = [start_agent(c, root / "gates" / f"{n}.log") for c, n in zip(configs, names,
                                                                          strict=True)]
        files = [root / "gates" / n / "auth.db" for n in names]
        t = time.perf_counter()
        deadline = time.monotonic() + 60 + devices * 2
        while not all(f.exists() for f in files):
            if time.monotonic() > deadline:
                raise TimeoutError("the agents did not create their auth.db")
            time.sleep(0.1)
        for reader in open_readers(files):
            wait_for(reader, "SELECT count(*) FROM cards WHERE status = 'active'",
                     len(holders), max(0.0, deadline - time.monotonic()), poll=0.05)
            reader.close()
        print(f"{devices} agents hold the {len(holders)} cards after "
              f"{time.perf_counter() - t:.1f} s")
        copies = []
        for n in bases:
            (root / "baseline" / n).mkdir(parents=True)
            copies.append(root / "baseline" / n / "auth.db")
            copy_store(files[0], copies[-1])
        payload = change_bytes(root / "desk" / "sync" / f"sync-{SITE}.db")
        product = ProductSide(base, files)
        baseline = BaselineSide(broker, copies, payload)
        samples, base_ms = [], []
        groups = ([p.pid for p in procs], [s.pid for s in baseline.subs], [desk.pid])
        cpu = [cpu_seconds(g) for g in groups]
        time.sleep(IDLE_S)  # what each side costs doing nothing, on the same cores
        idle = [(cpu_seconds(g) - c) * 1000 / IDLE_S for g, c in zip(groups, cpu, strict=True)]
        cpu = [cpu_seconds(g) for g in groups]
        try:
            for holder in holders:
                samples.append(product.revoke(holder))
                time.sleep(PAUSE_S)
                base_ms.append(baseline.revoke(holder.uid))
                time.sleep(PAUSE_S)
            agents, subscribers, desk_cpu = (
                (cpu_seconds(g) - c) * 1000 / len(holders) for g, c in zip(groups, cpu,
                                                                              strict=True))
        finally:
            product.close()
            baseline.close()
        return Run(samples, base_ms, payload, agents, subscribers, desk_cpu, idle)
    finally:
        stop(procs)
        if desk is not None:
            desk.terminate()
            desk.wait(30)
        broker.stop()


def main() -> None:
    """Run the benchmark and print its figures; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--revocations", type=int, default=100)
    parser.add_argument("--data-dir", type=Path, help="where the files go (default: "
                        "/var/lib/menwei-bench, where a gate keeps its data)")
    args = parser.parse_args()
    with data_folder(args.data_dir, "menwei-revoke-") as (root, _fs):
        result = run(root, args.devices, args.revocations)
    samples, base_ms, payload = result.samples, result.baseline_ms, result.payload_bytes
    total = [s.total for s in samples]
    p50, p99 = percentile(total, 50), percentile(total, 99)
    b50, b99 = percentile(base_ms, 50), percentile(base_ms, 99)
    print(f"devices: {args.devices}, revocations: {len(total)} (alternating with the "
          f"baseline), change {payload} bytes")
    print(figures("report-lost API -> every auth.db", total, width=40, digits=1))
    print(figures("  the API's answer", [s.answered for s in samples], width=40, digits=1))
    slowest = sorted(range(len(samples)), key=lambda i: samples[i].answered)[-3:][::-1]
    print("    its slowest: " + ", ".join(f"{samples[i].answered:.1f} ms (revocation "
                                          f"{i + 1})" for i in slowest))
    print(figures("  signed by the hub (its issued_at)", [s.signed for s in samples],
                  width=40, digits=1))
    print(figures("  the first auth.db", [s.first_gate for s in samples], width=40,
                  digits=1))
    print(figures("baseline: publish -> every fsync'd file", base_ms, width=40, digits=1))
    idle_agents, idle_subscribers, idle_desk = result.idle_cpu_ms_per_s
    print(f"CPU per revocation, idle work included: the {args.devices} agents "
          f"{result.agents_cpu_ms:.1f} ms, the {args.devices} baseline subscribers "
          f"{result.subscribers_cpu_ms:.1f} ms, the desk {result.desk_cpu_ms:.1f} ms; "
          f"idle, per second: {idle_agents:.0f}, {idle_subscribers:.0f} and "
          f"{idle_desk:.0f} ms")
    print(f"ratio p50 {p50 / b50:.2f}, p99 {p99 / b99:.2f} (goal <= 1.5 each; "
          f"p99 <= 150 ms at 50 devices)")
    print(json.dumps({"p50_ms": round(p50, 1), "p99_ms": round(p99, 1),
                      "max_ms": round(max(total), 1), "baseline_p50_ms": round(b50, 1),
                      "baseline_p99_ms": round(b99, 1), "ratio_p50": round(p50 / b50, 2),
                      "ratio_p99": round(p99 / b99, 2), "devices": args.devices,
                      "revocations": len(total)}))


if __name__ == "__main__":
    main()
