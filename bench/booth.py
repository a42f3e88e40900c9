"""A guard's manual open at the booth page -> the gate's relay, with the site broker down.

    python -m bench.booth --samples 200

Runs a post of the simulated compound as real processes on 127.0.0.1: a site broker
(Mosquitto), the main gate's door (``menwei-edge run``, simulated pins, a 200 ms strike
pulse) with its sync agent, and the east booth (``menwei-booth run``) with its own sync
agent. No desk: the booth's list of guards is signed here with a key pinned in the booth's
config, as the desk would publish it. Once both agents are connected the broker is stopped,
and stays stopped for the whole measurement (the agents keep trying to reconnect).

A guard signs in through the sign-in page (its CSRF cookie and field), then opens the door
N times through the post page exactly as the browser does: the open form is fetched and its
CSRF field read, then the form is posted with a reason (untimed), and the time is taken
from just before the POST is sent to the strike output going on, read from the gate's
outputs log (both CLOCK_MONOTONIC). Interleaved with each, alternating which goes first,
the baseline: the same open (same guard, same journalled reason) sent straight to the
gate's control socket, as ``menwei-edge open`` does - the gate journals it, fsync'd, before
the relay: the physical limit of a journalled manual open. Between samples the door's
pulse ends, so every open really drives the relay.

What the booth adds on the way to the relay: HTTP, the guard's cookie and the form's CSRF
token, the reason checked. Its own fsync'd ``gate_control`` record is written after the
gate answered (the truth, not the wish), so it is in the response time, reported beside.
Prints p50 and p99 of both and their ratios; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import tomli_w
from argon2 import PasswordHasher
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.common import figures, filesystem_of, percentile
from booth.list_file import FILE_NAME, store_if_newer
from edge.control_socket import ControlClient, wait_until_answering
from hardware_sim.local_ports import free_tcp_port, free_udp_port
from hardware_sim.observed_pins import read_outputs_log
from hardware_sim.running_booth import BoothSpec, RunningBooth
from hardware_sim.running_gate import GATES, STRIKE_PIN, GateSite, RunningGate
from hardware_sim.site_broker import LocalBroker
from sync.wire.booth_list import BoothGuard, BoothList, ParkingTariff
from sync.wire.signing import public_key_text, sign

SITE = "bench-site"
DOOR = GATES[0]  # main-gate, a door
BOOTH = BoothSpec("east-booth", "东门岗", (DOOR.name,))
GUARD, GUARD_NAME, PASSWORD = "wang.guard", "王保安", "guard-bench-pass"
REASON_CODE = "visitor"
REASON_ZH = "访客已登记"  # what the booth journals for REASON_CODE (booth.gate_controls)
PULSE = "200ms"
GOAL_P99_MS = 300.0
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Post:
    """The processes of the post and where their files are."""

    root: Path
    broker: LocalBroker
    gate: RunningGate
    booth: RunningBooth
    procs: dict[str, subprocess.Popen[bytes]]
    logs: list[IO[bytes]]

    def spawn(self, name: str, argv: list[str]) -> None:
        """Start ``python -m argv`` with its output in ``NAME.log``."""
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self.logs.append(log)
        self.procs[name] = subprocess.Popen([sys.executable, "-m", *argv], stdout=log,
                                            stderr=log, cwd=self.root)

    def log(self, name: str) -> str:
        """A process's log so far; RuntimeError with its tail when it has exited."""
        text = (self.root / f"{name}.log").read_text(errors="replace")
        if self.procs[name].poll() is not None:
            raise RuntimeError(f"{name} exited ({self.procs[name].returncode}): {text[-3000:]}")
        return text

    def stop(self) -> None:
        """Stop every process, then the broker."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.broker.stop()
        for log in self.logs:
            log.close()


def wait_for(what: str, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll until ``predicate()``; TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)


def write_post(root: Path) -> tuple[Post, Ed25519PrivateKey]:
    """The broker's, the door's and the booth's files; the key the booth's list is signed
    with (pinned in the booth's config as the desk's)."""
    key = Ed25519PrivateKey.generate()
    passwords = {DOOR.name: "bench-door-pass", BOOTH.name: "bench-booth-pass"}
    broker = LocalBroker.create(root / "broker", SITE, passwords)
    site = GateSite(SITE, broker.port, public_key_text(key), root / "gates")
    gate = RunningGate.write(DOOR, site, free_udp_port(0), passwords[DOOR.name])
    # A short pulse: each sample waits for the strike to drop before the next open.
    doc = tomllib.loads(gate.config_path.read_text())
    doc["door"]["pulse"] = PULSE
    gate.config_path.write_text(tomli_w.dumps(doc))
    booth = RunningBooth.write(BOOTH, site, root / "booths", gates={DOOR.name: gate},
                               port=free_tcp_port(), broker_password=passwords[BOOTH.name])
    guards = (BoothGuard(GUARD, GUARD_NAME, PasswordHasher().hash(PASSWORD)),)
    tariff = ParkingTariff(15, 500, 200, "22:00", "07:00", 4000)
    listed = BoothList(SITE, BOOTH.name, 1, time.time(), "Asia/Shanghai", 60000, tariff,
                       guards, (), (), ())
    store_if_newer(booth.data_dir / FILE_NAME, key.public_key(), sign(key, listed.dump()),
                   SITE, BOOTH.name)
    return Post(root, broker, gate, booth, {}, []), key


def start_with_broker_down(post: Post) -> None:
    """Start the broker, the door, the booth and both agents; once the agents are connected,
    stop the broker."""
    post.broker.start()
    post.spawn("door", ["edge.cli", "run", "--config", str(post.gate.config_path)])
    post.spawn("door-sync", ["sync.cli", "run", "--config", str(post.gate.config_path)])
    post.spawn("booth", ["booth.cli", "run", "--config", str(post.booth.config_path)])
    post.spawn("booth-sync", ["sync.cli", "run", "--config", str(post.booth.config_path)])
    wait_until_answering(post.gate.data_dir / "control.sock", 30, post.procs["door"])
    linked = f"connected to 127.0.0.1:{post.broker.port}"
    for agent in ("door-sync", "booth-sync"):
        wait_for(f"{agent} connected to the broker", logged(post, agent, linked))
    wait_for("the booth page answering", lambda: alive(post, "booth") and post.booth.answers())
    post.broker.stop()
    lost = f"disconnected from 127.0.0.1:{post.broker.port}"
    for agent in ("door-sync", "booth-sync"):
        wait_for(f"{agent} seeing the broker gone", logged(post, agent, lost))


def logged(post: Post, name: str, line: str) -> Callable[[], bool]:
    """Whether ``name`` has logged ``line`` yet."""
    return lambda: line in post.log(name)


def alive(post: Post, name: str) -> bool:
    """True while ``name`` runs; RuntimeError with its log's tail once it has exited."""
    post.log(name)
    return True


def check_records(post: Post, samples: int) -> None:
    """Every open was journalled by the gate with the reason, and recorded once by the booth
    for its own: a benchmark of opens that were not recorded would measure nothing."""
    with closing(sqlite3.connect(post.gate.events_db, timeout=5)) as conn:
        opens = [json.loads(d) for (d,) in conn.execute(
            "SELECT data FROM events WHERE kind = 'manual_open'")]
    if len(opens) != 2 * samples or any((o["guard"], o["reason"]) != (GUARD, REASON_ZH)
                                        for o in opens):
        raise RuntimeError(f"the gate journalled {len(opens)} manual opens by {GUARD} "
                           f"with the reason, not {2 * samples}: {opens[:2]}")
    with closing(sqlite3.connect(post.booth.events_db, timeout=5)) as conn:
        (recorded,) = conn.execute(
            "SELECT count(*) FROM events WHERE kind = 'gate_control'").fetchone()
    if recorded != samples:
        raise RuntimeError(f"the booth recorded {recorded} gate controls, not {samples}")


def form_csrf(page: httpx.Response) -> str:
    """The CSRF field of the form on ``page``."""
    found = CSRF.search(page.text)
    if found is None:
        raise RuntimeError(f"no CSRF field on {page.url} ({page.status_code})")
    return found.group(1)


def sign_in(client: httpx.Client) -> None:
    """Sign the guard in through the sign-in page, as the browser does."""
    page = client.get("/sign-in")
    done = client.post("/sign-in", data={"csrf": form_csrf(page), "next": "/",
                                         "username": GUARD, "password": PASSWORD})
    if done.status_code != 303 or "booth_guard" not in client.cookies:
        raise RuntimeError(f"sign-in refused ({done.status_code}): {done.text[:500]}")


class Strike:
    """The door's strike output, read from the gate's outputs log."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.seen = len(read_outputs_log(log))

    def next_on(self, timeout: float = 5.0) -> float:
        """The monotonic time of the strike's next going on (after the last one read), once
        it has also gone off again: the pulse is over and the next open drives the relay."""
        deadline = time.monotonic() + timeout
        on: float | None = None
        while time.monotonic() < deadline:
            entries = read_outputs_log(self.log)
            for i in range(self.seen, len(entries)):
                mono, _pid, pin, high = entries[i]
                if pin != STRIKE_PIN:
                    continue
                if high and on is None:
                    on = mono
                elif not high and on is not None:
                    self.seen = i + 1
                    return on
            time.sleep(0.02)
        raise RuntimeError("the strike did not go on and off again" if on is None else
                           "the strike stayed on")


def booth_open(client: httpx.Client, door: str) -> tuple[float, float]:
    """One manual open through the booth page: (request sent, response received)."""
    form = f"/post/gates/{door}/open"
    csrf = form_csrf(client.get(form))
    sent = time.monotonic()
    answer = client.post(form, data={"csrf": csrf, "reason": REASON_CODE, "note": ""})
    answered = time.monotonic()
    if answer.status_code != 303:
        raise RuntimeError(f"the booth refused the open ({answer.status_code}): "
                           f"{answer.text[:800]}")
    # The page the browser then shows: the booth's record of what the gate did.
    shown = client.get(answer.headers["location"])
    if 'data-outcome="done"' not in shown.text:
        raise RuntimeError(f"the booth says the door did not open: {shown.text[:800]}")
    return sent, answered


def direct_open(socket: Path) -> tuple[float, float]:
    """The same open straight to the gate's control socket (``menwei-edge open``)."""
    sent = time.monotonic()
    with ControlClient(socket, timeout=3) as client:
        result = client.call("open", guard=GUARD, reason=REASON_ZH)
    answered = time.monotonic()
    if not isinstance(result, dict) or result.get("opened") is not True:
        raise RuntimeError(f"the gate did not open: {result!r}")
    return sent, answered


def main() -> None:
    """Run the benchmark and print its figures; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=200,
                        help="manual opens of each kind (>= 100 for a meaningful p99)")
    parser.add_argument("--dir", type=Path, default=None, help="where the files go "
                        "(default: tmp; not a tmpfs, or fsync is free)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    booth_relay: list[float] = []
    booth_answer: list[float] = []
    direct_relay: list[float] = []
    direct_answer: list[float] = []
    with tempfile.TemporaryDirectory(prefix="menwei-booth-bench-", dir=args.dir) as tmp:
        root = Path(tmp).resolve()
        post, _key = write_post(root)
        try:
            start_with_broker_down(post)
            socket = post.gate.data_dir / "control.sock"
            strike = Strike(post.gate.outputs_log)
            with httpx.Client(base_url=post.booth.url.rstrip("/"), timeout=10) as client:
                sign_in(client)
                for i in range(args.samples):
                    # Alternate which goes first, so neither always follows the other.
                    for kind in (("booth", "direct") if i % 2 == 0 else ("direct", "booth")):
                        if kind == "booth":
                            sent, answered = booth_open(client, DOOR.name)
                            relay, answers = booth_relay, booth_answer
                        else:
                            sent, answered = direct_open(socket)
                            relay, answers = direct_relay, direct_answer
                        relay.append((strike.next_on() - sent) * 1000)
                        answers.append((answered - sent) * 1000)
            if post.broker.proc is not None:
                raise RuntimeError("the broker came back during the measurement")
            for name in post.procs:
                alive(post, name)
            check_records(post, args.samples)
            fs = filesystem_of(root)
        finally:
            post.stop()
    load_after = os.getloadavg()
    p50, p99 = percentile(booth_relay, 50), percentile(booth_relay, 99)
    b50, b99 = percentile(direct_relay, 50), percentile(direct_relay, 99)
    r50, r99 = percentile(booth_answer, 50), percentile(booth_answer, 99)
    d50, d99 = percentile(direct_answer, 50), percentile(direct_answer, 99)
    print(f"manual opens: {args.samples} through the booth page, {args.samples} straight to "
          f"the gate, interleaved; broker stopped (agents connected, then lost it); "
          f"files on {fs}")
    print(figures("booth page POST -> relay:", booth_relay))
    print(figures("control socket open -> relay:", direct_relay))
    print(f"ratio booth/direct: p50 {p50 / b50:.2f}  p99 {p99 / b99:.2f}; "
          f"p99 goal <= {GOAL_P99_MS:.0f} ms: {'met' if p99 <= GOAL_P99_MS else 'NOT met'}")
    print(figures("booth page POST -> 303 answer:", booth_answer))
    print(figures("control socket open -> answer:", direct_answer))
    print("the booth's answer includes its own fsync'd gate_control record, written after "
          "the gate answered")
    print(f"load average: {load_before[0]:.2f} before, {load_after[0]:.2f} after "
          f"({os.cpu_count()} cores)")
    if args.samples < 100:
        print("fewer than 100 samples: the p99 is not meaningful (a smoke run)")
    print(json.dumps({
        "p50_ms": round(p50, 2), "p99_ms": round(p99, 2), "max_ms": round(max(booth_relay), 2),
        "samples": len(booth_relay), "broker_down": True, "broker": "stopped",
        "baseline_p50_ms": round(b50, 2), "baseline_p99_ms": round(b99, 2),
        "ratio_p50": round(p50 / b50, 2), "ratio_p99": round(p99 / b99, 2),
        "answer_p50_ms": round(r50, 2), "answer_p99_ms": round(r99, 2),
        "baseline_answer_p50_ms": round(d50, 2), "baseline_answer_p99_ms": round(d99, 2),
        "goal_p99_ms": GOAL_P99_MS, "files_on": fs,
        "load_1m_before": round(load_before[0], 2), "load_1m_after": round(load_after[0], 2),
    }))


if __name__ == "__main__":
    main()
