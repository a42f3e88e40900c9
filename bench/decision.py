"""UID-in to relay-command latency of the gate over a large whitelist, against a bare baseline.

    python -m bench.decision --cards 1000000 --taps 20000

Builds a store of N cards, then times ``Gate.handle_tap`` in-process: from the UID arriving
to the strike output being commanded (granted taps; the grant event is durable before that)
or to the durable deny event (denied taps). The baseline is what any design must pay: one
prepared sqlite3 primary-key lookup plus one journal commit with the same pragmas. Then
it starts the real daemon on the same store and reports cold start to READY and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import build_store, card_uid, door_config, peak_rss_mb, percentile, write_config
from edge.control_socket import ControlClient
from edge.gate import Gate
from edge.gpio_pins import GpioInput, GpioOutput
from edge.migrations import connect
from edge.ports import SystemClock
from hardware_sim.observed_pins import ObservedMockFactory
from hardware_sim.virtual_time import VirtualScheduler


def _mixed_uids(cards: int, taps: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    # 5 % unknown cards; the rest spread over the whole store (cold and warm pages alike).
    return [card_uid(cards + rng.randrange(10**6)) if rng.random() < 0.05
            else card_uid(rng.randrange(cards)) for _ in range(taps)]


def gate_latency(data_dir: Path, uids: list[str]) -> tuple[list[float], int]:
    """Per-tap latencies in ms through the real Gate with simulated pins."""
    cfg = write_config(data_dir / "door.toml", door_config(data_dir))
    factory = ObservedMockFactory()
    relay_at: list[float] = []
    factory.observers.append(lambda pin, high, _mono: relay_at.append(time.perf_counter())
                             if pin == "GPIO17" and high else None)
    scheduler = VirtualScheduler()
    gate = Gate(
        cfg, clock=SystemClock(), scheduler=scheduler,
        make_output=lambda name, pin, initial: GpioOutput(name, pin, factory, initial),
        make_input=lambda name, pin: GpioInput(name, pin, factory, lambda fn: fn()),
    )
    gate.start()
    assert cfg.door is not None
    latencies: list[float] = []
    granted = 0
    for uid in uids:
        relay_at.clear()
        t0 = time.perf_counter()
        outcome = gate.handle_tap(uid)
        t1 = time.perf_counter()
        if outcome.granted:
            granted += 1
            latencies.append((relay_at[0] - t0) * 1000)
        else:
            latencies.append((t1 - t0) * 1000)
        # Let the pulse end so the next grant commands the relay again.
        scheduler.advance(cfg.door.pulse + 0.1)
    gate.shutdown()
    factory.close()
    return latencies, granted


def baseline_latency(data_dir: Path, uids: list[str]) -> list[float]:
    """A prepared primary-key lookup plus one journal commit (WAL, synchronous=FULL)."""
    auth = sqlite3.connect(data_dir / "auth.db", isolation_level=None)
    events = connect(str(data_dir / "baseline-events.db"))
    events.execute("CREATE TABLE IF NOT EXISTS e (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                   "uid TEXT, ok INTEGER)")
    out: list[float] = []
    for uid in uids:
        t0 = time.perf_counter()
        row = auth.execute("SELECT status, valid_until FROM cards WHERE uid = ?",
                           (uid,)).fetchone()
        events.execute("INSERT INTO e (uid, ok) VALUES (?, ?)", (uid, row is not None))
        out.append((time.perf_counter() - t0) * 1000)
    return out


def daemon_start_and_rss(data_dir: Path, cards: int, taps: int) -> tuple[float, float]:
    """Start ``menwei-edge run`` on the store; seconds to READY=1, and peak RSS after taps."""
    cfg = write_config(data_dir / "daemon.toml", door_config(data_dir))
    notify_path = data_dir / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET=str(notify_path))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config",
                             str(cfg.source)], env=env, stderr=subprocess.DEVNULL)
    try:
        while True:
            message = notify.recv(4096).decode()
            if "READY=1" in message.split("\n"):
                break
        startup = time.perf_counter() - t0
        with ControlClient(cfg.control_socket) as client:
            uids = _mixed_uids(cards, taps, seed=11)
            for uid in uids:
                client.call("sim.read_card", uid=uid)
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
        notify.close()
    return startup, rss


def main() -> None:
    """Run the benchmark and print its figures; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cards", type=int, default=1_000_000)
    parser.add_argument("--taps", type=int, default=20_000)
    parser.add_argument("--dir", type=Path, default=None, help="where to build (default: tmp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="menwei-bench-", dir=args.dir) as tmp:
        data_dir = Path(tmp)
        t = time.perf_counter()
        build_store(data_dir / "auth.db", args.cards)
        print(f"built {args.cards} cards in {time.perf_counter() - t:.1f} s")
        uids = _mixed_uids(args.cards, args.taps)
        # Interleave so both measurements see the same machine state.
        gate_ms, granted = gate_latency(data_dir, uids)
        base_ms = baseline_latency(data_dir, uids)
        startup_s, rss_mb = daemon_start_and_rss(data_dir, args.cards, min(args.taps, 2000))
        small = data_dir / "small"
        small.mkdir()
        build_store(small / "auth.db", 1000)
        startup_small_s, _ = daemon_start_and_rss(small, 1000, 10)
    p50, p99, mx = percentile(gate_ms, 50), percentile(gate_ms, 99), max(gate_ms)
    b50, b99 = percentile(base_ms, 50), percentile(base_ms, 99)
    print(f"taps: {len(uids)} ({granted} granted), cards: {args.cards}")
    print(f"gate UID-in to relay-command: p50 {p50:.3f} ms  p99 {p99:.3f} ms  max {mx:.3f} ms")
    print(f"baseline lookup+commit:       p50 {b50:.3f} ms  p99 {b99:.3f} ms  "
          f"max {max(base_ms):.3f} ms")
    print(f"ratio p99: {p99 / b99:.2f} (goal <= 2); p99 goal <= 5 ms")
    print(f"cold start to READY: {startup_s:.3f} s with {args.cards} cards, "
          f"{startup_small_s:.3f} s with 1000 (goal <= 2 s, not growing with cards)")
    print(f"peak RSS of the gate process after startup and taps: {rss_mb:.1f} MB "
          "(goal <= 80 MB)")
    print(json.dumps({
        "p50_ms": round(p50, 3), "p99_ms": round(p99, 3), "max_ms": round(mx, 3),
        "baseline_p99_ms": round(b99, 3), "ratio_p99": round(p99 / b99, 2),
        "cards": args.cards, "startup_s": round(startup_s, 3),
        "startup_1k_cards_s": round(startup_small_s, 3), "rss_mb": round(rss_mb, 1),
    }))


if __name__ == "__main__":
    main()
