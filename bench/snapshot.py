"""A fresh device syncs a whole list by chunked snapshot.

    python -m bench.snapshot

For 100,000 and then 1,000,000 cards: the central side holds the list; a new device's
``menwei-sync run`` starts with an empty auth.db; timed from the agent's start until its
auth.db holds the whole list (applied_seq at the head). Also prints the agent's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.common import peak_rss_mb
from bench.sync_rig import SyncRig, card, stop, wait_for


def sync_fresh_device(cards: int) -> tuple[float, float]:
    """Seconds for a fresh device to hold ``cards`` cards, and the agent's peak RSS in MB."""
    with tempfile.TemporaryDirectory(prefix="menwei-snap-") as tmp:
        rig = SyncRig(Path(tmp), 1)
        rig.central.record_cards(card(i) for i in range(cards))
        rig.broker.start()
        rig.central.start()
        device = rig.names[0]
        try:
            t0 = time.monotonic()
            proc = rig.start_agent(device)
            auth = Path(tmp) / device / "auth.db"
            while not auth.exists():
                time.sleep(0.01)
            conn = sqlite3.connect(f"file:{auth}?mode=ro", uri=True)
            t1 = wait_for(conn, "SELECT value FROM meta WHERE key = 'applied_seq'",
                          str(cards), timeout=600, poll=0.05)
            count = conn.execute("SELECT count(*) FROM cards").fetchone()[0]
            assert count == cards, f"{count} cards applied, expected {cards}"
            conn.close()
            rss = peak_rss_mb(proc.pid)
            stop([proc])
        finally:
            rig.central.stop()
            rig.broker.stop()
    return t1 - t0, rss


def main() -> None:
    """Run the benchmark and print its figures; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    args = parser.parse_args()
    s_small, rss_small = sync_fresh_device(args.small)
    print(f"{args.small} cards: {s_small:.1f} s (goal <= 5 s); agent peak RSS {rss_small:.0f} MB")
    s_large, rss_large = sync_fresh_device(args.large)
    print(f"{args.large} cards: {s_large:.1f} s (goal <= 60 s); agent peak RSS "
          f"{rss_large:.0f} MB")
    print(json.dumps({"s_100k": round(s_small, 2), "s_1m": round(s_large, 2),
                      "rss_mb": round(max(rss_small, rss_large), 1),
                      "cards_small": args.small, "cards_large": args.large}))


if __name__ == "__main__":
    main()
