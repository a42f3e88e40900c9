"""The whole simulated compound as real processes on 127.0.0.1: a site broker (Mosquitto),
the desk service (``menwei-desk serve --sync-config``), per gate a ``menwei-edge`` and a
``menwei-sync`` with simulated hardware, and the guard's booth (``menwei-booth`` and its own
``menwei-sync``) driving three of the gates. Used by ``menwei-sim compound`` and the end-to-end
tests, so what the README shows is what the tests check.

The desk is set up as an installer sets one up (hardware_sim.front_desk): ``menwei-desk``
commands, then its HTTP API; nothing here opens its database.

Everything lives under one directory: the broker's files, the desk database, the signing
key, each gate's and the booth's config and data, and one log per process."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import tomli_w

from edge.control_socket import wait_until_answering
from hardware_sim.front_desk import API, DeskInstall, FrontDesk, SiteFile
from hardware_sim.local_ports import free_tcp_port, free_udp_port
from hardware_sim.running_booth import BOOTH, RunningBooth
from hardware_sim.running_gate import GATES, GateSite, RunningGate
from hardware_sim.site_broker import LocalBroker
from hardware_sim.spawned_processes import SpawnedProcesses
from sync.wire.signing import generate_key
from sync.wire.topics import CENTRAL_USER

EXAMPLE_SITE = Path(__file__).resolve().parents[1] / "central" / "examples" / "site.toml"


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
class Compound(SpawnedProcesses):
    """Builds and runs the compound under ``root``; ``prepare``, ``start`` then ``stop``.
    ``site_file`` is a TOML site description (``menwei-desk load-site``)."""

    root: Path
    first_port: int = 0
    site_file: Path = EXAMPLE_SITE
    password: str = "menwei-demo"
    gates: dict[str, RunningGate] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    broker: LocalBroker | None = None
    desk_port_preferred: int = 0  # used when free (easy to type); else any free port
    desk_port: int = 0
    booth_port_preferred: int = 0  # as desk_port_preferred, for the booth page
    booth: RunningBooth | None = None
    # A lived-in site (``menwei-desk populate-demo``): households and cards to add before
    # the desk starts, with a year of desk work and a month of gate events. 0: the site
    # file's few people only.
    demo_households: int = 0
    demo_cards: int = 0
    # The desk's database URL (``menwei-desk --db``), empty at first: ``serve`` brings it up
    # to date. Unset: a SQLite file under root/desk, made afresh by ``prepare``.
    db_url: str = ""

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self.site_description = SiteFile.read(self.site_file)
        self.site = self.site_description.code
        self.db_url = self.db_url or f"sqlite:///{self.root / 'desk' / 'desk.db'}"
        self._logs: list[IO[bytes]] = []
        self._desk: FrontDesk | None = None

    # ------------------------------------------------------------------ set-up

    @property
    def desk_url(self) -> str:
        """The desk's address, as a browser opens it."""
        return f"http://127.0.0.1:{self.desk_port}/"

    @property
    def booth_url(self) -> str:
        """The booth page's address (after ``prepare``), as the booth's screen opens it."""
        if self.booth is None:
            raise RuntimeError("prepare() first")
        return self.booth.url

    @property
    def api(self) -> str:
        """The desk API's base URL."""
        return f"http://127.0.0.1:{self.desk_port}{API}"

    @property
    def sync_store(self) -> Path | str:
        """The site's central store (gate events, device status): a file in desk-sync.toml's
        ``data_dir``, or the desk's PostgreSQL database (central.desk_sync.hub_store_of)."""
        if self.db_url.startswith("postgresql"):
            return self.db_url
        return self.root / "desk" / "sync" / f"sync-{self.site}.db"

    @property
    def desk(self) -> FrontDesk:
        """The demo staff at the desk's API (after ``start``)."""
        if self._desk is None:
            raise RuntimeError("start() first")
        return self._desk

    def prepare(self) -> None:
        """Write everything the processes need. A directory prepared before is prepared
        again from scratch: a demo starts from a known state."""
        for sub in ("broker", "desk", "gates", "booths"):
            shutil.rmtree(self.root / sub, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        passwords = {CENTRAL_USER: f"{self.password}-central"}
        passwords |= {g.name: f"{self.password}-{g.name}" for g in GATES}
        passwords[BOOTH.name] = f"{self.password}-{BOOTH.name}"
        self.broker = LocalBroker.create(self.root / "broker", self.site, passwords)
        desk_dir = self.root / "desk"
        desk_dir.mkdir(parents=True)
        (desk_dir / "admin.password").write_text(self.password + "\n")
        public_key = generate_key(desk_dir / "signing.key")
        (desk_dir / "broker.password").write_text(passwords[CENTRAL_USER] + "\n")
        (desk_dir / "desk-sync.toml").write_text(tomli_w.dumps({
            "broker_host": "127.0.0.1", "broker_port": self.broker.port,
            "username": CENTRAL_USER, "password_file": "broker.password",
            "signing_key": "signing.key", "data_dir": "sync", "sites": [self.site]}))
        gate_site = GateSite(self.site, self.broker.port, public_key, self.root / "gates")
        for i, spec in enumerate(GATES):
            port = free_udp_port(self.first_port + i if self.first_port else 0)
            camera = free_tcp_port() if spec.role != "door" else 0
            self.gates[spec.name] = RunningGate.write(spec, gate_site, port,
                                                      passwords[spec.name], camera)
        booth_port = free_tcp_port(self.booth_port_preferred)
        self.booth = RunningBooth.write(BOOTH, gate_site, self.root / "booths",
                                        gates=self.gates, port=booth_port,
                                        broker_password=passwords[BOOTH.name])

    def _broker(self) -> LocalBroker:
        if self.broker is None:
            raise RuntimeError("prepare() first")
        return self.broker

    def _booth(self) -> RunningBooth:
        if self.booth is None:
            raise RuntimeError("prepare() first")
        return self.booth

    def stop_broker(self) -> None:
        """Stop the site broker (the network down between the gates, the booth and the
        desk); every process keeps running and reconnects once it is back."""
        self._broker().stop()

    def start_broker(self) -> None:
        """Start the site broker again, on the same port with its retained messages."""
        self._broker().start()

    # ------------------------------------------------------------------ running

    def start(self, timeout: float = 60.0) -> None:
        """Start the broker, the desk service, every gate and the booth; the admin creates
        the demo logins meanwhile; return when all answer.

        The desk's gate link is subscribed before any gate starts, as on a real site where
        the central service runs long before a gate boots: the central store takes a
        device's first batch as where its journal starts, so a first batch published
        before anyone subscribed would be lost without a trace (see the report)."""
        self._broker().start()
        if self.demo_households:
            # A lived-in site is written straight into the desk's database before the desk
            # serves it, as an installer migrating a site would: ``create-db``, ``load-site``
            # and ``populate-demo`` (which also writes a month of gate events into the
            # central store the desk's gate link then opens).
            DeskInstall.populated(self.db_url, self.site_file,
                                  self.root / "desk" / "admin.password", site=self.site,
                                  log=self.root / "desk-setup.log",
                                  households=self.demo_households, cards=self.demo_cards,
                                  sync_store=self.sync_store).finish()
        self.desk_port = free_tcp_port(self.desk_port_preferred)
        desk = self._spawn("desk", [
            "central.cli", "serve", "--db", self.db_url, "--host", "127.0.0.1",
            "--port", str(self.desk_port),
            "--sync-config", str(self.root / "desk" / "desk-sync.toml")])
        wait_for("the desk service answering", lambda: self._desk_answers(desk), timeout,
                 poll=0.1)
        linked = f"connected to 127.0.0.1:{self._broker().port}"
        wait_for("the desk's gate link subscribed",
                 lambda: linked in self._desk_log(desk),
                 timeout, poll=0.05)
        # ``serve`` has brought the database up to date: the installer loads the site and
        # creates the admin while the gates boot, the admin then the demo logins (a
        # populated site has both already).
        install = DeskInstall(self.root / "desk-setup.log", []) if self.demo_households \
            else DeskInstall.begin(self.db_url, self.site_file,
                                   self.root / "desk" / "admin.password", self.site,
                                   self.root / "desk-setup.log")
        for gate in self.gates.values():
            if gate.has_lane_devices:
                # The display is wired before the lane controller boots, as on site.
                self._spawn(f"{gate.spec.name}-display", [
                    "hardware_sim.cli", "display", "--link", str(gate.display_link),
                    "--state", str(gate.display_state)])
        for gate in self.gates.values():
            if gate.has_lane_devices:
                wait_for(f"{gate.spec.name}'s display", gate.display_link.exists, timeout)
        for gate in self.gates.values():
            self._spawn(f"{gate.spec.name}-edge",
                        ["edge.cli", "run", "--config", str(gate.config_path)])
            self._spawn(f"{gate.spec.name}-sync",
                        ["sync.cli", "run", "--config", str(gate.config_path)])
        booth = self._booth()
        self._spawn(f"{booth.spec.name}-booth",
                    ["booth.cli", "run", "--config", str(booth.config_path)])
        self._spawn(f"{booth.spec.name}-sync",
                    ["sync.cli", "run", "--config", str(booth.config_path)])
        install.finish()
        self._desk = FrontDesk(self.api, self.password, self.site_description)
        self._desk.create_demo_staff()
        for gate in self.gates.values():
            wait_until_answering(gate.data_dir / "control.sock", timeout,
                                 self.procs[f"{gate.spec.name}-edge"])
        wait_for("the booth page answering", self.alive_and(self._booth().answers), timeout,
                 poll=0.1)
        self.check_alive()

    def _desk_log(self, proc: subprocess.Popen[bytes]) -> str:
        log = (self.root / "desk.log").read_text(errors="replace")
        if proc.poll() is not None:
            raise RuntimeError(f"the desk service exited ({proc.returncode}): {log[-3000:]}")
        return log

    def _desk_answers(self, proc: subprocess.Popen[bytes]) -> bool:
        self._desk_log(proc)
        try:
            return httpx.get(f"{self.api}/openapi.json", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        """Stop every process: gates and the booth first, then the desk, then the broker."""
        self._stop_processes()
        if self.broker is not None:
            self.broker.stop()
