"""The whole simulated compound as real processes on 127.0.0.1: a site broker (Mosquitto),
the desk service (``menwei-desk serve --sync-config``) and, per gate, a ``menwei-edge`` and a
``menwei-sync`` with simulated hardware. Used by ``menwei-sim compound`` and the end-to-end
tests, so what the README shows is what the tests check.

Everything lives under one directory: the broker's files, the desk database, the signing
key, each gate's config and data, and one log per process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
import tomli_w
from argon2 import PasswordHasher
from sqlalchemy import select

from central.clock import SystemClock
from central.db import make_engine, upgrade
from central.models import Person, Role
from central.services.context import Actor, Desk
from central.services.parking import ApplyParking, TopUpParking, apply_parking, top_up_parking
from central.services.parking_approval import (
    ApproveParking,
    RecordOwnerUnitApproval,
    approve_parking,
    record_owner_unit_approval,
)
from central.services.sites import load_site
from central.services.staff import NewStaff, create_staff
from central.site_file import read_site_file
from edge.control_socket import wait_until_answering
from hardware_sim.observed_pins import read_outputs_log
from hardware_sim.site_broker import LocalBroker, free_tcp_port
from sync.wire.signing import generate_key
from sync.wire.topics import CENTRAL_USER

EXAMPLE_SITE = Path(__file__).resolve().parents[1] / "central" / "examples" / "site.toml"
API = "/api/v1"
STRIKE_PIN = "GPIO17"


@dataclass(frozen=True)
class GateSpec:
    """One gate controller: its device id is the desk's gate code, so the desk's gate list,
    the broker user and the events the API shows all use one name."""

    name: str
    role: str
    access_groups: tuple[str, ...]


# The example site's two lobby-type doors and its car-park lane pair (central/examples/
# site.toml): the groups are the ones the desk grants for them.
GATES = (
    GateSpec("main-gate", "door", ("common",)),
    GateSpec("b1-lobby", "door", ("b1",)),
    GateSpec("carpark-in", "barrier_entry", ("carpark",)),
    GateSpec("carpark-out", "barrier_exit", ("carpark",)),
)

# Demo staff: user name, role. Passwords are written next to the database and printed; a
# simulated compound on a developer's machine, not a deployment.
STAFF = (("clerk", Role.CLERK), ("lead", Role.FRONT_DESK_LEAD),
         ("director", Role.DIRECTOR), ("guard", Role.GUARD))


@dataclass
class RunningGate:
    """One gate of the running compound."""

    spec: GateSpec
    config_path: Path
    data_dir: Path
    reader_port: int

    @property
    def reader(self) -> str:
        """The reader path for ``menwei-sim tap --reader``."""
        return f"udp:127.0.0.1:{self.reader_port}"

    @property
    def auth_db(self) -> Path:
        """The gate's whitelist, written by its sync agent."""
        return self.data_dir / "auth.db"

    @property
    def events_db(self) -> Path:
        """The gate's journal."""
        return self.data_dir / "events.db"

    @property
    def outputs_log(self) -> Path:
        """Every simulated output transition (hardware_sim.observed_pins)."""
        return self.data_dir / "outputs.log"

    def card_status(self, uid: str) -> str | None:
        """The card's status in this gate's whitelist; None while it is not there."""
        status = _query_one(self.auth_db, "SELECT status FROM cards WHERE uid = ?", (uid,))
        return None if status is None else str(status)

    def journal(self) -> list[dict[str, Any]]:
        """Every journalled event: seq, kind, uid, granted, reason."""
        try:
            with _ro(self.events_db) as conn:
                rows = conn.execute("SELECT seq, kind, uid, granted, reason FROM events "
                                    "ORDER BY seq").fetchall()
        except sqlite3.OperationalError:
            return []
        return [{"seq": r[0], "kind": r[1], "uid": r[2], "granted": r[3], "reason": r[4]}
                for r in rows]

    def taps(self) -> list[tuple[str, str]]:
        """(uid, reason) of every tap, oldest first."""
        return [(e["uid"], e["reason"]) for e in self.journal() if e["kind"] == "tap"]

    def strike_pulses(self) -> int:
        """How often the door strike was energised."""
        return sum(1 for _m, _p, pin, high in read_outputs_log(self.outputs_log)
                   if pin == STRIKE_PIN and high)


class _ro:  # noqa: N801 - used like a function in ``with``
    """A short-lived read connection to a database another process writes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None

    def __enter__(self) -> sqlite3.Connection:
        if not self.path.exists():
            # Connecting would create an empty file the owner then finds in its way.
            raise sqlite3.OperationalError(f"{self.path} does not exist yet")
        self.conn = sqlite3.connect(self.path, timeout=5)
        return self.conn

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            self.conn.close()


def _query_one(path: Path, sql: str, params: Sequence[Any]) -> Any:
    try:
        with _ro(path) as conn:
            row = conn.execute(sql, params).fetchone()
    except sqlite3.OperationalError:
        return None  # not created yet, or the table not yet migrated
    return None if row is None else row[0]


def free_udp_port(preferred: int) -> int:
    """A UDP port free on 127.0.0.1: ``preferred`` if it is, else one the kernel picks."""
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free UDP port on 127.0.0.1")


def _tcp_port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for(what: str, predicate: Callable[[], bool], timeout: float,
             poll: float = 0.02) -> float:
    """Poll until ``predicate()``; the monotonic time it held. TimeoutError names ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(poll)


@dataclass
class Compound:
    """Builds and runs the compound under ``root``; ``start`` then ``stop``."""

    root: Path
    first_port: int = 0
    site_file: Path = EXAMPLE_SITE
    password: str = "menwei-demo"
    gates: dict[str, RunningGate] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    staff_ids: dict[str, int] = field(default_factory=dict)
    broker: LocalBroker | None = None
    desk_port_preferred: int = 0  # used when free (easy to type); else any free port
    desk_port: int = 0

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self.site = read_site_file(self.site_file).site.code
        self.db_url = f"sqlite:///{self.root / 'desk' / 'desk.db'}"
        self._logs: list[IO[bytes]] = []

    # ------------------------------------------------------------------ set-up

    @property
    def api(self) -> str:
        """The desk API's base URL."""
        return f"http://127.0.0.1:{self.desk_port}{API}"

    def actor(self, username: str) -> Actor:
        """A demo account as the in-process desk services take it."""
        return Actor(self.staff_ids[username], self.site)

    def open_desk(self) -> Desk:
        """The desk database, in this process (for what the API does not offer yet)."""
        return Desk.open(self.db_url)

    def prepare(self) -> None:
        """Write everything the processes need. A directory prepared before is prepared
        again from scratch: a demo starts from a known state."""
        for sub in ("broker", "desk", "gates"):
            shutil.rmtree(self.root / sub, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        passwords = {CENTRAL_USER: f"{self.password}-central"}
        passwords |= {g.name: f"{self.password}-{g.name}" for g in GATES}
        self.broker = LocalBroker.create(self.root / "broker", self.site, passwords)
        self._prepare_desk()
        public_key = generate_key(self.root / "desk" / "signing.key")
        (self.root / "desk" / "broker.password").write_text(passwords[CENTRAL_USER] + "\n")
        (self.root / "desk" / "desk-sync.toml").write_text(tomli_w.dumps({
            "broker_host": "127.0.0.1", "broker_port": self.broker.port,
            "username": CENTRAL_USER, "password_file": "broker.password",
            "signing_key": "signing.key", "data_dir": "sync", "sites": [self.site]}))
        for i, spec in enumerate(GATES):
            port = free_udp_port(self.first_port + i if self.first_port else 0)
            self.gates[spec.name] = self._write_gate(spec, port, passwords[spec.name],
                                                     public_key)

    def _prepare_desk(self) -> None:
        (self.root / "desk").mkdir(parents=True)
        engine = make_engine(self.db_url)
        upgrade(engine)
        # Cheap argon2 parameters for the demo accounts only; verification reads the
        # parameters from each hash, so the service checks them as any other.
        desk = Desk(engine, SystemClock(), PasswordHasher(time_cost=1, memory_cost=8192))
        try:
            load_site(desk, read_site_file(self.site_file))
            for username, role in STAFF:
                self.staff_ids[username] = create_staff(desk, NewStaff(
                    username, username, role, self.password, self.site))
        finally:
            desk.close()

    def _write_gate(self, spec: GateSpec, port: int, password: str,
                    public_key: str) -> RunningGate:
        gates_dir = self.root / "gates"
        data = gates_dir / spec.name
        data.mkdir(parents=True)
        (data / "broker.password").write_text(password + "\n")
        doc: dict[str, Any] = {
            "site": {"id": self.site, "timezone": "Asia/Shanghai"},
            "device": {"id": spec.name, "role": spec.role,
                       "access_groups": list(spec.access_groups), "data_dir": str(data)},
            "reader": {"kind": "nfc", "path": f"udp:127.0.0.1:{port}", "debounce": "2s"},
            "gpio": {"backend": "simulated"},
            "simulation": {"outputs_log": str(data / "outputs.log")},
            "sync": {"broker_port": self._broker().port,
                     "password_file": str(data / "broker.password"),
                     "central_public_key": public_key,
                     # Short: the demo and the tests stop and start the broker, and should
                     # not wait out a long backoff to see the gates catch up.
                     "reconnect_max": "2s", "status_interval": "5s"},
        }
        if spec.role == "door":
            doc["door"] = {"strike": {"pin": 17}, "pulse": "3s", "held_open_after": "30s",
                           "rex": {"pin": 27, "active_high": False, "pull_up": True},
                           "contact": {"pin": 22, "pull_up": True}}
        else:
            doc["barrier"] = {
                "raise_out": {"pin": 5}, "lower_out": {"pin": 6},
                "open_limit": {"pin": 13, "active_high": False, "pull_up": True},
                "closed_limit": {"pin": 19, "active_high": False, "pull_up": True},
                "arming_loop": {"pin": 20}, "safety_loop": {"pin": 21},
                "max_open": "45s",
            }
            # Entry and exit share one presence file: together they are one car park.
            doc["antipassback"] = {"mode": "hard", "reset_after": "12h",
                                   "presence_db": str(gates_dir / "carpark-presence.db")}
        path = gates_dir / f"{spec.name}.toml"
        path.write_text(tomli_w.dumps(doc))
        return RunningGate(spec, path, data, port)

    def _broker(self) -> LocalBroker:
        if self.broker is None:
            raise RuntimeError("prepare() first")
        return self.broker

    # ------------------------------------------------------------------ running

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        # A session of its own: Ctrl-C in the terminal reaches the compound only, which
        # then stops each child in order (gates before the broker they report to).
        proc = subprocess.Popen([sys.executable, "-m", *argv], stdout=log, stderr=log,
                                start_new_session=True, cwd=self.root)
        self.procs[name] = proc
        return proc

    def start(self, timeout: float = 60.0) -> None:
        """Start the broker, the desk service and every gate; return when all answer.

        The desk's gate link is subscribed before any gate starts, as on a real site where
        the central service runs long before a gate boots: the central store takes a
        device's first batch as where its journal starts, so a first batch published
        before anyone subscribed would be lost without a trace (see the report)."""
        self._broker().start()
        preferred = self.desk_port_preferred
        self.desk_port = preferred if preferred and _tcp_port_free(preferred) \
            else free_tcp_port()
        desk = self._spawn("desk", [
            "central.cli", "serve", "--db", self.db_url, "--host", "127.0.0.1",
            "--port", str(self.desk_port),
            "--sync-config", str(self.root / "desk" / "desk-sync.toml")])
        wait_for("the desk service answering", lambda: self._desk_answers(desk), timeout,
                 poll=0.1)
        linked = f"connected to 127.0.0.1:{self._broker().port}"
        wait_for("the desk's gate link subscribed",
                 lambda: linked in (self.root / "desk.log").read_text(errors="replace"),
                 timeout, poll=0.05)
        for gate in self.gates.values():
            self._spawn(f"{gate.spec.name}-edge",
                        ["edge.cli", "run", "--config", str(gate.config_path)])
            self._spawn(f"{gate.spec.name}-sync",
                        ["sync.cli", "run", "--config", str(gate.config_path)])
        for gate in self.gates.values():
            wait_until_answering(gate.data_dir / "control.sock", timeout,
                                 self.procs[f"{gate.spec.name}-edge"])
        self.check_alive()

    def _desk_answers(self, proc: subprocess.Popen[bytes]) -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the desk service exited ({proc.returncode}): "
                               + (self.root / "desk.log").read_text()[-3000:])
        try:
            return httpx.get(f"{self.api}/openapi.json", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def check_alive(self) -> None:
        """RuntimeError naming any process that has exited, with its log's tail."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = (self.root / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")

    def stop(self) -> None:
        """Stop every process: gates first, then the desk, then the broker."""
        order = [n for n in self.procs if n != "desk"] + (["desk"] if "desk" in self.procs
                                                          else [])
        for name in order:
            proc = self.procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name in order:
            proc = self.procs[name]
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                # Its whole session: nothing it started may outlive the compound.
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.procs.clear()
        if self.broker is not None:
            self.broker.stop()
        for log in self._logs:
            log.close()
        self._logs.clear()

    # ------------------------------------------------------------------ the desk's API

    def login(self, username: str) -> dict[str, str]:
        """Log in as a demo account; the Authorization header."""
        response = httpx.post(f"{self.api}/login", json={"username": username,
                                                         "password": self.password},
                              timeout=30)
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['token']}"}

    def person(self, name: str) -> tuple[int, int | None, str | None]:
        """A person on record: id, household id, ID number."""
        desk = self.open_desk()
        try:
            with desk.sessions() as s:
                p = s.scalars(select(Person).where(Person.name == name)).one()
                return p.id, p.household_id, p.id_number
        finally:
            desk.close()

    def issue_resident_card(self, headers: dict[str, str], holder: str, uid: str,
                            relationship: str = "self",
                            applicant: str | None = None) -> httpx.Response:
        """POST cards/resident for one card of a person on record (ID shown, signed)."""
        person_id, household_id, id_number = self.person(holder)
        applicant_id, _, _ = self.person(applicant or holder)
        signoff = {"signer_name": holder, "reference": "登记表 p.1"}
        form = {"household_id": household_id, "applicant_person_id": applicant_id,
                "applicant_in_person": True,
                "lines": [{"uid": uid, "relationship": relationship,
                           "holder_person_id": person_id, "id_number_presented": id_number,
                           "holder_signoff": signoff}]}
        return httpx.post(f"{self.api}/cards/resident", json=form, headers=headers,
                          timeout=30)

    def report_lost(self, headers: dict[str, str], uid: str, reporter: str) -> httpx.Response:
        """POST cards/{uid}/report-lost: in person, a zero balance, the holder agreeing."""
        person_id, _, _ = self.person(reporter)
        form = {"reporter_person_id": person_id, "in_person": True,
                "balance_shown_yuan": "0.00", "holder_agrees": True,
                "signoff": {"signer_name": reporter, "reference": "挂失单 p.1"}}
        return httpx.post(f"{self.api}/cards/{uid}/report-lost", json=form, headers=headers,
                          timeout=30)

    def grant_parking(self, holder: str, uid: str, plate: str, *, new_card: bool) -> None:
        """A monthly parking card through the desk's rules (P1 apply, P3 the owner unit's
        signature and the director's approval, one month paid), in this process: the desk
        API has no parking endpoints yet. ``new_card`` buys a parking-only card; otherwise
        ``uid`` is the holder's existing card, which then opens the barriers too."""
        person_id, _, id_number = self.person(holder)
        form: dict[str, Any] = {
            "holder_person_id": person_id, "plate": plate,
            "documents": {"id_number_presented": id_number,
                          "driving_licence_ref": "驾驶证 demo",
                          "vehicle_licence_ref": f"行驶证 {plate}",
                          "parking_agreement_ref": "车位使用协议 demo"}}
        if new_card:
            form |= {"existing_uid": None, "new_uid": uid,
                     "holder_signoff": {"signer_name": holder}}
        else:
            form["existing_uid"] = uid
        desk = self.open_desk()
        try:
            applied = apply_parking(desk, self.actor("clerk"), ApplyParking.from_form(form))
            # Seed 000: the owner unit signs the application as well as the director.
            record_owner_unit_approval(desk, self.actor("clerk"),
                                       RecordOwnerUnitApproval.from_form({
                                           "subscription_id": applied.subscription_id,
                                           "signer_name": "业主单位 行政部",
                                           "signed_at": datetime.now(UTC).isoformat(),
                                           "reference": "车位使用申请表 demo"}))
            approve_parking(desk, self.actor("director"), ApproveParking.from_form({
                "subscription_id": applied.subscription_id, "fee_per_month_yuan": "300",
                "space_kind": "floating"}))
            top_up_parking(desk, self.actor("clerk"),
                           TopUpParking.from_form({"uid": uid, "months": 1}))
        finally:
            desk.close()
