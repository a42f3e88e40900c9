"""A real Mosquitto on loopback, configured exactly as a site broker is (sync.broker_config)."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sync.broker_config import CENTRAL_USER, BrokerLayout, add_user, write_broker

SITE = "test-site"


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Broker:
    """A running broker; ``restart`` and ``stop`` keep its persistence directory."""

    layout: BrokerLayout
    passwords: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        return self.layout.port

    def add_device(self, device: str) -> str:
        password = f"pw-{device}"
        add_user(self.layout.passwd, device, password)
        self.passwords[device] = password
        if self.proc is not None:
            self.proc.send_signal(1)  # SIGHUP: reload the password file and ACL
            time.sleep(0.2)
        return password

    def start(self) -> None:
        log = open(self.layout.conf_dir / "mosquitto.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.layout.conf)],
                                     stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while True:
            assert self.proc.poll() is None, (self.layout.conf_dir / "mosquitto.log").read_text()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                assert time.monotonic() < deadline, "mosquitto did not start listening"
                time.sleep(0.01)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A site broker with the central user and two devices, dev-a and dev-b."""
    if shutil.which("mosquitto") is None:
        pytest.fail("mosquitto is not installed: run the README's test command, which "
                    "installs it")
    layout = BrokerLayout(site=SITE, conf_dir=tmp_path / "broker", data_dir=tmp_path / "broker"
                          / "data", port=free_tcp_port(),
                          run_as=getpass.getuser() if os.geteuid() == 0 else None)
    users = {CENTRAL_USER: "central-pw", "dev-a": "pw-dev-a", "dev-b": "pw-dev-b"}
    write_broker(layout, users)
    b = Broker(layout, dict(users))
    b.start()
    yield b
    b.stop()
