"""Two compounds run from one office, as real processes on 127.0.0.1: each site has its own
Mosquitto (sync.broker.config) bridged through its own OfficeLink to a central Mosquitto
(sync.broker.central_broker); one desk service (``menwei-desk serve --sync-config``) is
connected to the central broker alone and serves both sites; each site has its gates (a
``menwei-edge`` + ``menwei-sync`` pair each, simulated hardware) and the second a guard
booth (``menwei-booth`` and its own ``menwei-sync``).

The desk is set up as an installer sets one up (hardware_sim.front_desk): ``menwei-desk``
commands for each site and its admin, then the HTTP API. Used by the end-to-end test of
issue 14 (tests/e2e/test_bridged_sites.py)."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import tomli_w

from edge.control_socket import wait_until_answering
from hardware_sim.compound_processes import EXAMPLE_SITE, wait_for
from hardware_sim.front_desk import ADMIN, API, DeskInstall, FrontDesk, SiteFile
from hardware_sim.local_ports import free_tcp_port, free_udp_port
from hardware_sim.office_link import OfficeLink
from hardware_sim.running_booth import BoothSpec, RunningBooth
from hardware_sim.running_gate import GATES, GateSite, GateSpec, RunningGate
from hardware_sim.site_broker import LocalBroker, start_mosquitto, stop_mosquitto
from hardware_sim.spawned_processes import SpawnedProcesses
from sync.broker.central_broker import CentralBrokerLayout, write_central_broker
from sync.broker.config import BrokerLayout, CentralBridge, bridge_user, write_broker
from sync.wire.signing import generate_key
from sync.wire.topics import CENTRAL_USER

# Mosquitto started as root drops to 'mosquitto', which cannot read files made here.
RUN_AS = getpass.getuser() if os.geteuid() == 0 else None
DOORS = tuple(g for g in GATES if g.role == "door")  # main-gate, b1-lobby
# The second site's booth drives its main gate only (the site has no car-park lanes here).
BOOTH = BoothSpec("east-booth", "东门岗", ("main-gate",))


@dataclass
class BridgedSite:
    """One compound: its site file, broker, link to the office, gates and booth. Its staff
    at the desk are named with ``suffix`` (``clerk``, ``clerk-b``): user names are global."""

    code: str
    site_file: Path
    suffix: str
    root: Path
    gate_specs: tuple[GateSpec, ...]
    with_booth: bool
    broker: LocalBroker | None = None
    link: OfficeLink | None = None
    gates: dict[str, RunningGate] = field(default_factory=dict)
    booth: RunningBooth | None = None
    desk: FrontDesk | None = None

    def staff(self, name: str) -> str:
        """A desk login of this site: ``clerk`` -> ``clerk`` or ``clerk-b``."""
        return f"{name}{self.suffix}"

    def devices(self) -> list[str]:
        """Every device id of the site (gates and booth)."""
        return [*self.gates, *([self.booth.spec.name] if self.booth else [])]


@dataclass
class BridgedSites(SpawnedProcesses):
    """Builds and runs the two sites and the office under ``root``: ``prepare``, ``start``,
    then ``stop``; ``cut_links``/``restore_links`` take the office link down and back."""

    root: Path
    password: str = "menwei-demo"
    sites: list[BridgedSite] = field(default_factory=list)
    central: CentralBrokerLayout | None = None
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    desk_port: int = 0
    # The desk's database: a SQLite file under root unless a (PostgreSQL) URL is given.
    db_url: str = ""

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        if not self.db_url:
            self.db_url = f"sqlite:///{self.root / 'desk' / 'desk.db'}"
        self._central_proc: subprocess.Popen[bytes] | None = None
        self._logs: list[IO[bytes]] = []

    @property
    def api(self) -> str:
        """The desk API's base URL."""
        return f"http://127.0.0.1:{self.desk_port}{API}"

    def sync_store(self, site: BridgedSite) -> Path | str:
        """Where the desk keeps the site's central store (gate events): a file in
        desk-sync.toml's data_dir, or the desk's PostgreSQL database (central.desk_sync)."""
        if self.db_url.startswith("postgresql"):
            return self.db_url
        return self.root / "desk" / "sync" / f"sync-{site.code}.db"

    def prepare(self) -> None:
        """Write every file: the central broker, the desk, each site's broker, gates, booth."""
        shutil.rmtree(self.root, ignore_errors=True)
        (self.root / "sites").mkdir(parents=True)
        example = EXAMPLE_SITE.read_text(encoding="utf-8")
        second = example.replace('code = "sunrise-garden"', 'code = "moonlight-court"', 1) \
            .replace('name = "阳光花园"', 'name = "月光苑"', 1)
        assert second != example
        # Short folder names: a gate's control socket path must fit a Unix socket address.
        for code, folder, text, suffix, specs, booth in (
                ("sunrise-garden", "a", example, "", DOORS, False),
                ("moonlight-court", "b", second, "-b", DOORS[:1], True)):
            site_file = self.root / "sites" / f"{code}.toml"
            site_file.write_text(text, encoding="utf-8")
            self.sites.append(BridgedSite(code, site_file, suffix, self.root / folder, specs,
                                          booth))
        bridge_passwords = {s.code: f"{self.password}-bridge-{s.code}" for s in self.sites}
        self.central = CentralBrokerLayout(
            self.root / "central", self.root / "central" / "data", free_tcp_port(),
            free_tcp_port(), bind="127.0.0.1", run_as=RUN_AS)
        desk_broker_password = f"{self.password}-central"
        write_central_broker(self.central, list(bridge_passwords.items()),
                             desk_broker_password)

        desk_dir = self.root / "desk"
        desk_dir.mkdir()
        (desk_dir / "admin.password").write_text(self.password + "\n")
        public_key = generate_key(desk_dir / "signing.key")
        (desk_dir / "broker.password").write_text(desk_broker_password + "\n")
        # The desk's one connection point: the central broker, serving every site.
        (desk_dir / "desk-sync.toml").write_text(tomli_w.dumps({
            "broker_host": "127.0.0.1", "broker_port": self.central.desk_port,
            "username": CENTRAL_USER, "password_file": "broker.password",
            "signing_key": "signing.key", "data_dir": "sync",
            "sites": [s.code for s in self.sites]}))

        for site in self.sites:
            site.link = OfficeLink(self.central.port)
            (site.root / "broker").mkdir(parents=True)
            password_file = site.root / "broker" / "bridge.password"
            password_file.write_text(bridge_passwords[site.code] + "\n")
            layout = BrokerLayout(
                site.code, site.root / "broker", site.root / "broker" / "data",
                free_tcp_port(), run_as=RUN_AS,
                bridge=CentralBridge("127.0.0.1", site.link.port, bridge_user(site.code),
                                     password_file))
            users = {CENTRAL_USER: f"{self.password}-site-central"}
            users |= {g.name: f"{self.password}-{g.name}" for g in site.gate_specs}
            if site.with_booth:
                users[BOOTH.name] = f"{self.password}-{BOOTH.name}"
            write_broker(layout, users)
            site.broker = LocalBroker(layout, users)
            gate_site = GateSite(site.code, layout.port, public_key, site.root / "gates")
            for spec in site.gate_specs:
                site.gates[spec.name] = RunningGate.write(spec, gate_site, free_udp_port(0),
                                                          users[spec.name])
            if site.with_booth:
                site.booth = RunningBooth.write(BOOTH, gate_site, site.root / "booths",
                                                gates=site.gates, port=free_tcp_port(),
                                                broker_password=users[BOOTH.name])

    # ------------------------------------------------------------------ running

    def _desk_log(self) -> str:
        log = (self.root / "desk.log").read_text(errors="replace")
        desk = self.procs["desk"]
        if desk.poll() is not None:
            raise RuntimeError(f"the desk service exited ({desk.returncode}): {log[-3000:]}")
        return log

    def _desk_answers(self) -> bool:
        self._desk_log()
        try:
            return httpx.get(f"{self.api}/openapi.json", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def start(self, timeout: float = 60.0) -> None:
        """Start the office (central broker, desk), then each site (its broker and bridge,
        gates, booth); load the sites and their staff at the desk; return when all answer."""
        assert self.central is not None, "prepare() first"
        self._central_proc = start_mosquitto(self.central.conf, self.central.desk_port)
        for site in self.sites:
            assert site.link is not None and site.broker is not None
            site.link.restore()
            site.broker.start()
        self.desk_port = free_tcp_port()
        self._spawn("desk", [
            "central.cli", "serve", "--db", self.db_url, "--host", "127.0.0.1",
            "--port", str(self.desk_port),
            "--sync-config", str(self.root / "desk" / "desk-sync.toml")])
        wait_for("the desk service answering", self.alive_and(self._desk_answers), timeout,
                 poll=0.1)
        linked = f"connected to 127.0.0.1:{self.central.desk_port}"
        wait_for("the desk's gate links subscribed at the central broker",
                 lambda: self._desk_log().count(linked) >= len(self.sites), timeout)
        admin_password = self.root / "desk" / "admin.password"
        steps: list[list[str]] = []
        for site in self.sites:
            steps += [["load-site", "--db", self.db_url, str(site.site_file)],
                      ["create-staff", "--db", self.db_url, "--role", "admin", "--username",
                       site.staff(ADMIN), "--site", site.code, "--password-file",
                       str(admin_password)]]
        install = DeskInstall(self.root / "desk-setup.log", steps)
        for site in self.sites:
            for gate in site.gates.values():
                self._spawn(f"{site.code}-{gate.spec.name}-edge",
                            ["edge.cli", "run", "--config", str(gate.config_path)])
                self._spawn(f"{site.code}-{gate.spec.name}-sync",
                            ["sync.cli", "run", "--config", str(gate.config_path)])
            if site.booth is not None:
                self._spawn(f"{site.code}-booth",
                            ["booth.cli", "run", "--config", str(site.booth.config_path)])
                self._spawn(f"{site.code}-booth-sync",
                            ["sync.cli", "run", "--config", str(site.booth.config_path)])
        install.finish()
        for site in self.sites:
            site.desk = FrontDesk(self.api, self.password, SiteFile.read(site.site_file))
            admin = site.desk.login(site.staff(ADMIN))
            for name in ("clerk", "guard"):
                response = httpx.post(f"{self.api}/staff", headers=admin, timeout=30, json={
                    "username": site.staff(name), "role": name, "password": self.password,
                    "site": site.code})
                if response.status_code != 201:
                    raise RuntimeError(f"creating {site.staff(name)}: {response.text}")
        for site in self.sites:
            for gate in site.gates.values():
                wait_until_answering(gate.data_dir / "control.sock", timeout,
                                     self.procs[f"{site.code}-{gate.spec.name}-edge"])
            if site.booth is not None:
                wait_for("the booth page answering", self.alive_and(site.booth.answers),
                         timeout, poll=0.1)
        self.check_alive()

    def cut_links(self) -> None:
        """The office link of every site goes down (both brokers and everything else keep
        running)."""
        for site in self.sites:
            assert site.link is not None
            site.link.cut()

    def restore_links(self) -> None:
        """The office links come back, on the same ports."""
        for site in self.sites:
            assert site.link is not None
            site.link.restore()

    def stop(self) -> None:
        """Stop every process: devices first, then the desk, the brokers and the links."""
        self._stop_processes()
        for site in self.sites:
            if site.broker is not None:
                site.broker.stop()
            if site.link is not None:
                site.link.cut()
        stop_mosquitto(self._central_proc)
        self._central_proc = None
