"""A site broker on this machine: a real Mosquitto on 127.0.0.1, configured exactly as a site
broker is (sync.broker.config), for the simulated compound, benchmarks and tests."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from hardware_sim.local_ports import free_tcp_port
from sync.broker.config import BrokerLayout, add_user, write_broker


def start_mosquitto(conf: Path, port: int, timeout: float = 10.0) -> subprocess.Popen[bytes]:
    """Run ``mosquitto -c conf`` (logging to mosquitto.log beside it) and wait until it
    accepts connections on ``port`` of 127.0.0.1."""
    log_path = conf.parent / "mosquitto.log"
    log = open(log_path, "ab")  # noqa: SIM115 - the child's
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=log, stderr=log)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError("mosquitto exited: " + log_path.read_text()[-2000:])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError("mosquitto did not start listening") from None
            time.sleep(0.01)


def stop_mosquitto(proc: subprocess.Popen[bytes] | None) -> None:
    """Stop a Mosquitto started by ``start_mosquitto`` (it saves its persistence file)."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        proc.wait(10)


class LocalBroker:
    """Mosquitto run from ``layout``'s files; ``restart`` keeps its persistence.

    ``create`` writes a site broker's files first; tests that need an unusual layout (a TLS
    listener, a provisioned directory) write their own and pass it here.
    """

    def __init__(self, layout: BrokerLayout, passwords: dict[str, str] | None = None) -> None:
        if shutil.which("mosquitto") is None:
            raise RuntimeError("mosquitto is not installed (Debian package 'mosquitto'; the "
                               "README's commands install it)")
        self.layout = layout
        self.passwords = dict(passwords or {})
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(cls, directory: Path, site: str, users: dict[str, str],
               port: int | None = None) -> LocalBroker:
        """Write a site broker's config, ACL and password file under ``directory``."""
        layout = BrokerLayout(
            site=site, conf_dir=directory, data_dir=directory / "data",
            port=port or free_tcp_port(),
            # Run as root, Mosquitto drops to user 'mosquitto', which cannot write our files.
            run_as=getpass.getuser() if os.geteuid() == 0 else None,
        )
        write_broker(layout, users)
        return cls(layout, users)

    @property
    def port(self) -> int:
        """The listening port on 127.0.0.1."""
        return self.layout.port

    def add_user(self, username: str, password: str) -> None:
        """Add a user; a running broker reloads its password file on SIGHUP."""
        add_user(self.layout.passwd, username, password)
        self.passwords[username] = password
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(1)
            time.sleep(0.2)

    def start(self, timeout: float = 10.0) -> None:
        """Start Mosquitto and wait until it accepts connections."""
        self.proc = start_mosquitto(self.layout.conf, self.port, timeout)

    def stop(self) -> None:
        """Stop Mosquitto (it saves its persistence file)."""
        stop_mosquitto(self.proc)
        self.proc = None

    def restart(self) -> None:
        """Stop and start again on the same port."""
        self.stop()
        self.start()
