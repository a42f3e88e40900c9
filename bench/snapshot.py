"""A fresh device syncs a whole list by chunked snapshot, against ``executemany`` of the same
rows, with a gate tapping on the same auth.db meanwhile.

    python -m bench.snapshot --small 100000 --large 1000000

For ``--small`` and then ``--large`` cards: the central side holds the list; a new device's
``menwei-sync run`` starts with an empty auth.db; timed from the agent's start until its
auth.db holds the whole list (applied_seq at the head). Central's snapshot threshold is 0
here (any catch-up is answered with a snapshot; the product's default, 5000, would answer the
smoke sizes with changes), so even the smoke sizes take the snapshot path;
the benchmark asserts that it did (the agent's log says it applied a snapshot up to the
head), and prints how many cards arrived as changes instead.

The baseline is the physical limit of the same write: ``executemany`` of the same rows
(edge/auth_store.py's ``card_values`` of the same cards, as the device ends up holding them;
checked on a sample) into a fresh auth.db beside the device's, with the same migrations and
pragmas (WAL, synchronous=FULL), one transaction with its fsync'd commit; the rows are built
before the clock starts. It runs once before the device's sync and once after it (with no
broker or central running), so the two bracket the sync in the same run; the ratio is
against their mean.

A real gate (``Gate.handle_tap`` in its own process, on the device's config and data dir)
taps random cards of the list every ``--tap-every-ms`` (50 ms) throughout: at least 100 taps before
the agent starts (idle), then during the whole sync until the list is in force (the
staging, the snapshot's one replace transaction and its checkpoint included). Taps are due
on a fixed schedule; a tap due while an earlier one was still running counts from when it
was due, so a stalled tap cannot hide behind the taps it kept from happening.
``--dir`` puts the device's files (and the baseline's) where a gate keeps its data; the
filesystem is printed.

JSON keys keep their meaning at any size: ``small_cards``/``large_cards`` (sizes),
``s_small``/``s_large`` (seconds to sync), ``baseline_s_small``/``baseline_s_large``,
``ratio_small``/``ratio_large`` (sync over baseline), ``rss_mb`` (the agent's peak RSS in the
large run), ``tap_p50_during_apply_ms``/``tap_p99_during_apply_ms``/``taps_during_apply``
(the large run's sync), ``tap_p99_idle_ms`` (the same gate before it), ``snapshot_path``
(always true: the run fails otherwise). Named sizes appear only at those sizes:
``s_1m``/``ratio_1m`` when the large size is 1,000,000 cards, ``s_100k``/``ratio_100k`` when
the small size is 100,000.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import re
import select
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

from bench.common import mount_of, peak_rss_mb, percentile
from bench.sync_rig import SyncRig, card, stop, wait_for
from edge.auth_store import CARD_COLUMNS, MIGRATIONS, card_values
from edge.gate import Gate
from edge.gpio_pins import GpioInput, GpioOutput
from edge.migrations import connect, migrate
from edge.ports import SystemClock
from firmware_config.schema import load_config
from hardware_sim.observed_pins import ObservedMockFactory
from hardware_sim.virtual_time import VirtualScheduler

IDLE_TAPS = 100
_APPLIED_SNAPSHOT = re.compile(r"applied snapshot \S+ up to (\d+) \((\d+) cards\)")
_APPLIED_CHANGES = re.compile(r"applied changes \d+\.\.\d+ \((\d+) cards\)")


@dataclasses.dataclass(frozen=True)
class SyncRun:
    """One size's figures."""

    cards: int
    seconds: float
    baseline_s: tuple[float, float]  # before and after the sync
    rss_mb: float
    idle_ms: list[float]
    during_ms: list[float]
    granted_during: int
    cards_by_changes: int

    @property
    def baseline_mean_s(self) -> float:
        """The baseline's seconds, both runs' mean."""
        return sum(self.baseline_s) / len(self.baseline_s)

    @property
    def ratio(self) -> float:
        """The sync's seconds over the baseline's."""
        return self.seconds / self.baseline_mean_s


def _rows(cards: int) -> list[tuple[object, ...]]:
    # A snapshot's cards reach auth.db with its upto_seq as their auth_seq
    # (sync/wire/auth_messages.py): here the head, ``cards``.
    return [card_values(dataclasses.replace(card(i), auth_seq=cards)) for i in range(cards)]


def executemany_baseline(path: Path, cards: int) -> float:
    """Seconds to write ``cards`` rows into a fresh auth.db as the product's schema and
    pragmas have it, in one transaction with its fsync'd commit."""
    rows = _rows(cards)
    columns = ", ".join(CARD_COLUMNS)
    t0 = time.monotonic()
    conn = connect(str(path))
    migrate(conn, MIGRATIONS, f"baseline {path}")
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(f"INSERT INTO cards ({columns}) VALUES (?{', ?' * (len(CARD_COLUMNS) - 1)})",
                     rows)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'applied_seq'", (str(cards),))
    conn.commit()
    seconds = time.monotonic() - t0
    conn.close()
    return seconds


def _same_rows(auth_db: Path, baseline_db: Path, cards: int) -> None:
    """The device's list and the baseline's hold the same rows (a sample of 200 UIDs)."""
    uids = [card(i).uid for i in random.Random(3).sample(range(cards), min(cards, 200))]
    marks = ", ".join("?" * len(uids))
    sql = f"SELECT {', '.join(CARD_COLUMNS)} FROM cards WHERE uid IN ({marks}) ORDER BY uid"
    got = [sqlite3.connect(db).execute(sql, uids).fetchall() for db in (auth_db, baseline_db)]
    if got[0] != got[1] or len(got[0]) != len(uids):
        diff = next((a, b) for a, b in zip(*got, strict=False) if a != b)
        raise AssertionError(f"the baseline did not write the rows the device holds: "
                             f"device {diff[0]}, baseline {diff[1]}")


def tap_gate(config: Path, cards: int, every_ms: float) -> None:
    """The tapping gate's process: taps until a line arrives on stdin, then prints one JSON
    line of ``[due (monotonic), ms, granted]`` per tap. Prints ``ready`` once the gate
    runs and ``idle`` after ``IDLE_TAPS`` taps."""
    cfg = load_config(config)
    assert cfg.door is not None
    factory = ObservedMockFactory()
    relay_at: list[float] = []
    factory.observers.append(lambda pin, high, _mono: relay_at.append(time.monotonic())
                             if pin == "GPIO17" and high else None)
    scheduler = VirtualScheduler()
    gate = Gate(
        cfg, clock=SystemClock(), scheduler=scheduler,
        make_output=lambda name, pin, initial: GpioOutput(name, pin, factory, initial),
        make_input=lambda name, pin: GpioInput(name, pin, factory, lambda fn: fn()),
    )
    gate.start()
    rng = random.Random(5)
    samples: list[tuple[float, float, bool]] = []
    print("ready", flush=True)
    every = every_ms / 1000
    due = time.monotonic()
    previous_end = due
    while not select.select([sys.stdin], [], [], 0)[0]:
        if (wait := due - time.monotonic()) > 0:
            time.sleep(wait)
        # Behind schedule (the previous tap ran past this one's due time): the card was
        # waiting since it was due. On time: the tap starts now (a late wake-up is the
        # benchmark's sleep, not the gate).
        start = due if previous_end > due else time.monotonic()
        relay_at.clear()
        outcome = gate.handle_tap(card(rng.randrange(cards)).uid)
        end = relay_at[0] if outcome.granted else time.monotonic()
        samples.append((due, (end - start) * 1000, outcome.granted))
        previous_end = time.monotonic()
        scheduler.advance(cfg.door.pulse + 0.1)  # the pulse ends: the next grant drives it
        if len(samples) == IDLE_TAPS:
            print("idle", flush=True)
        due += every
    gate.shutdown()
    factory.close()
    print(json.dumps(samples), flush=True)


def _expect(stream: IO[str], line: str, timeout_s: float) -> None:
    if not select.select([stream], [], [], timeout_s)[0] or stream.readline() != line + "\n":
        raise RuntimeError(f"the tapping gate did not say {line!r}")


def _filesystem(path: Path) -> str:
    """The mount (device, type) holding ``path``, from /proc/mounts."""
    device, kind, mount = mount_of(path)
    return f"{kind} ({device} on {mount})"


def sync_fresh_device(cards: int, every_ms: float, parent: Path | None) -> SyncRun:
    """Sync a fresh device with ``cards`` cards by snapshot while its gate taps; the figures."""
    with tempfile.TemporaryDirectory(prefix="menwei-snap-", dir=parent) as tmp:
        # Threshold 0: central answers a catch-up from any distance with a snapshot.
        rig = SyncRig(Path(tmp), 1, snapshot_threshold=0)
        rig.central.record_cards(card(i) for i in range(cards))
        device = rig.names[0]
        data = Path(tmp) / device
        auth = data / "auth.db"
        before = executemany_baseline(data / "baseline-before.db", cards)
        tapper = subprocess.Popen(
            [sys.executable, "-m", "bench.snapshot", "--tap-gate", str(rig.configs[device]),
             "--tap-cards", str(cards), "--tap-every-ms", str(every_ms)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert tapper.stdin is not None and tapper.stdout is not None
        agent: subprocess.Popen[bytes] | None = None
        try:
            _expect(tapper.stdout, "ready", 30)
            _expect(tapper.stdout, "idle", 30 + IDLE_TAPS * every_ms / 1000 * 10)
            rig.broker.start()
            rig.central.start()
            t0 = time.monotonic()
            agent = rig.start_agent(device, log=data / "agent.log")
            conn = sqlite3.connect(f"file:{auth}?mode=ro", uri=True)
            t1 = wait_for(conn, "SELECT value FROM meta WHERE key = 'applied_seq'",
                          str(cards), timeout=900, poll=0.05)
            count = conn.execute("SELECT count(*) FROM cards").fetchone()[0]
            conn.close()
            tapper.stdin.write("stop\n")
            tapper.stdin.flush()
            taps = json.loads(tapper.stdout.readline())
            rss = peak_rss_mb(agent.pid)
        finally:
            if agent is not None:
                stop([agent])
            tapper.terminate()
            tapper.wait(15)
            rig.central.stop()
            rig.broker.stop()
        if count != cards:
            raise AssertionError(f"{count} cards applied, expected {cards}")
        log = (data / "agent.log").read_text()
        applied = [int(m[1]) for m in _APPLIED_SNAPSHOT.finditer(log)]
        if cards not in applied:
            raise AssertionError(f"the device did not take the snapshot path: its agent log "
                                 f"shows snapshots up to {applied}, not up to {cards}")
        after = executemany_baseline(data / "baseline-after.db", cards)
        _same_rows(auth, data / "baseline-after.db", cards)
        if parent is not None:
            print(f"files on {_filesystem(data)}")
    return SyncRun(
        cards, t1 - t0, (before, after), rss,
        idle_ms=[ms for due, ms, _g in taps if due < t0],
        during_ms=[ms for due, ms, _g in taps if t0 <= due <= t1],
        granted_during=sum(1 for due, _ms, g in taps if t0 <= due <= t1 and g),
        cards_by_changes=sum(int(m[1]) for m in _APPLIED_CHANGES.finditer(log)),
    )


def _report(run: SyncRun) -> None:
    print(f"{run.cards} cards: {run.seconds:.2f} s to sync by snapshot; executemany baseline "
          f"{run.baseline_s[0]:.2f} s before, {run.baseline_s[1]:.2f} s after: ratio "
          f"{run.ratio:.2f} (goal <= 1.5)")
    print(f"  agent peak RSS {run.rss_mb:.1f} MB (goal <= 64 MB); {run.cards_by_changes} "
          "cards arrived as changes before the snapshot")
    during = run.during_ms
    print(f"  gate taps during the sync: {len(during)} ({run.granted_during} granted once the "
          f"list was in force) p50 {percentile(during, 50):.2f} ms  p99 "
          f"{percentile(during, 99):.2f} ms  max {max(during):.2f} ms (p99 goal <= 5 ms); "
          f"idle before: {len(run.idle_ms)} taps p99 {percentile(run.idle_ms, 99):.2f} ms")


def main() -> None:
    """Run the benchmark and print its figures; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--tap-every-ms", type=float, default=50.0,
                        help="the tapping gate's schedule (default 50 ms)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where the device's files go (default: the temp dir)")
    parser.add_argument("--tap-gate", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tap-cards", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tap_gate is not None:
        tap_gate(args.tap_gate, args.tap_cards, args.tap_every_ms)
        return
    print(f"files on {_filesystem(args.dir or Path(tempfile.gettempdir()))}")
    small = sync_fresh_device(args.small, args.tap_every_ms, args.dir)
    _report(small)
    large = sync_fresh_device(args.large, args.tap_every_ms, args.dir)
    _report(large)
    figures: dict[str, object] = {
        "small_cards": args.small, "large_cards": args.large,
        "s_small": round(small.seconds, 2), "s_large": round(large.seconds, 2),
        "baseline_s_small": round(small.baseline_mean_s, 2),
        "baseline_s_large": round(large.baseline_mean_s, 2),
        "ratio_small": round(small.ratio, 2), "ratio_large": round(large.ratio, 2),
        "rss_mb": round(large.rss_mb, 1),
        "tap_p50_during_apply_ms": round(percentile(large.during_ms, 50), 2),
        "tap_p99_during_apply_ms": round(percentile(large.during_ms, 99), 2),
        "taps_during_apply": len(large.during_ms),
        "tap_p99_idle_ms": round(percentile(large.idle_ms, 99), 2),
        "snapshot_path": True,
    }
    if args.large == 1_000_000:
        figures |= {"s_1m": figures["s_large"], "ratio_1m": figures["ratio_large"]}
    if args.small == 100_000:
        figures |= {"s_100k": figures["s_small"], "ratio_100k": figures["ratio_small"]}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
