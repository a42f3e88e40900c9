"""Backlog drain: events buffered while a device was offline reach the central store.

    python -m bench.backlog --events 100000

Each round writes ``--events`` tap events into a device's journal (as the gate would have
while the network was down), starts its real ``menwei-sync run`` against a real Mosquitto
and the central sync side (CentralSync, ``central.db``), and times the drain on the wire:
from the device's first message after it connected to the ``EventAck`` that covers the
last event (sent only once that batch is committed, fsync'd). The agent's own start-up is
printed beside it, not counted: a gate's agent is already running when its network returns.

What is sent is counted on the wire, not in the store (whose primary key drops repeats): a
wiretap process, subscribed at QoS 1 to every topic of the site, counts each
(device, journal, seq) published. ``resent`` is the copies beyond the first; ``lost`` the
journal's seqs that ``central.db`` does not hold once the journal says all are acknowledged.

Baseline, the physical limit of the same work, run in the same round right after the product
(rounds alternate product, baseline, product, ...): a bare paho publisher reads the same
events from a journal file with a plain SELECT and publishes them, in the batch sizes the
device sent, as compact JSON at QoS 1 (as many in flight as paho allows, no application
ack); a bare paho subscriber stores each batch with one ``executemany`` into the same
``events`` table (the central schema, same pragmas: WAL, ``synchronous=FULL``), the batches
found waiting together in one commit; paho's thread only queues what arrives and one thread
stores it, as central's ingest does. Both write and read JSON the fastest way the product
has (orjson; each event's ``data`` put in as the journal's text, an ``orjson.Fragment``), so
that the product's own use of it cannot make the baseline look slow. Same broker, same
wiretap listening, files in the same directory. It leaves out what the product must do and a
limit need not: validating every event, the journal bookkeeping in the same transaction, the
ack and the device recording it. The wiretap listens to both alike. ``events_per_s`` is the
median over rounds; ``ratio`` the product's drain time over the baseline's of the same round
(paired, as the machine's load moves), median over rounds. Per-batch figures are the
intervals between consecutive stored batches (acks on the wire; the baseline's commits),
pooled over rounds: batches committed together are stored at one instant, so most intervals
are about 0 and the p99 is the stall between commits.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.common import mount_of, percentile
from bench.sync_rig import SITE, SyncRig, stop
from edge.journal import Journal
from edge.migrations import connect
from edge.ports import SystemClock
from sync.hub.ingest import GROUP_MESSAGES
from sync.hub.store import CentralStore
from sync.wire import topics

WIRETAP = ("bench-wiretap", "wiretap-pw")
BARE_PUB = ("bench-bare-pub", "bare-pub-pw")
BARE_SUB = ("bench-bare-sub", "bare-sub-pw")
BARE_TOPIC = f"{topics.ROOT}/{SITE}/bench/bare-events"
# What a device (or the bare publisher) sends: the drain starts at the first of these.
DEVICE_SENDS = ("status", "catchup", "events", "bare-events")
SETTLE_S = 0.5  # after the last ack: a copy still in the broker would arrive by then


def fill_journal(path: Path, events: int) -> None:
    """``events`` tap events in the device's journal, in one transaction (fast to build)."""
    Journal(path, SystemClock(), max_events=max(2_000_000, events)).close()
    conn = sqlite3.connect(path)
    now = time.time()
    conn.executemany(
        "INSERT INTO events (boot_id, wall, mono, kind, alarm, clock_trusted, uid, granted, "
        "reason, data) VALUES ('bench', ?, ?, 'tap', 0, 1, ?, 1, 'granted', "
        "'{\"latency_us\":250}')",
        ((now + i / 1000, i / 1000, f"04{i % 5000:012X}") for i in range(events)))
    conn.commit()
    conn.close()


def _filesystem(path: Path) -> str:
    """The type and mount point of the filesystem holding ``path``."""
    _device, kind, mount = mount_of(path)
    return f"{kind} at {mount}"


def _client(username: str, password: str, port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=username,
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    client.connect("127.0.0.1", port)
    return client


# ------------------------------------------------------------ roles run as child processes

def wiretap(port: int, topic_filter: str) -> None:
    """Count every message under ``topic_filter`` until stdin closes, then print one JSON
    summary: event copies per (device, journal, seq), batches, acks and their times."""
    copies: Counter[tuple[str, str, int]] = Counter()
    batches: list[tuple[float, str, int, int]] = []  # (t, device, first seq, events)
    acks: list[tuple[float, int]] = []
    first: list[float] = []
    lock = threading.Lock()

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        leaf = message.topic.rsplit("/", 1)[-1]
        with lock:
            if not first and leaf in DEVICE_SENDS:
                first.append(now)
            if leaf in ("events", "bare-events"):
                obj = orjson.loads(message.payload)
                seqs = [int(e["seq"]) for e in obj["events"]]
                for seq in seqs:
                    copies[(obj["device"], obj["journal_id"], seq)] += 1
                batches.append((now, obj["device"], seqs[0], len(seqs)))
            elif leaf == "ack":
                acks.append((now, int(orjson.loads(message.payload)["upto_seq"])))

    client = _client(*WIRETAP, port)
    client.on_connect = lambda c, *_a: c.subscribe(topic_filter, qos=1)
    client.on_subscribe = lambda *_a: print("ready", flush=True)
    client.on_message = on_message
    client.loop_start()
    sys.stdin.read()
    client.disconnect()
    client.loop_stop()
    with lock:
        print(json.dumps({
            "first_t": first[0] if first else None,
            "events_on_wire": sum(copies.values()), "distinct": len(copies),
            "resent": sum(n - 1 for n in copies.values()),
            "seqs_sent_twice_or_more": sum(1 for n in copies.values() if n > 1),
            "batches": batches, "acks": acks}), flush=True)


def bare_publisher(port: int, journal: Path, sizes_file: Path) -> None:
    """Publish the journal's events in the given batch sizes, QoS 1, then wait for every
    PUBACK."""
    sizes = json.loads(sizes_file.read_text())
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    journal_id = conn.execute("SELECT journal_id FROM sync_state").fetchone()[0]
    client = _client(*BARE_PUB, port)
    client.loop_start()
    cursor, info = 0, None
    for size in sizes:
        rows = conn.execute(
            "SELECT seq, boot_id, wall, mono, kind, alarm, clock_trusted, uid, granted, reason, "
            "data FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (cursor, size)).fetchall()
        events = [{"seq": r[0], "boot_id": r[1], "wall": r[2], "mono": r[3], "kind": r[4],
                   "alarm": bool(r[5]), "clock_trusted": bool(r[6]), "uid": r[7],
                   "granted": bool(r[8]), "reason": r[9], "data": orjson.Fragment(r[10])}
                  for r in rows]
        cursor = events[-1]["seq"]
        payload = orjson.dumps({"device": "bare", "journal_id": journal_id, "events": events})
        info = client.publish(BARE_TOPIC, payload, qos=1)
    if info is not None:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


def bare_subscriber(port: int, db: Path, events: int) -> None:
    """Store each batch with one ``executemany``, the batches found waiting together in one
    fsync'd commit, as central's ingest does (up to its ``GROUP_MESSAGES``); exit once
    ``events`` are stored, printing the commit time of each batch as JSON. paho's thread only
    queues what arrives and one thread stores it: the next batch is read off the socket while
    one is committed."""
    conn = connect(str(db))
    commits: list[float] = []
    arrived: queue.Queue[bytes] = queue.Queue()

    def store() -> None:
        stored = 0
        while stored < events:
            waiting = [arrived.get()]
            while len(waiting) < GROUP_MESSAGES and not arrived.empty():
                waiting.append(arrived.get())
            now = time.time()
            conn.execute("BEGIN IMMEDIATE")
            for payload in waiting:
                obj = orjson.loads(payload)
                rows = [(obj["device"], obj["journal_id"], e["seq"], e["boot_id"], e["wall"],
                         e["mono"], e["kind"], int(e["alarm"]), int(e["clock_trusted"]),
                         e["uid"], int(e["granted"]), e["reason"],
                         orjson.dumps(e["data"]).decode(), now) for e in obj["events"]]
                conn.executemany(
                    "INSERT INTO events (device, journal_id, seq, boot_id, wall, mono, kind, "
                    "alarm, clock_trusted, uid, granted, reason, data, received_at) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (device, journal_id, seq) DO NOTHING", rows)
                stored += len(rows)
            conn.commit()
            commits.extend([time.monotonic()] * len(waiting))

    client = _client(*BARE_SUB, port)
    client.on_connect = lambda c, *_a: c.subscribe(BARE_TOPIC, qos=1)
    client.on_subscribe = lambda *_a: print("ready", flush=True)
    client.on_message = lambda _c, _u, message: arrived.put(bytes(message.payload))
    storing = threading.Thread(target=store, daemon=True)
    storing.start()
    client.loop_start()
    storing.join(600)
    if storing.is_alive():
        raise TimeoutError("the bare subscriber did not get every event in 600 s")
    client.disconnect()
    client.loop_stop()
    print(json.dumps({"commits": commits}), flush=True)


# ------------------------------------------------------------ the benchmark

def _child(role: str, *args: object) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.backlog", "--role", role,
                             *map(str, args)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    if role != "bare-publisher" and proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError(f"the {role} did not subscribe")
    return proc


def _finish(proc: subprocess.Popen[str], timeout: float = 120) -> dict[str, Any]:
    out, _ = proc.communicate("", timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"a benchmark child exited {proc.returncode}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _until(check: Any, what: str, timeout: float = 600, poll: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout:.0f} s")
        time.sleep(poll)


def _scalar(path: Path, sql: str, args: tuple[object, ...] = ()) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute(sql, args).fetchone()
    except sqlite3.OperationalError:
        row = None  # not created yet
    finally:
        conn.close()
    return int(row[0]) if row and row[0] is not None else 0


def _intervals(start: float, times: list[float]) -> list[float]:
    """ms between consecutive stored batches, the first from the drain's start."""
    marks = [start, *sorted(times)]
    return [(b - a) * 1000 for a, b in pairwise(marks)]


def _add_bench_users(rig: SyncRig) -> None:
    """The wiretap and the bare pair connect as users of their own (a second connection
    under central's or a device's name would displace it)."""
    for user, password in (WIRETAP, BARE_PUB, BARE_SUB):
        rig.broker.add_user(user, password)
    with rig.broker.layout.acl.open("a") as acl:
        for user, _pw in (WIRETAP, BARE_PUB, BARE_SUB):
            acl.write(f"\nuser {user}\ntopic readwrite {topics.ROOT}/{SITE}/#\n")


def product_round(root: Path, events: int) -> dict[str, Any]:
    """One drain through the real agent and CentralSync, counted on the wire."""
    rig = SyncRig(root, 1)
    device = rig.names[0]
    journal = root / device / "events.db"
    fill_journal(journal, events)
    _add_bench_users(rig)
    rig.broker.start()
    try:
        rig.central.start()
        _until(lambda: rig.central.connected, "central did not connect", 30)
        tap = _child("wiretap", rig.broker.port, f"{topics.ROOT}/{SITE}/#")
        t_launch = time.monotonic()
        proc = rig.start_agent(device)
        try:
            _until(lambda: _scalar(root / "central.db", "SELECT events_upto FROM "
                                   "event_journals WHERE device = ?", (device,)) >= events,
                   "the central store did not hold every event")
            # Every event acknowledged back on the device: nothing is left to send again.
            _until(lambda: _scalar(journal, "SELECT acked_seq FROM sync_state") >= events,
                   "the device did not record the last ack", 60)
            time.sleep(SETTLE_S)
        finally:
            stop([proc])
            wire = _finish(tap)
            rig.central.stop()
        journal_id = _scalar_text(journal, "SELECT journal_id FROM sync_state")
        held = _scalar(root / "central.db", "SELECT count(DISTINCT seq) FROM events WHERE "
                       "device = ? AND journal_id = ? AND seq BETWEEN 1 AND ?",
                       (device, journal_id, events))
        baseline = baseline_round(rig, root, events, wire["batches"])
    finally:
        rig.broker.stop()
    done = min(t for t, upto in wire["acks"] if upto >= events)
    first_sizes = _first_copies(wire["batches"])
    return {"seconds": done - wire["first_t"], "from_launch_s": done - t_launch,
            "lost": events - held, "resent": wire["resent"],
            "seqs_resent": wire["seqs_sent_twice_or_more"],
            "events_on_wire": wire["events_on_wire"], "batches": len(first_sizes),
            "batch_ms": _intervals(wire["first_t"], [t for t, _ in wire["acks"]]),
            "baseline": baseline}


def _scalar_text(path: Path, sql: str) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return str(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def _first_copies(batches: list[list[Any]]) -> list[int]:
    """The size of each batch the first time its events went out, in seq order."""
    seen: set[int] = set()
    sizes = []
    for _t, _device, first_seq, n in sorted(batches, key=lambda b: b[0]):
        if first_seq not in seen:
            seen.add(first_seq)
            sizes.append((first_seq, n))
    return [n for _s, n in sorted(sizes)]


def baseline_round(rig: SyncRig, root: Path, events: int,
                   batches: list[list[Any]]) -> dict[str, Any]:
    """The same events in the same batch sizes, bare publisher to bare fsync'd subscriber,
    on the same broker (the product's agent and central already stopped)."""
    journal, db = root / "bare-events.db", root / "bare-central.db"
    fill_journal(journal, events)
    CentralStore(db, SITE).close()  # the central schema
    sizes = root / "batch-sizes.json"
    sizes.write_text(json.dumps(_first_copies(batches)))
    tap = _child("wiretap", rig.broker.port, BARE_TOPIC)
    sub = _child("bare-subscriber", rig.broker.port, db, events)
    pub = _child("bare-publisher", rig.broker.port, journal, sizes)
    try:
        stored = _finish(sub, 600)
        pub.wait(60)
    finally:
        time.sleep(SETTLE_S)
        wire = _finish(tap)
    commits = stored["commits"]
    return {"seconds": commits[-1] - wire["first_t"], "resent": wire["resent"],
            "lost": events - _scalar(db, "SELECT count(DISTINCT seq) FROM events"),
            "batch_ms": _intervals(wire["first_t"], commits)}


def _role_main(argv: list[str]) -> None:
    role, args = argv[0], argv[1:]
    if role == "wiretap":
        wiretap(int(args[0]), args[1])
    elif role == "bare-publisher":
        bare_publisher(int(args[0]), Path(args[1]), Path(args[2]))
    elif role == "bare-subscriber":
        bare_subscriber(int(args[0]), Path(args[1]), int(args[2]))
    else:
        raise SystemExit(f"unknown role {role!r}")


def main() -> None:
    """Run the benchmark and print its figures; the last line is JSON."""
    if sys.argv[1:2] == ["--role"]:
        _role_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3,
                        help="product and baseline drains, alternating (default 3 each)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where the journals and central stores go (default: a new "
                             "temporary directory); put it on the filesystem the product "
                             "keeps its data on")
    args = parser.parse_args()
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="menwei-backlog-", dir=args.dir) as tmp:
        print(f"files on {_filesystem(Path(tmp))}; {os.cpu_count()} cores; "
              f"{args.events} events, {args.rounds} rounds")
        rounds = []
        for r in range(args.rounds):
            result = product_round(Path(tmp) / f"round-{r}", args.events)
            base = result["baseline"]
            print(f"round {r + 1}: agent -> central {args.events / result['seconds']:.0f} "
                  f"events/s ({result['seconds']:.2f} s on the wire, "
                  f"{result['from_launch_s']:.2f} s from launching the agent), "
                  f"{result['batches']} batches, {result['events_on_wire']} events on the "
                  f"wire, resent {result['resent']}, lost {result['lost']}; "
                  f"bare {args.events / base['seconds']:.0f} events/s "
                  f"({base['seconds']:.2f} s, resent {base['resent']}, lost {base['lost']})")
            rounds.append(result)
    seconds = statistics.median(r["seconds"] for r in rounds)
    base_seconds = statistics.median(r["baseline"]["seconds"] for r in rounds)
    batch_ms = [ms for r in rounds for ms in r["batch_ms"]]
    base_batch_ms = [ms for r in rounds for ms in r["baseline"]["batch_ms"]]
    rate, base_rate = args.events / seconds, args.events / base_seconds
    # Paired within each round (the two ran back to back on the same machine load).
    ratio = statistics.median(r["seconds"] / r["baseline"]["seconds"] for r in rounds)
    lost = sum(r["lost"] for r in rounds)
    resent = sum(r["resent"] for r in rounds)
    figures = {
        "events": args.events, "rounds": args.rounds,
        "events_per_s": round(rate, 1), "lost": lost, "resent": resent,
        "baseline_events_per_s": round(base_rate, 1), "ratio": round(ratio, 2),
        "batch_p50_ms": round(percentile(batch_ms, 50), 2),
        "batch_p99_ms": round(percentile(batch_ms, 99), 2),
        "baseline_batch_p50_ms": round(percentile(base_batch_ms, 50), 2),
        "baseline_batch_p99_ms": round(percentile(base_batch_ms, 99), 2),
        "batch_samples": len(batch_ms),
    }
    print(f"drain (median of {args.rounds}): {rate:.0f} events/s against a bare fsync'd "
          f"publish -> store of {base_rate:.0f} events/s: ratio {figures['ratio']} "
          "(goal >= 50,000 events/s, 0 lost, 0 resent)")
    print(f"per batch ({len(batch_ms)} samples): p50 {figures['batch_p50_ms']} ms, p99 "
          f"{figures['batch_p99_ms']} ms; bare p50 {figures['baseline_batch_p50_ms']} ms, "
          f"p99 {figures['baseline_batch_p99_ms']} ms")
    print(f"lost {lost}, resent {resent} (events published more than once, counted on the "
          "wire)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
