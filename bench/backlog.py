"""Backlog drain: events buffered while a device was offline reach the central store.

    python -m bench.backlog --events 100000

Writes 100,000 events into a device's journal (as the gate would have while the network was
down), then starts its ``menwei-sync run``; timed until the central store holds them all.
Prints the drain rate and what the central store holds: every sequence number once.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.sync_rig import SyncRig, stop
from edge.journal import Journal
from edge.ports import SystemClock


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


def main() -> None:
    """Run the benchmark and print its figures; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="menwei-backlog-") as tmp:
        rig = SyncRig(Path(tmp), 1)
        device = rig.names[0]
        fill_journal(Path(tmp) / device / "events.db", args.events)
        rig.broker.start()
        rig.central.start()
        try:
            t0 = time.monotonic()
            proc = rig.start_agent(device)
            deadline = t0 + 600
            while rig.central.count_events(device) < args.events:
                if time.monotonic() > deadline:
                    raise TimeoutError("backlog did not drain in 600 s")
                time.sleep(0.01)
            elapsed = time.monotonic() - t0
            time.sleep(1.0)  # anything sent twice would be stored (or not) by now
            central = sqlite3.connect(Path(tmp) / "central.db")
            stored, distinct, low, high = central.execute(
                "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM events "
                "WHERE device = ?", (device,)).fetchone()
            central.close()
            stop([proc])
        finally:
            rig.central.stop()
            rig.broker.stop()
    rate = args.events / elapsed
    print(f"{args.events} events drained in {elapsed:.1f} s: {rate:.0f} events/s "
          "(goal >= 5000)")
    print(f"central store: {stored} stored, {distinct} distinct, seq {low}..{high}, "
          f"{stored - distinct} duplicates")
    print(json.dumps({"events": args.events, "stored": stored, "duplicates": stored - distinct,
                      "events_per_s": round(rate)}))


if __name__ == "__main__":
    main()
