"""A site broker, the central sync side and device agents, for the sync benchmarks."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import tomli_w
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.card_record import CardRow
from edge.cards import CardStatus
from hardware_sim.site_broker import LocalBroker
from sync.hub.bridge import CentralSync
from sync.wire.signing import public_key_text
from sync.wire.topics import CENTRAL_USER

SITE = "bench-site"


def card(i: int, status: CardStatus = CardStatus.ACTIVE) -> CardRow:
    """The i-th card of the benchmark site."""
    return CardRow(f"04{i:012X}", status, date(2024, 1, 1), date(2030, 1, 1), ("b1",), None,
                   "owner", None)


class SyncRig:
    """Broker + CentralSync + device configs under one directory."""

    def __init__(self, root: Path, devices: int, *, snapshot_threshold: int = 5000) -> None:
        self.root = root
        self.names = [f"dev-{i:03d}" for i in range(devices)]
        users = {CENTRAL_USER: "central-pw"} | {n: f"pw-{n}" for n in self.names}
        self.broker = LocalBroker.create(root / "broker", SITE, users)
        self.key = Ed25519PrivateKey.generate()
        self.central = CentralSync(root / "central.db", SITE, self.key, "127.0.0.1",
                                   self.broker.port, username=CENTRAL_USER,
                                   password="central-pw",
                                   snapshot_threshold=snapshot_threshold)
        self.configs = {n: device_config(root, n, self.broker.port, public_key_text(self.key))
                        for n in self.names}

    def start_agent(self, device: str, log: Path | None = None) -> subprocess.Popen[bytes]:
        """A real ``menwei-sync run`` for ``device``; its log goes to ``log`` when given."""
        return start_agent(self.configs[device], log)


def device_config(root: Path, device: str, broker_port: int, central_key: str) -> Path:
    """A simulated door ``device`` of SITE syncing from the broker on ``broker_port`` and
    trusting ``central_key``: its config file under ``root``, its data in ``root/device``."""
    data = root / device
    data.mkdir(parents=True)
    (data / "broker.password").write_text(f"pw-{device}")
    doc = {
        "site": {"id": SITE, "timezone": "Asia/Shanghai"},
        "device": {"id": device, "role": "door", "access_groups": ["b1"],
                   "data_dir": str(data)},
        "gpio": {"backend": "simulated"},
        "door": {"strike": {"pin": 17}},
        "sync": {"broker_port": broker_port,
                 "password_file": str(data / "broker.password"),
                 "central_public_key": central_key,
                 "status_interval": "5s", "batch_size": 1000},
    }
    path = root / f"{device}.toml"
    path.write_text(tomli_w.dumps(doc))
    return path


def start_agent(config: Path, log: Path | None = None) -> subprocess.Popen[bytes]:
    """A real ``menwei-sync run`` with ``config``; its log goes to ``log`` when given."""
    with open(log or "/dev/null", "ab") as stderr:
        return subprocess.Popen([sys.executable, "-m", "sync.cli", "run", "--config",
                                 str(config)], stdout=subprocess.DEVNULL, stderr=stderr)


def wait_for(conn: sqlite3.Connection, sql: str, expected: object, timeout: float,
             poll: float = 0.005) -> float:
    """Poll until ``sql`` gives ``expected``; the monotonic time it did."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            row = conn.execute(sql).fetchone()
        except sqlite3.OperationalError:
            row = None  # the table does not exist yet
        if row is not None and row[0] == expected:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{sql!r} never gave {expected!r} (last {row!r})")
        time.sleep(poll)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Terminate agent processes and wait for them."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        p.wait(15)
