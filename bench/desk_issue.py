"""Issuing resident cards through the desk's API: one clerk back to back, then many at once.

    python -m bench.desk_issue --households 5000 --cards 20000 --issues 1000 --clerks 20

The site of bench.desk_load (``--households`` households holding ``--cards`` cards, built
once per size through the desk's own services into var/bench-cache/) is copied where the
desk keeps its data (bench.common.data_folder: its filesystem printed), a real
``menwei-desk serve`` runs on 127.0.0.1 over it, and clerks, each logged in through
``POST /api/v1/login`` with an account of their own, issue ``--issues`` cards each phase
through ``POST /api/v1/cards/resident``: a whole resident issue, one card to a new family
member of an owner's household (H1: the owner confirms by phone; I5: the owner applies in
person, states the relationship, the holder signs), the household quota checked (I4: the
households are of direct relatives, so none refuses), the card fee taken with its receipt
(I2), the register written (I1). Every answer must be 201 with one card and a receipt;
anything else is an error, printed (there must be none).

(a) One clerk, back to back: cards per second and p50/p99 per issue.
(b) ``--clerks`` clerks, each issuing about once a second (think time 0.5-1.5 s, started
    at random within their first): p50/p99 per issue (goal p99 <= 200 ms on SQLite).

The physical limit of the same work, measured side by side: interleaved with every issue
(alternating which goes first), by the same clerk on its own connection, the same JSON POST
to a bare server in its own process (bench.json_commit_server) that parses it, commits it
as one row with the desk's durability (WAL, synchronous=FULL, in the same folder as the
desk's database) and answers a JSON of the same size. The ratios say what the desk adds.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.common import REPOSITORY, cpu_seconds, data_folder, figures, percentile
from bench.desk_load import API, CLERK_PASSWORD, Work, prepare, site_database, start_desk

GOAL_P99_MS = 200.0


def issue_body(w: Work) -> dict[str, Any]:
    """The API's resident card issue as a clerk sends it: one card for a new family member,
    confirmed by the owner's phone call (H1), applied for by the owner in person, the
    relationship stated and signed for by the holder (I5), the fee paid in cash (I2)."""
    return {"household_id": w.owner_household_id, "applicant_person_id": w.owner_id,
            "applicant_in_person": True, "payment_method": "cash",
            "owner_confirmation": {"owner_person_id": w.owner_id, "method": "phone",
                                   "confirmed_at": datetime.now(UTC).isoformat()},
            "lines": [{"uid": w.uid, "relationship": "child",
                       "new_holder": {"name": w.holder},
                       "holder_signoff": {"signer_name": w.holder, "reference": "bench"}}]}


@dataclass
class Samples:
    """Each side's latencies (ms) and the desk's errors, from any number of clerks."""

    desk: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class ApiClerk:
    """A clerk on the API: an own account and token, an own connection to the desk and one
    to the bare server."""

    def __init__(self, desk: str, baseline: str, username: str, seed: int) -> None:
        self.desk = httpx.Client(base_url=f"{desk}{API}", timeout=30)
        self.baseline = httpx.Client(base_url=baseline, timeout=30)
        answer = self.desk.post("/login", json={"username": username,
                                                "password": CLERK_PASSWORD})
        if answer.status_code != 200:
            raise RuntimeError(f"{username} could not log in: {answer.status_code} "
                               f"{answer.text[:300]}")
        self.desk.headers["Authorization"] = f"Bearer {answer.json()['token']}"
        self.rng = random.Random(seed)

    def _issue(self, w: Work) -> tuple[float, str | None]:
        started = time.perf_counter()
        error = None
        try:
            answer = self.desk.post("/cards/resident", json=issue_body(w))
            elapsed = (time.perf_counter() - started) * 1000
            if answer.status_code != 201:
                error = f"{answer.status_code} {answer.text[:300]}"
            else:
                issued = answer.json()
                if len(issued["cards"]) != 1 or issued["receipt_number"] is None:
                    error = f"no card or no receipt: {answer.text[:300]}"
        except httpx.HTTPError as exc:
            elapsed = (time.perf_counter() - started) * 1000
            error = repr(exc)
        return elapsed, error

    def _bare(self, w: Work) -> float:
        started = time.perf_counter()
        self.baseline.post("/", json=issue_body(w)).raise_for_status()
        return (time.perf_counter() - started) * 1000

    def issue_both(self, w: Work, samples: Samples) -> None:
        """One issue at the desk and the same POST to the bare server, in a random order."""
        desk_first = self.rng.random() < 0.5
        bare = self._bare(w) if not desk_first else 0.0
        desk_ms, error = self._issue(w)
        if desk_first:
            bare = self._bare(w)
        with samples.lock:
            samples.desk.append(desk_ms)
            samples.baseline.append(bare)
            if error is not None:
                samples.errors.append(f"{w.uid}: {error}")

    def work(self, pile: list[Work], samples: Samples, *, think: bool) -> None:
        """Issue every card of ``pile``, thinking between issues or not."""
        if think:
            # Clerks do not click in unison: each starts somewhere in their first think
            # time, as at a desk already at work.
            time.sleep(self.rng.uniform(0, 1.5))
        for w in pile:
            self.issue_both(w, samples)
            if think:
                time.sleep(self.rng.uniform(0.5, 1.5))

    def close(self) -> None:
        """Close both connections."""
        self.desk.close()
        self.baseline.close()


def run_clerks(clerks: list[ApiClerk], piles: list[list[Work]]) -> Samples:
    """Every clerk working through their pile on a thread of their own, thinking."""
    samples = Samples()
    threads = [threading.Thread(target=c.work, args=(p, samples), kwargs={"think": True},
                                daemon=True) for c, p in zip(clerks, piles, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return samples


def start_baseline(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The bare JSON-commit server on a free port, its database in ``folder``."""
    # bench is not installed: run from the repository, as the benchmark itself is.
    proc = subprocess.Popen([sys.executable, "-m", "bench.json_commit_server", str(folder)],
                            stdout=subprocess.PIPE, cwd=REPOSITORY)
    assert proc.stdout is not None
    port = int(proc.stdout.readline() or b"0")
    if not port:
        raise RuntimeError(f"the bare server did not start: {proc.wait(10)}")
    return proc, f"http://127.0.0.1:{port}"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _report(title: str, s: Samples) -> dict[str, float]:
    """Print one phase's figures; return its p50/p99 and ratios."""
    print(title)
    print("  " + figures("desk: POST /cards/resident", s.desk, width=42, digits=1))
    print("  " + figures("baseline: POST + fsync'd commit", s.baseline, width=42, digits=1))
    out = {"p50_ms": percentile(s.desk, 50), "p99_ms": percentile(s.desk, 99),
           "max_ms": max(s.desk), "baseline_p50_ms": percentile(s.baseline, 50),
           "baseline_p99_ms": percentile(s.baseline, 99)}
    out["ratio_p50"] = out["p50_ms"] / out["baseline_p50_ms"]
    out["ratio_p99"] = out["p99_ms"] / out["baseline_p99_ms"]
    print(f"  ratio desk / baseline: p50 {out['ratio_p50']:.1f}x  p99 {out['ratio_p99']:.1f}x"
          f"   errors: {len(s.errors)} (must be 0)")
    for e in s.errors[:10]:
        print(f"    {e}")
    return out


def main() -> None:
    """Run the benchmark and print its figures; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=5000)
    parser.add_argument("--cards", type=int, default=20000, help="cards the site holds")
    parser.add_argument("--issues", type=int, default=1000,
                        help="cards issued in each phase (at least 100 for a p99)")
    parser.add_argument("--clerks", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where the desk's database goes (default: "
                             "bench.common.default_data_dir())")
    args = parser.parse_args()

    print(f"site: {args.households} households, {args.cards} cards", flush=True)
    cached, built_s = site_database(args.households, args.cards, args.seed)
    print(f"  built in {built_s:.1f} s" if built_s is not None else f"  cached: {cached}",
          flush=True)
    with data_folder(args.data_dir, "desk-issue-") as (folder, fs):
        db = folder / "desk.db"
        shutil.copyfile(cached, db)
        work = prepare(db, args.clerks, args.seed)
        bare_proc, bare = start_baseline(folder)
        try:
            desk_proc, base = start_desk(db, folder / "desk.log")
            try:
                # One at a time: the desk lets 4 logins wait for the password check.
                clerks = [ApiClerk(base, bare, f"bench.clerk{i + 1}", args.seed + i)
                          for i in range(args.clerks)]
                # A first issue each, unmeasured: connections open, code paths warm.
                warm = Samples()
                for c in clerks:
                    c.issue_both(work.pop(), warm)
                one = Samples()
                started = time.perf_counter()
                cpu = cpu_seconds(desk_proc.pid), cpu_seconds(bare_proc.pid)
                for _ in range(args.issues):
                    clerks[0].issue_both(work.pop(), one)
                one_s = time.perf_counter() - started
                # Each server's own CPU per request: what it costs, whatever else the
                # machine is doing (the latencies above also hold the waits for a core).
                desk_cpu_ms = (cpu_seconds(desk_proc.pid) - cpu[0]) * 1000 / args.issues
                bare_cpu_ms = (cpu_seconds(bare_proc.pid) - cpu[1]) * 1000 / args.issues
                per_clerk = -(-args.issues // args.clerks)
                piles = [[work.pop() for _ in range(min(per_clerk, args.issues - i * per_clerk))]
                         for i in range(args.clerks)]
                many = run_clerks(clerks, piles)
                for c in clerks:
                    c.close()
            finally:
                _stop(desk_proc)
        finally:
            _stop(bare_proc)

    print(f"desk database on {fs}; {args.issues} issues per phase")
    if args.issues < 100:
        print("  (fewer than 100 issues: each p99 below is the slowest issue; a smoke run)")
    a = _report("(a) one clerk, back to back (each issue interleaved with its baseline):", one)
    cards_per_s = len(one.desk) / (sum(one.desk) / 1000)
    bare_per_s = len(one.baseline) / (sum(one.baseline) / 1000)
    print(f"  {cards_per_s:.1f} cards/s (baseline {bare_per_s:.1f} writes/s; "
          f"{one_s:.1f} s both sides together)")
    print(f"  server CPU per request: desk {desk_cpu_ms:.1f} ms, bare server "
          f"{bare_cpu_ms:.2f} ms")
    b = _report(f"(b) {args.clerks} clerks, about one issue a second each:", many)
    verdict = "ok" if b["p99_ms"] <= GOAL_P99_MS else "OVER GOAL"
    print(f"  p99 {b['p99_ms']:.1f} ms (goal <= {GOAL_P99_MS:g} ms: {verdict})")
    errors = warm.errors + one.errors + many.errors
    print(f"errors: {len(errors)} (must be 0)")
    result = {
        "p99_ms_20_clerks": round(b["p99_ms"], 2), "p50_ms_20_clerks": round(b["p50_ms"], 2),
        "max_ms_20_clerks": round(b["max_ms"], 2),
        "baseline_p50_ms": round(b["baseline_p50_ms"], 2),
        "baseline_p99_ms": round(b["baseline_p99_ms"], 2),
        "ratio_p50_20_clerks": round(b["ratio_p50"], 2),
        "ratio_p99_20_clerks": round(b["ratio_p99"], 2),
        "cards_per_s_one_clerk": round(cards_per_s, 1),
        "baseline_writes_per_s_one_clerk": round(bare_per_s, 1),
        "ratio_per_s_one_clerk": round(bare_per_s / cards_per_s, 2),
        "p50_ms_one_clerk": round(a["p50_ms"], 2), "p99_ms_one_clerk": round(a["p99_ms"], 2),
        "baseline_p50_ms_one_clerk": round(a["baseline_p50_ms"], 2),
        "baseline_p99_ms_one_clerk": round(a["baseline_p99_ms"], 2),
        "ratio_p99_one_clerk": round(a["ratio_p99"], 2),
        "desk_cpu_ms_per_issue": round(desk_cpu_ms, 2),
        "baseline_cpu_ms_per_write": round(bare_cpu_ms, 2),
        "clerks": args.clerks, "issues": args.issues, "errors": len(errors),
        "filesystem": fs, "households": args.households, "cards": args.cards,
    }
    print(json.dumps(result))
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
