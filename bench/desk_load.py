"""A busy front desk: clerks searching, opening households and issuing cards at once.

    python -m bench.desk_load --households 5000 --cards 20000 --clerks 20 --seconds 60

A site of ``--households`` households holding ``--cards`` cards is made by
``menwei-desk populate-demo``'s code (through the desk's own services; built once per size
and code version into var/bench-cache/, then copied), a real ``menwei-desk serve`` runs on
127.0.0.1, and ``--clerks`` clerks, each logged in with an account of their own, act about
once a second (think time 0.5-1.5 s) for ``--seconds``: search for a person, open a
household, issue a card to a new family member (rule H1: the owner confirmed by phone).
Then the same clerks act with no think time for ``--burst-seconds``: the most actions per
second the desk sustains. The client's own cost is measured first against a trivial HTTP
server on the same machine.

Prints p50 and p99 per operation beside the goals, the errors (must be 0) and the most
actions per second; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher
from sqlalchemy import select

from bench.common import percentile
from central.db import make_engine, upgrade
from central.demo_population import PopulationSize, populate
from central.models import DIRECT_RELATIVES, Household, HouseholdKind, Person, Relationship, Role
from central.services.context import Desk
from central.services.sites import load_site
from central.services.staff import NewStaff, create_staff
from central.site_file import read_site_file
from hardware_sim.local_ports import free_tcp_port

ROOT = Path(__file__).resolve().parents[1]
API = "/api/v1"


@dataclass(frozen=True)
class Work:
    """What one action is about: a person to look up, a household to open, an owner to
    issue a new family member's card for."""

    name: str
    household_id: int
    # The issue: an owner, their household, the new card and its holder.
    owner_id: int
    owner_household_id: int
    uid: str
    holder: str


def _issue_form(w: Work) -> dict[str, Any]:
    """The issue page's form as a clerk fills it: a resident card for a new family member,
    confirmed by the owner's phone call (H1), applied for by the owner in person, signed
    for by the holder (I5)."""
    return {"household": w.owner_household_id, "applicant_person_id": w.owner_id,
            "applicant_in_person": "true", "payment_method": "cash",
            "owner_confirmation.owner_person_id": w.owner_id,
            "owner_confirmation.method": "phone",
            "owner_confirmation.confirmed_at": datetime.now(UTC).isoformat(),
            "lines[0].uid": w.uid, "lines[0].relationship": "child",
            "lines[0].new_holder.name": w.holder,
            "lines[0].holder_signoff.signer_name": w.holder,
            "lines[0].holder_signoff.reference": "bench", "step": "issue"}


@dataclass(frozen=True)
class Operation:
    """One thing a clerk does in the desk pages: its name, the HTTP method, the URL
    (``str.format`` over a Work's fields), the posted form (None: none), how often among
    the others, the goal."""

    name: str
    method: str
    url: str
    body: Callable[[Work], dict[str, Any]] | None
    weight: float
    goal_p99_ms: float


# The clerks' work, through the pages a clerk uses (central/pages/): the search box's hits
# as typed, a household's page, the resident card issue form posted.
OPERATIONS = (
    Operation("search", "GET", "/search/hits?q={name}", None, 0.45, 50),
    Operation("page", "GET", "/households/{household_id}", None, 0.40, 150),
    Operation("issue", "POST", "/cards/issue/resident", _issue_form, 0.15, 200),
)
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CLERK_PASSWORD = "bench-clerk-password"
WORK_ITEMS = 200_000
_GIVEN = "子涵浩宇欣怡梓轩一诺雨桐思远佳琪"


# ---------------------------------------------------------------------------- the site


def _code_version() -> str:
    """What the built site depends on: the populator, the example site, the migrations."""
    digest = hashlib.sha256()
    sources = [ROOT / "central" / "demo_population.py", ROOT / "central" / "demo_people.py",
               ROOT / "central" / "examples" / "site.toml",
               *sorted((ROOT / "central" / "migrations" / "versions").glob("*.py"))]
    for path in sources:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def site_database(households: int, cards: int, seed: int) -> tuple[Path, float | None]:
    """The built site's database file (from the cache when there), and how long building
    it took (None: it was cached). Built through the desk's services, which take minutes
    for the full size, so it is built once per size and code version."""
    cache = ROOT / "var" / "bench-cache"
    path = cache / f"desk-{households}h-{cards}c-s{seed}-{_code_version()}.db"
    if path.exists():
        return path, None
    cache.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building")
    building.unlink(missing_ok=True)
    started = time.perf_counter()
    url = f"sqlite:///{building}"
    engine = make_engine(url)
    upgrade(engine)
    desk = Desk(engine)
    load_site(desk, read_site_file(ROOT / "central" / "examples" / "site.toml"))
    desk.close()
    populate(url, PopulationSize(households, cards, event_days=0, seed=seed),
             progress=lambda text: print(f"  {text}", flush=True))
    # One file: the WAL folded in, so a copy is the whole database.
    engine = make_engine(url)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    building.rename(path)
    return path, time.perf_counter() - started


def prepare(db: Path, clerks: int, seed: int) -> list[Work]:
    """Clerk accounts ``bench.clerk1``.. in ``db``, and work for them: people on record to
    search for, households to open, owners of households of direct relatives only (rule
    I4 sets them no quota) to issue for."""
    # Real argon2id, cheap parameters: logging 20 clerks in is not what is measured.
    desk = Desk(make_engine(f"sqlite:///{db}"),
                hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    try:
        with desk.sessions() as s:
            people = s.execute(select(Person.name, Person.household_id, Person.holder_kind,
                                      Person.relation_to_householder, Person.id)
                               .where(Person.household_id.is_not(None))).all()
            kinds = dict(s.execute(select(Household.id, Household.kind)).all())
        for i in range(1, clerks + 1):
            create_staff(desk, NewStaff.from_form({
                "username": f"bench.clerk{i}", "role": Role.CLERK.value,
                "password": CLERK_PASSWORD, "site": "sunrise-garden"}))
    finally:
        desk.close()
    direct: dict[int, bool] = {}
    owner: dict[int, int] = {}
    for _name, hid, _kind, relation, pid in people:
        assert hid is not None  # selected so
        direct[hid] = direct.get(hid, True) and relation in DIRECT_RELATIVES
        if relation is Relationship.SELF:
            owner[hid] = pid
    targets = [hid for hid, ok in direct.items()
               if ok and hid in owner and kinds[hid] is HouseholdKind.OWNERSHIP]
    rng = random.Random(seed)
    work = []
    for n in range(WORK_ITEMS):
        name, hid, *_rest = rng.choice(people)
        target = rng.choice(targets)
        given = _GIVEN[n % len(_GIVEN)] + _GIVEN[n // len(_GIVEN) % len(_GIVEN)]
        # A UID no populated card has (their 4-byte ones are random, 7-byte ones 04...).
        work.append(Work(name, hid or 0, owner[target], target,
                         f"0B{seed % 256:02X}{n:010X}", name[0] + given))
    return work


# ---------------------------------------------------------------------------- the server


def start_desk(db: Path | str, log: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    """``menwei-desk serve`` (with ``extra`` arguments) on a free port of 127.0.0.1 for the
    SQLite file ``db`` (or the database URL ``db``); the process and its base URL. A port
    found free may be taken before the desk binds it (bench/company's thousands of gate
    connections take ephemeral ports): then on another port, up to three times."""
    for attempt in range(3):
        started = _start_desk_once(db, log, *extra)
        if started is not None:
            return started
        print(f"the desk's port was taken before it bound it (try {attempt + 1}); again")
    raise RuntimeError(f"the desk exited: {log.read_text(errors='replace')[-2000:]}")


def _start_desk_once(db: Path | str, log: Path,
                     *extra: str) -> tuple[subprocess.Popen[bytes], str] | None:
    """As ``start_desk``, once; None when the port was taken."""
    port = free_tcp_port()
    out = log.open("wb")
    url = db if isinstance(db, str) else f"sqlite:///{db}"
    proc = subprocess.Popen([sys.executable, "-m", "central.cli", "serve", "--db",
                             url, "--host", "127.0.0.1", "--port", str(port),
                             *extra],
                            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            said = log.read_text(errors="replace")
            if "address already in use" in said:
                return None
            raise RuntimeError(f"the desk exited: {said[-2000:]}")
        try:
            if httpx.get(f"{base}{API}/openapi.json", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the desk did not answer within 60 s")
        time.sleep(0.1)


# ---------------------------------------------------------------------------- the clerks


@dataclass
class Tally:
    """Every action's operation, latency (ms) and outcome."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, op: str, ms: float, error: str | None) -> None:
        """Count one action."""
        with self.lock:
            self.samples.setdefault(op, []).append(ms)
            if error is not None:
                self.errors.append(f"{op}: {error}")

    def count(self) -> int:
        """Actions so far."""
        return sum(len(v) for v in self.samples.values())


_REFUSAL = re.compile(r'class="(?:refusal|field-error)"[^>]*>(.*?)</(?:p|div)>', re.S)


def _refusal_of(html: str) -> str:
    """What a refused page says (its refusal and field problems), for the error list."""
    said = [re.sub(r"<[^>]+>|\s+", " ", m).strip() for m in _REFUSAL.findall(html)]
    return "; ".join(said)[:300] or html[:300]


def _csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(html)
    if found is None:
        raise RuntimeError("no form token on the page")
    return found.group(1)


class Clerk:
    """One clerk at the desk: an own login and connection, and a pile of work."""

    def __init__(self, base: str, username: str, work: list[Work], seed: int) -> None:
        self.client = httpx.Client(base_url=base, timeout=30)
        # Logged in through the login page, as at the counter: the session cookie, and the
        # CSRF token every form of this session carries.
        login_page = self.client.get("/login")
        login_page.raise_for_status()
        logged_in = self.client.post("/login", data={
            "username": username, "password": CLERK_PASSWORD, "next": "/",
            "csrf": _csrf_of(login_page.text)})
        if logged_in.status_code != 303:
            raise RuntimeError(f"{username} could not log in: {logged_in.status_code}")
        self.csrf = _csrf_of(self.client.get("/").text)
        self.work, self.rng = work, random.Random(seed)

    def act(self, op: Operation, w: Work, tally: Tally) -> None:
        """One action, timed from request to the whole response read."""
        started = time.perf_counter()
        error = None
        try:
            form = {**op.body(w), "csrf": self.csrf} if op.body else None
            response = self.client.request(op.method, op.url.format(**w.__dict__),
                                           data=form)
            # A form that did its work answers 303; one refused comes back as a page.
            if response.is_error or (form is not None and response.status_code != 303):
                error = f"{response.status_code} {_refusal_of(response.text)}"
        except httpx.HTTPError as exc:
            error = repr(exc)
        tally.add(op.name, (time.perf_counter() - started) * 1000, error)

    def work_until(self, stop_at: float, tally: Tally, *, think: bool) -> None:
        """Act (and think) until the monotonic clock reaches ``stop_at``."""
        weights = [op.weight for op in OPERATIONS]
        if think:
            # Clerks do not click in unison: each starts somewhere in their first think
            # time, as at a desk already at work (all twenty at once would time a burst
            # of the bench's making, twenty requests queued behind each other).
            time.sleep(self.rng.uniform(0, 1.5))
        while time.monotonic() < stop_at:
            self.act(self.rng.choices(OPERATIONS, weights)[0], self.work.pop(), tally)
            if think:
                time.sleep(self.rng.uniform(0.5, 1.5))


def run_phase(clerks: list[Clerk], seconds: float, *, think: bool) -> Tally:
    """Every clerk working for ``seconds``, each on a thread, thinking between actions
    or not."""
    tally = Tally()
    stop_at = time.monotonic() + seconds
    threads = [threading.Thread(target=c.work_until, args=(stop_at, tally),
                                kwargs={"think": think}, daemon=True) for c in clerks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return tally


# ---------------------------------------------------------------------------- the client


class _Trivial(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, delayed ACKs add 40 ms.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_args: object) -> None:
        pass


def client_overhead(requests: int = 300) -> tuple[float, float, float]:
    """The client's own cost: p50 and p99 (ms) of a GET to a trivial server on 127.0.0.1,
    and the client process's CPU ms per request."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trivial)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.server_port}") as client:
            client.get("/")
            times = []
            cpu = time.process_time()
            for _ in range(requests):
                started = time.perf_counter()
                client.get("/").raise_for_status()
                times.append((time.perf_counter() - started) * 1000)
            cpu_ms = (time.process_time() - cpu) * 1000 / requests
    finally:
        server.shutdown()
        server.server_close()
    # The server above is in this process too: its share is counted in, an upper bound.
    return percentile(times, 50), percentile(times, 99), cpu_ms


# ---------------------------------------------------------------------------- main


def main() -> None:
    """Run the benchmark and print its figures; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=5000)
    parser.add_argument("--cards", type=int, default=20000)
    parser.add_argument("--clerks", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60,
                        help="clerks working at about one action a second each")
    parser.add_argument("--burst-seconds", type=float, default=10,
                        help="the same clerks with no think time")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    print(f"site: {args.households} households, {args.cards} cards", flush=True)
    cached, built_s = site_database(args.households, args.cards, args.seed)
    print(f"  built in {built_s:.1f} s" if built_s is not None else f"  cached: {cached}",
          flush=True)
    c50, c99, c_cpu = client_overhead()
    print(f"client overhead (GET to a trivial server on 127.0.0.1): p50 {c50:.2f} ms, "
          f"p99 {c99:.2f} ms, {c_cpu:.2f} ms CPU per request", flush=True)
    with tempfile.TemporaryDirectory(prefix="desk-load-") as tmp:
        db = Path(tmp) / "desk.db"
        shutil.copyfile(cached, db)
        work = prepare(db, args.clerks, args.seed)
        proc, base = start_desk(db, Path(tmp) / "desk.log")
        try:
            per_clerk = len(work) // args.clerks
            clerks = [Clerk(base, f"bench.clerk{i + 1}",
                            work[i * per_clerk:(i + 1) * per_clerk], args.seed + i)
                      for i in range(args.clerks)]
            paced = run_phase(clerks, args.seconds, think=True)
            burst_started = time.perf_counter()
            burst = run_phase(clerks, args.burst_seconds, think=False)
            burst_s = time.perf_counter() - burst_started
        finally:
            proc.terminate()
            proc.wait(15)
    figures: dict[str, Any] = {"households": args.households, "cards": args.cards,
                               "clerks": args.clerks, "seconds": args.seconds}
    print(f"{args.clerks} clerks, about one action a second each, {args.seconds:g} s:")
    for op in OPERATIONS:
        times = paced.samples.get(op.name, [])
        p50 = percentile(times, 50) if times else float("nan")
        p99 = percentile(times, 99) if times else float("nan")
        verdict = "ok" if p99 <= op.goal_p99_ms else "OVER GOAL"
        print(f"  {op.name:<7} {op.method} {op.url:<34} n={len(times):<5} p50 {p50:7.1f} ms"
              f"  p99 {p99:7.1f} ms  (goal p99 <= {op.goal_p99_ms:g} ms: {verdict})")
        figures |= {f"{op.name}_p50_ms": round(p50, 2), f"{op.name}_p99_ms": round(p99, 2),
                    f"{op.name}_samples": len(times)}
    errors = paced.errors + burst.errors
    rate = burst.count() / burst_s
    print(f"  errors: {len(errors)} (must be 0)")
    for e in errors[:10]:
        print(f"    {e}")
    print(f"no think time, {args.clerks} clerks, {args.burst_seconds:g} s: "
          f"{rate:.0f} actions/s sustained")
    figures |= {"errors": len(errors), "max_actions_per_s": round(rate, 1),
                "client_p50_ms": round(c50, 3), "client_p99_ms": round(c99, 3),
                "client_cpu_ms_per_request": round(c_cpu, 3),
                "site_build_s": None if built_s is None else round(built_s, 1)}
    print(json.dumps(figures))
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
