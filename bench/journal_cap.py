"""A door's tap latency with its journal at its cap (appending and pruning) against the same
door with its journal far below its cap, measured side by side in one run.

    python -m bench.journal_cap --taps 2000

Three real door ``Gate``s, in-process on simulated pins as in ``bench.decision``, each with
its own data directory (under ``--data-dir``; by default /var/lib/menwei-bench, or the
repository's var/ when that is not writable; the filesystem is printed) and a journal holding
the same ``--max-events`` events before the first tap:

- **below cap**: the default cap (2,000,000), so it never prunes;
- **at cap, acknowledged**: ``journal.max_events = --max-events`` (by default the smallest the
  config takes), filled with events central has acknowledged, and acknowledged after every
  tap as the sync agent would (from its own connection, untimed), so every prune deletes
  acknowledged events;
- **at cap, unacknowledged**: the same cap, nothing ever acknowledged (central unreachable),
  so every prune drops the oldest unacknowledged events and writes a ``journal_overflow``
  alarm.

The journal prunes in slices (a slice at a time once it is a slice over its cap), so one tap
in a slice pays the prune; the run counts the taps that did and refuses to report when a
journal at its cap never pruned. Each sample times ``Gate.handle_tap`` from the UID to the
strike command (granted) or the durable deny event (denied), as ``bench.decision``. Beside
them, for context, the physical limit of a tap: one lookup in the same auth.db and one
fsync'd commit into a journal of the same schema (``bench.decision``'s baseline). The four
take the same UIDs one by one, rotating which goes first. The last line printed is one JSON
object: ``ratio_p99_at_cap`` is the p99 at cap (acknowledged) over the p99 below cap.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import (
    build_store,
    card_uid,
    data_folder,
    door_config,
    figures,
    percentile,
    write_config,
)
from bench.decision import (
    STRIKE_PIN,
    Baseline,
    RelayWatch,
    Sample,
    simulated_gate,
)
from edge.journal import OVERFLOW_KIND, Journal
from edge.migrations import connect
from edge.ports import SystemClock
from hardware_sim.observed_pins import ObservedMockFactory
from hardware_sim.virtual_time import VirtualScheduler

MIN_MAX_EVENTS = 1000  # the smallest journal.max_events the config takes
CARDS = 10_000
# "Must not change": the cap may cost no more than this at p99.
GOAL_RATIO_P99 = 1.1


@dataclass
class CapRig:
    """A real door Gate whose journal holds ``fill`` events before the first tap; with
    ``max_events`` None it keeps the default cap. ``ack`` acknowledges the whole journal
    after every tap, from a connection of its own (as the sync agent does)."""

    name: str
    data_dir: Path
    store: Path
    fill: int
    max_events: int | None
    ack: bool
    ms: list[float] = field(default_factory=list)
    # Taps whose timed part (up to the strike command or the durable deny) pruned.
    pruned_ms: list[float] = field(default_factory=list)
    prunes: int = 0  # every prune, timed or not (most fall on events after the strike)
    granted: int = 0

    def __post_init__(self) -> None:
        self.data_dir.mkdir()
        extra = {} if self.max_events is None else {"journal": {"max_events": self.max_events}}
        self.config = write_config(self.data_dir / "door.toml",
                                   door_config(self.data_dir, extra))
        assert self.config.door is not None
        self.pulse = self.config.door.pulse
        shutil.copyfile(self.store, self.config.auth_db)
        self._fill_journal()
        self.factory = ObservedMockFactory()
        self.relay = RelayWatch(self.factory, STRIKE_PIN)
        # The journal's size when the strike is commanded: the events journalled after it
        # (the output, the door unlocked) may prune too, but outside the tap's latency.
        self._count_at_strike: list[int] = []
        self.factory.observers.append(
            lambda name, high, _mono: self._count_at_strike.append(self.gate.journal.count())
            if name == STRIKE_PIN and high else None)
        self.scheduler = VirtualScheduler()
        self.gate = simulated_gate(self.config, self.factory, self.scheduler)
        self.gate.start()
        self.uplink = Journal(self.config.events_db, SystemClock(),
                              max_events=self.config.journal.max_events)

    def _fill_journal(self) -> None:
        """``fill`` tap events in one transaction, acknowledged when ``ack``."""
        journal = Journal(self.config.events_db, SystemClock(),
                          max_events=self.config.journal.max_events)
        conn = connect(str(self.config.events_db))
        try:
            conn.execute("BEGIN")
            for i in range(self.fill):
                journal.append_within(conn, "tap", {"uid": card_uid(i), "granted": True})
            conn.commit()
            if self.ack:
                journal.mark_acked(journal.last_seq())
        finally:
            conn.close()
            journal.close()

    def tap(self, uid: str) -> None:
        """Time one tap to the strike command (granted) or the durable deny; then let the
        pulse end and acknowledge (untimed)."""
        before = self.gate.journal.count()
        self.relay.at.clear()
        self._count_at_strike.clear()
        t0 = time.perf_counter()
        outcome = self.gate.handle_tap(uid)
        t1 = time.perf_counter()
        at_answer = self._count_at_strike[0] if outcome.granted else self.gate.journal.count()
        self.scheduler.advance(self.pulse + 0.1)
        ms = ((self.relay.at[0] if outcome.granted else t1) - t0) * 1000
        self.ms.append(ms)
        self.granted += outcome.granted
        if at_answer < before:
            self.pruned_ms.append(ms)
        # Only a prune shrinks the journal (back to its cap, from a slice above it: at
        # most one per tap).
        self.prunes += at_answer < before or self.gate.journal.count() < at_answer
        if self.ack:
            self.uplink.mark_acked(self.uplink.last_seq())

    def overflow_alarms(self) -> int:
        """How many journal_overflow alarms the journal holds."""
        events = self.gate.journal.read(limit=100_000_000)
        return sum(1 for e in events if e.kind == OVERFLOW_KIND)

    def close(self) -> None:
        """Shut the gate down."""
        self.uplink.close()
        self.gate.shutdown()
        self.factory.close()


def tap_uids(taps: int, seed: int = 7) -> list[str]:
    """Mostly known cards, 5 % unknown ones (a durable deny instead of a grant)."""
    rng = random.Random(seed)
    return [card_uid(CARDS + rng.randrange(10**6)) if rng.random() < 0.05
            else card_uid(rng.randrange(CARDS)) for _ in range(taps)]


def run(data_dir: Path, taps: int, max_events: int) -> tuple[list[CapRig], list[float]]:
    """The three gates and the baseline, interleaved tap by tap, rotating the order."""
    store = data_dir / "auth.db"
    build_store(store, CARDS)
    rigs = [CapRig("below cap", data_dir / "below", store, max_events, None, ack=True),
            CapRig("at cap, acked", data_dir / "acked", store, max_events, max_events,
                   ack=True),
            CapRig("at cap, unacked", data_dir / "unacked", store, max_events, max_events,
                   ack=False)]
    baseline = Baseline(store, data_dir / "baseline-events.db")
    base_ms: list[float] = []
    try:
        def base_tap(uid: str) -> None:
            sample: Sample = baseline.tap(uid)
            base_ms.append(sample.ms)

        turns = [rig.tap for rig in rigs] + [base_tap]
        for i, uid in enumerate(tap_uids(taps)):
            k = i % len(turns)
            for turn in turns[k:] + turns[:k]:
                turn(uid)
        for rig in rigs[1:]:
            if taps > 2 * max(100, max_events // 100) and not rig.prunes:
                raise RuntimeError(f"{rig.name}: the journal never pruned in {taps} taps")
        alarms = [rig.overflow_alarms() for rig in rigs]
        print(f"journal_overflow alarms: below cap {alarms[0]}, at cap acked {alarms[1]}, "
              f"unacked {alarms[2]}")
        return rigs, base_ms
    finally:
        for rig in rigs:
            rig.close()
        baseline.close()


def ratio(at_cap: list[float], below: list[float], p: float) -> float:
    """The p-th percentile at cap over the same below cap."""
    return round(percentile(at_cap, p) / percentile(below, p), 2)


def main() -> None:
    """Run the benchmark and print its figures; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--taps", type=int, default=2000,
                        help="taps at each gate (>= 100 for a meaningful p99)")
    parser.add_argument("--max-events", type=int, default=MIN_MAX_EVENTS,
                        help=f"the journal cap of the gates at cap (>= {MIN_MAX_EVENTS})")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where a gate keeps its files (default: /var/lib/menwei-bench "
                        "if writable, else the repository's var/menwei-bench)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with data_folder(args.data_dir, "journal-cap-") as (folder, fs):
        rigs, base_ms = run(folder, args.taps, args.max_events)
    load_after = os.getloadavg()
    below, acked, unacked = rigs
    print(f"{args.taps} taps at each gate, interleaved one by one with the others and the "
          f"baseline on the same UIDs ({acked.granted} granted); every journal held "
          f"{args.max_events} events at the first tap; cap {args.max_events} at cap")
    for rig in rigs:
        print(figures(f"{rig.name}: UID-in to strike:", rig.ms, digits=3))
        if rig.prunes:
            print(f"  {rig.prunes} prunes, {len(rig.pruned_ms)} of them before the strike "
                  f"command or the durable deny ({len(rig.pruned_ms) / len(rig.ms):.2%} of "
                  "taps; above 1 % they alone can set the p99)")
        if rig.pruned_ms:
            print(figures("  the taps that paid a prune:", rig.pruned_ms, digits=3))
    print(figures("lookup + fsync'd commit:", base_ms, digits=3))
    fig = {"ratio_p50_at_cap": ratio(acked.ms, below.ms, 50),
           "ratio_p99_at_cap": ratio(acked.ms, below.ms, 99),
           "unacked_ratio_p50_at_cap": ratio(unacked.ms, below.ms, 50),
           "unacked_ratio_p99_at_cap": ratio(unacked.ms, below.ms, 99)}
    for label, key in (("acked", ""), ("unacked", "unacked_")):
        value = fig[f"{key}ratio_p99_at_cap"]
        print(f"at cap ({label}) / below cap: p50 {fig[f'{key}ratio_p50_at_cap']:.2f}  "
              f"p99 {value:.2f} (goal <= {GOAL_RATIO_P99}: "
              f"{'met' if value <= GOAL_RATIO_P99 else 'NOT met'})")
    print(f"load average: {load_before[0]:.2f} before, {load_after[0]:.2f} after "
          f"({os.cpu_count()} cores)")
    if args.taps < 100:
        print("fewer than 100 taps: the p99 is not meaningful (a smoke run)")
    print(json.dumps({
        **fig, "goal_ratio_p99": GOAL_RATIO_P99, "taps": args.taps,
        "max_events": args.max_events, "granted": acked.granted, "files_on": fs,
        **{f"{prefix}p50_ms": round(percentile(rig.ms, 50), 3)
           for prefix, rig in (("below_", below), ("acked_", acked), ("unacked_", unacked))},
        **{f"{prefix}p99_ms": round(percentile(rig.ms, 99), 3)
           for prefix, rig in (("below_", below), ("acked_", acked), ("unacked_", unacked))},
        "acked_prunes": acked.prunes, "acked_pruning_taps": len(acked.pruned_ms),
        "unacked_prunes": unacked.prunes, "unacked_pruning_taps": len(unacked.pruned_ms),
        "baseline_p50_ms": round(percentile(base_ms, 50), 3),
        "baseline_p99_ms": round(percentile(base_ms, 99), 3),
        "load_1m_before": round(load_before[0], 2), "load_1m_after": round(load_after[0], 2),
    }))


if __name__ == "__main__":
    main()
