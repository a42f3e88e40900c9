"""UID-in to relay-command latency of a door and of a barrier lane over a large whitelist,
each against the physical limit of the same work, measured side by side in one run.

    python -m bench.decision --cards 1000000 --taps 20000

Builds a store of ``--cards`` cards in a data directory (``--data-dir``; by default a folder
under /var/lib/menwei-bench, or under the repository's var/ when that is not writable: where
a gate keeps its files, never whatever /tmp is, since a tmpfs makes every fsync free) and
prints the filesystem it is on. Then, in-process on simulated pins and in virtual time:

**Door.** A real ``Gate`` for a door; each sample times ``Gate.handle_tap`` from the UID
arriving to the strike output being commanded (granted taps; the grant event is committed
and fsynced before that) or to the durable deny event (denied taps). Its baseline is what
any design must pay: one prepared primary-key lookup in the same auth.db and one commit of
an event row into a journal of the same schema, WAL with synchronous=FULL, in the same
directory.

**Barrier lane.** A real ``Gate`` for a car-park entry lane taking cards, with hard
anti-passback (the presence lookup is in the decision's path) and the lane's credits
(edge.lane), the simulated arm and vehicle loops of hardware_sim. Each sample: a car pulls
up (untimed), its card is tapped and timed to the raise output (or to the durable deny
event), then the car drives through (or backs out, refused) and the arm is down again before
the next sample (untimed; the passage records the car's presence). Half the cards have been
in and out before, one in a hundred is still inside (refused). Its baseline: the same lookup,
a presence lookup in the same presence file, and the same fsync'd journal commit.

Gate and baseline take the same UIDs one by one, alternating which goes first, so both see
the same page cache and disk state. Then the real daemon starts on the door's store: cold
start to READY and peak RSS. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import (
    build_store,
    card_uid,
    data_folder,
    door_config,
    entry_lane_config,
    figures,
    peak_rss_mb,
    percentile,
    write_config,
)
from edge import antipassback, journal
from edge.barrier import Barrier, BarrierState
from edge.control_socket import ControlClient
from edge.gate import Gate
from edge.gpio_pins import GpioInput, GpioOutput
from edge.migrations import connect, migrate
from edge.ports import SystemClock
from firmware_config.schema import EdgeConfig
from hardware_sim.barrier_physics import TICK, BarrierArmSim
from hardware_sim.lane_physics import LaneSim
from hardware_sim.observed_pins import ObservedMockFactory
from hardware_sim.virtual_time import VirtualScheduler

GOAL_RATIO_P99 = 1.3  # issue 13: p99 within 1.3x the bare lookup + commit, door and lane
GOAL_P99_MS = 5.0
STRIKE_PIN, RAISE_PIN = "GPIO17", "GPIO5"
ARM_TRAVEL_S = 0.2  # entry_lane_config's default: the arm's travel in virtual time
CAR_M, CAR_MPS = 4.5, 15.0
# The columns the gate's own lookup reads (edge.auth_store), by primary key.
CARD_LOOKUP = ("SELECT status, valid_from, valid_until, access_groups, schedule, holder_kind, "
               "plate, parking FROM cards WHERE uid = ?")


def _mixed_uids(cards: int, taps: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    # 5 % unknown cards; the rest spread over the whole store (cold and warm pages alike).
    return [card_uid(cards + rng.randrange(10**6)) if rng.random() < 0.05
            else card_uid(rng.randrange(cards)) for _ in range(taps)]


def simulated_gate(config: EdgeConfig, factory: ObservedMockFactory,
                   scheduler: VirtualScheduler) -> Gate:
    """A real Gate on ``factory``'s mock pins, its timers on ``scheduler``."""
    return Gate(config, clock=SystemClock(), scheduler=scheduler,
                make_output=lambda name, pin, initial: GpioOutput(name, pin, factory, initial),
                make_input=lambda name, pin: GpioInput(name, pin, factory, lambda fn: fn()))


class RelayWatch:
    """The perf_counter time of one output pin's next change to active."""

    def __init__(self, factory: ObservedMockFactory, pin: str) -> None:
        self.at: list[float] = []
        factory.observers.append(
            lambda name, high, _mono: self.at.append(time.perf_counter())
            if name == pin and high else None)


@dataclass
class Sample:
    """One tap's latency and outcome."""

    ms: float
    granted: bool


class DoorRig:
    """A real Gate for a door on simulated pins, in virtual time."""

    def __init__(self, data_dir: Path) -> None:
        self.config = write_config(data_dir / "door.toml", door_config(data_dir))
        assert self.config.door is not None
        self.pulse = self.config.door.pulse
        self.factory = ObservedMockFactory()
        self.relay = RelayWatch(self.factory, STRIKE_PIN)
        self.scheduler = VirtualScheduler()
        self.gate = simulated_gate(self.config, self.factory, self.scheduler)
        self.gate.start()

    def tap(self, uid: str) -> Sample:
        """Time one tap to the strike command (granted) or the durable deny."""
        self.relay.at.clear()
        t0 = time.perf_counter()
        outcome = self.gate.handle_tap(uid)
        t1 = time.perf_counter()
        # Let the pulse end so the next grant commands the relay again (untimed).
        self.scheduler.advance(self.pulse + 0.1)
        if outcome.granted:
            return Sample((self.relay.at[0] - t0) * 1000, True)
        return Sample((t1 - t0) * 1000, False)

    def close(self) -> None:
        """Shut the gate down."""
        self.gate.shutdown()
        self.factory.close()


class LaneRig:
    """A real Gate for an entry lane (cards, hard anti-passback) with the simulated arm and
    loops, in virtual time."""

    def __init__(self, config: EdgeConfig) -> None:
        assert config.barrier is not None
        self.config = config
        self.factory = ObservedMockFactory()
        self.relay = RelayWatch(self.factory, RAISE_PIN)
        self.scheduler = VirtualScheduler()
        self.gate = simulated_gate(config, self.factory, self.scheduler)
        # The arm before start: the gate learns its position from the limit switches.
        self.arm = BarrierArmSim(self.factory, config.barrier, self.scheduler, ARM_TRAVEL_S)
        self.lane = LaneSim(self.factory, config.barrier, self.scheduler, self.arm)
        self.gate.start()
        assert isinstance(self.gate.actuator, Barrier)
        self.barrier: Barrier = self.gate.actuator

    def tap(self, uid: str) -> Sample:
        """A car pulls up, its card is timed to the raise command (granted) or the durable
        deny; then it drives through (or backs out) and the arm comes down (untimed)."""
        self.lane.vehicle_arrives(CAR_M, CAR_MPS)
        self.relay.at.clear()
        t0 = time.perf_counter()
        outcome = self.gate.handle_tap(uid)
        t1 = time.perf_counter()
        if outcome.granted:
            self.lane.drive_through()
            sample = Sample((self.relay.at[0] - t0) * 1000, True)
        else:
            self.lane.back_out()
            sample = Sample((t1 - t0) * 1000, False)
        self._settle()
        return sample

    def _settle(self) -> None:
        deadline = self.scheduler.now() + 60
        while (self.lane.vehicles or not self.arm.at_closed_limit
               or self.barrier.state is not BarrierState.CLOSED):
            if self.scheduler.now() > deadline:
                raise RuntimeError(f"the lane did not settle: {self.barrier.status()}, "
                                   f"{self.lane.status()}")
            self.scheduler.advance(TICK)

    def check(self, granted: int) -> None:
        """Every grant let its car through as a credited passage, the arm never came down
        onto one and stayed in service: a lane that refused or jammed would measure
        nothing."""
        events = self.gate.journal.read(limit=100_000_000)
        credited = sum(1 for e in events if e.kind == "vehicle_passed"
                       and e.data.get("credited"))
        problems = [e.kind for e in events
                    if e.kind in ("tailgate", "credit_lapsed", "barrier_stuck")]
        if credited != granted or problems or self.arm.violations \
                or not self.barrier.in_service:
            raise RuntimeError(f"the lane granted {granted} and credited {credited} passages; "
                               f"{problems[:5]}, {self.arm.violations[:5]}, "
                               f"in service: {self.barrier.in_service}")

    def close(self) -> None:
        """Shut the gate and the simulation down."""
        self.gate.shutdown()
        self.arm.close()
        self.lane.close()
        self.factory.close()


@dataclass
class Baseline:
    """The physical limit of a decision: a prepared primary-key lookup in the same auth.db
    (and, for a lane, in the same presence file), then one commit of an event row into a
    journal of the gate's own schema, WAL with synchronous=FULL, in the same directory."""

    auth_db: Path
    events_db: Path
    presence_db: Path | None = None
    _conns: list[sqlite3.Connection] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.auth = sqlite3.connect(self.auth_db, isolation_level=None)
        self.events = connect(str(self.events_db))
        migrate(self.events, journal.MIGRATIONS, f"baseline journal {self.events_db}")
        self.presence = None if self.presence_db is None else \
            connect(str(self.presence_db), synchronous="NORMAL")
        self._conns = [c for c in (self.auth, self.events, self.presence) if c is not None]

    def tap(self, uid: str) -> Sample:
        """Time one lookup (+ presence lookup) + fsync'd commit."""
        t0 = time.perf_counter()
        row = self.auth.execute(CARD_LOOKUP, (uid,)).fetchone()
        if self.presence is not None:
            self.presence.execute("SELECT inside, wall FROM presence WHERE uid = ?",
                                  (uid,)).fetchone()
        self.events.execute(
            "INSERT INTO events (boot_id, wall, mono, kind, alarm, clock_trusted, uid, "
            "granted, reason, data) VALUES (?, ?, ?, 'tap', 0, 1, ?, ?, ?, ?)",
            ("0" * 32, time.time(), time.monotonic(), uid, row is not None,
             "granted" if row is not None else "unknown_card",
             '{"holder_kind":"owner","latency_us":123}'))
        return Sample((time.perf_counter() - t0) * 1000, row is not None)

    def close(self) -> None:
        """Close the connections."""
        for conn in self._conns:
            conn.close()


def interleaved(gate: DoorRig | LaneRig, baseline: Baseline,
                uids: list[str]) -> tuple[list[float], list[float], int]:
    """(gate ms, baseline ms, granted taps): the same UID to both, one after the other,
    alternating which goes first."""
    gate_ms: list[float] = []
    base_ms: list[float] = []
    granted = 0
    for i, uid in enumerate(uids):
        for turn in (("gate", "base") if i % 2 == 0 else ("base", "gate")):
            if turn == "gate":
                sample = gate.tap(uid)
                gate_ms.append(sample.ms)
                granted += sample.granted
            else:
                base_ms.append(baseline.tap(uid).ms)
    return gate_ms, base_ms, granted


def fill_presence(path: Path, cards: int, now: float) -> int:
    """Half the cards have been in and out; one in a hundred is inside still. Rows written."""
    conn = connect(str(path), synchronous="NORMAL")
    try:
        migrate(conn, antipassback.MIGRATIONS, f"presence {path}")
        rows = ((card_uid(i), int(i % 100 == 0), now - (3600 if i % 100 == 0 else 86400))
                for i in range(0, cards, 2))
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO presence (uid, inside, wall) VALUES (?, ?, ?)", rows)
        conn.execute("COMMIT")
        (n,) = conn.execute("SELECT count(*) FROM presence").fetchone()
    finally:
        conn.close()
    return int(n)


def door_run(data_dir: Path, uids: list[str]) -> tuple[list[float], list[float], int]:
    """The door and its baseline, interleaved."""
    rig = DoorRig(data_dir)
    baseline = Baseline(data_dir / "auth.db", data_dir / "baseline-events.db")
    try:
        return interleaved(rig, baseline, uids)
    finally:
        rig.close()
        baseline.close()


def lane_run(data_dir: Path, store: Path, cards: int,
             uids: list[str]) -> tuple[list[float], list[float], int]:
    """The entry lane and its baseline, interleaved, on a copy of the door's store."""
    data_dir.mkdir()
    config = write_config(data_dir / "lane.toml", entry_lane_config(
        data_dir, arm_travel=f"{ARM_TRAVEL_S}s"))
    shutil.copyfile(store, config.auth_db)
    presence_db = config.antipassback.presence_db
    fill_presence(presence_db, cards, time.time())
    rig = LaneRig(config)
    baseline = Baseline(config.auth_db, data_dir / "baseline-events.db", presence_db)
    try:
        gate_ms, base_ms, granted = interleaved(rig, baseline, uids)
        rig.check(granted)
        return gate_ms, base_ms, granted
    finally:
        rig.close()
        baseline.close()


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


def summary(prefix: str, gate_ms: list[float], base_ms: list[float]) -> dict[str, float]:
    """The JSON figures of one gate against its baseline, keys starting with ``prefix``."""
    p50, p99 = percentile(gate_ms, 50), percentile(gate_ms, 99)
    b50, b99 = percentile(base_ms, 50), percentile(base_ms, 99)
    return {f"{prefix}p50_ms": round(p50, 3), f"{prefix}p99_ms": round(p99, 3),
            f"{prefix}max_ms": round(max(gate_ms), 3),
            f"{prefix}baseline_p50_ms": round(b50, 3), f"{prefix}baseline_p99_ms": round(b99, 3),
            f"{prefix}ratio_p50": round(p50 / b50, 2), f"{prefix}ratio_p99": round(p99 / b99, 2)}


def verdict(fig: dict[str, float], prefix: str) -> str:
    """The ratio line against issue 13's goal."""
    ratio, p99 = fig[f"{prefix}ratio_p99"], fig[f"{prefix}p99_ms"]
    return (f"ratio p50 {fig[f'{prefix}ratio_p50']:.2f}  p99 {ratio:.2f} (goal <= "
            f"{GOAL_RATIO_P99}: {'met' if ratio <= GOAL_RATIO_P99 else 'NOT met'}); "
            f"p99 goal <= {GOAL_P99_MS:g} ms: {'met' if p99 <= GOAL_P99_MS else 'NOT met'}")


def main() -> None:
    """Run the benchmark and print its figures; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cards", type=int, default=1_000_000)
    parser.add_argument("--taps", type=int, default=20_000,
                        help="taps of each kind at the door and at the lane (>= 100)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where a gate keeps its files (default: /var/lib/menwei-bench "
                        "if writable, else the repository's var/menwei-bench)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with data_folder(args.data_dir, "decision-") as (door_dir, fs):
        t = time.perf_counter()
        build_store(door_dir / "auth.db", args.cards)
        print(f"built {args.cards} cards in {time.perf_counter() - t:.1f} s")
        uids = _mixed_uids(args.cards, args.taps)
        door_ms, door_base_ms, door_granted = door_run(door_dir, uids)
        lane_ms, lane_base_ms, lane_granted = lane_run(door_dir / "lane",
                                                       door_dir / "auth.db", args.cards, uids)
        startup_s, rss_mb = daemon_start_and_rss(door_dir, args.cards, min(args.taps, 2000))
        small = door_dir / "small"
        small.mkdir()
        build_store(small / "auth.db", 1000)
        startup_small_s, _ = daemon_start_and_rss(small, 1000, 10)
    load_after = os.getloadavg()
    door = summary("", door_ms, door_base_ms)
    lane = summary("lane_", lane_ms, lane_base_ms)
    print(f"cards: {args.cards}; {len(uids)} taps at each, interleaved one by one with its "
          f"baseline on the same UIDs (door {door_granted} granted, lane {lane_granted})")
    print(figures("door UID-in to strike command:", door_ms, digits=3))
    print(figures("  lookup + fsync'd commit:", door_base_ms, digits=3))
    print(f"  {verdict(door, '')}")
    print(figures("lane UID-in to raise command:", lane_ms, digits=3))
    print(figures("  lookup + presence + commit:", lane_base_ms, digits=3))
    print(f"  {verdict(lane, 'lane_')}")
    print(f"cold start to READY: {startup_s:.3f} s with {args.cards} cards, "
          f"{startup_small_s:.3f} s with 1000 (goal <= 2 s, not growing with cards)")
    print(f"peak RSS of the gate process after startup and taps: {rss_mb:.1f} MB "
          "(goal <= 80 MB)")
    print(f"load average: {load_before[0]:.2f} before, {load_after[0]:.2f} after "
          f"({os.cpu_count()} cores)")
    if args.taps < 100:
        print("fewer than 100 taps: the p99 is not meaningful (a smoke run)")
    print(json.dumps({
        **door, **lane, "taps": len(uids), "granted": door_granted,
        "lane_granted": lane_granted, "cards": args.cards,
        "goal_ratio_p99": GOAL_RATIO_P99, "files_on": fs,
        "startup_s": round(startup_s, 3), "startup_1k_cards_s": round(startup_small_s, 3),
        "rss_mb": round(rss_mb, 1),
        "load_1m_before": round(load_before[0], 2), "load_1m_after": round(load_after[0], 2),
    }))


if __name__ == "__main__":
    main()
