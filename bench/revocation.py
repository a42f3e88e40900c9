"""Revocation fan-out: a card revoked at the central side, until every device's auth.db
shows it revoked.

    python -m bench.revocation --devices 50 --revocations 20

Runs a real Mosquitto on 127.0.0.1, the central sync side (CentralSync) and one real
``menwei-sync run`` process per device, each with its own store. For the baseline it then
measures the bare broker fan-out: one paho publish to the same number of subscriber
processes, until the last one has it.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.common import percentile
from bench.sync_rig import SITE, SyncRig, card, stop
from edge.auth_store import AuthStore
from edge.cards import CardStatus
from hardware_sim.site_broker import LocalBroker
from sync.wire import topics
from sync.wire.topics import CENTRAL_USER

CARDS = 200


def wait_all(conns: list[sqlite3.Connection], sql: str, args: tuple[object, ...],
             expected: object, timeout: float) -> float:
    """Poll every store until the query gives ``expected``; return when the last one did."""
    pending = set(range(len(conns)))
    deadline = time.monotonic() + timeout
    while pending:
        for i in list(pending):
            row = conns[i].execute(sql, args).fetchone()
            if row is not None and row[0] == expected:
                pending.discard(i)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} devices never reached {expected!r}")
        if pending:
            time.sleep(0.001)
    return time.monotonic()


def agents_revocation(rig: SyncRig, revocations: int) -> list[float]:
    """Per revocation: ms from record_card(revoked) to the last device's auth.db showing it."""
    rig.central.record_cards([card(i) for i in range(CARDS)])
    rig.central.start()
    procs = [rig.start_agent(name) for name in rig.names]
    try:
        for name in rig.names:
            AuthStore(rig.root / name / "auth.db").close()  # exists before we open it read-only
        conns = [sqlite3.connect(f"file:{rig.root / n / 'auth.db'}?mode=ro", uri=True)
                 for n in rig.names]
        wait_all(conns, "SELECT value FROM meta WHERE key = 'applied_seq'", (), str(CARDS), 120)
        times = []
        for r in range(revocations):
            revoked = card(r, CardStatus.REVOKED)
            t0 = time.monotonic()
            rig.central.record_card(revoked)
            t1 = wait_all(conns, "SELECT status FROM cards WHERE uid = ?", (revoked.uid,),
                          "revoked", 30)
            times.append((t1 - t0) * 1000)
            time.sleep(0.05)
        for c in conns:
            c.close()
        return times
    finally:
        stop(procs)
        rig.central.stop()


def bare_fanout(broker: LocalBroker, subscribers: int, rounds: int) -> list[float]:
    """Per publish: ms until the last of ``subscribers`` processes received it."""
    topic = topics.auth_changes(SITE)
    names = [f"dev-{i:03d}" for i in range(subscribers)]
    subs = [subprocess.Popen([sys.executable, "-m", "bench.fanout_subscriber", str(broker.port),
                              n, broker.passwords[n], topic], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True) for n in names]
    try:
        for s in subs:
            assert s.stdout is not None and s.stdout.readline().strip() == "ready"
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fanout-pub",
                          protocol=mqtt.MQTTv5)
        pub.username_pw_set(CENTRAL_USER, broker.passwords[CENTRAL_USER])
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        times = []
        payload = "x" * 600  # about the size of a signed one-card change
        for r in range(rounds):
            t0 = time.monotonic()
            pub.publish(topic, f"{r} {payload}", qos=1)
            last = 0.0
            for s in subs:
                assert s.stdout is not None
                stamp, rest = s.stdout.readline().split(" ", 1)
                assert rest.startswith(f"{r} ")
                last = max(last, float(stamp))
            times.append((last - t0) * 1000)
            time.sleep(0.05)
        pub.loop_stop()
        pub.disconnect()
        return times
    finally:
        for s in subs:
            assert s.stdin is not None
            s.stdin.close()
        for s in subs:
            s.wait(10)


def main() -> None:
    """Run the benchmark and print its figures; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--revocations", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="menwei-revoke-") as tmp:
        rig = SyncRig(Path(tmp), args.devices)
        rig.broker.start()
        try:
            revoke_ms = agents_revocation(rig, args.revocations)
            base_ms = bare_fanout(rig.broker, args.devices, max(args.revocations, 20))
        finally:
            rig.broker.stop()
    p50, p99 = percentile(revoke_ms, 50), percentile(revoke_ms, 99)
    b99 = percentile(base_ms, 99)
    print(f"devices: {args.devices}, revocations: {len(revoke_ms)}")
    print(f"revoked at central -> every auth.db shows it: p50 {p50:.1f} ms  p99 {p99:.1f} ms  "
          f"max {max(revoke_ms):.1f} ms (goal p99 <= 1000 ms)")
    print(f"bare fan-out, one publish to {args.devices} subscriber processes: "
          f"p50 {percentile(base_ms, 50):.1f} ms  p99 {b99:.1f} ms")
    print(f"ratio p99: {p99 / b99:.2f} (goal <= 3)")
    print(json.dumps({"p50_ms": round(p50, 1), "p99_ms": round(p99, 1),
                      "max_ms": round(max(revoke_ms), 1), "baseline_p99_ms": round(b99, 1),
                      "ratio_p99": round(p99 / b99, 2), "devices": args.devices}))


if __name__ == "__main__":
    main()
