"""Desks the API tests share: a module-wide database with one account per role, the
real ``menwei-desk serve`` in a process of its own, and the desk's link to a real site
broker."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central.api import create_app
from central.clock import FixedClock
from central.db import make_engine, upgrade
from central.models import Role
from central.services.context import Desk
from central.services.sites import load_site
from central.services.staff import NewStaff, create_staff
from central.site_file import read_site_file
from hardware_sim.local_ports import free_tcp_port
from sync.broker.config import BrokerLayout, write_broker
from sync.hub.bridge import CentralSync
from sync.wire.topics import CENTRAL_USER
from tests.sync.conftest import Broker

from ..conftest import EXAMPLES, FAST_HASHER, NOW, PASSWORD, SITE
from .conftest import TestClient

ROOT = Path(__file__).resolve().parents[3]
API = "/api/v1"


def every_role_desk(root: Path, url: str | None = None) -> tuple[str, Desk]:
    """A migrated database (``url``, else a SQLite file under ``root``): the example site,
    one account per role (named as tests/central/api/conftest.py's ``username`` names
    them); its URL and desk."""
    url = url or f"sqlite:///{root / 'desk.db'}"
    engine = make_engine(url)
    upgrade(engine)
    desk = Desk(engine, FixedClock(NOW), FAST_HASHER)
    load_site(desk, read_site_file(EXAMPLES / "site.toml"))
    for role in Role:
        create_staff(desk, NewStaff(role.value.replace("_", "-"), role.value, role, PASSWORD,
                                    SITE))
    return url, desk


@contextmanager
def serving(db_url: str, log: Path, *extra: str) -> Iterator[str]:
    """``menwei-desk serve --db db_url`` on a free port of 127.0.0.1, answering; the API's
    base URL. Its output goes to ``log`` (a file: a pipe nobody reads would fill up and
    stall the server)."""
    port = free_tcp_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "central.cli", "serve", "--db", db_url, "--port",
             str(port), *extra], cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}{API}"
    try:
        deadline = time.monotonic() + 90  # a loaded CI machine imports slowly
        while True:
            try:
                httpx.get(f"{base}/me", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, log.read_text("utf-8", "replace")
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def site_broker(root: Path, gates: Iterable[str]) -> Iterator[Broker]:
    """A real Mosquitto on loopback, configured as the example site's broker, with the
    desk's account and one per gate (password ``pw-<gate>``)."""
    if shutil.which("mosquitto") is None:
        raise RuntimeError("mosquitto is not installed: run the README's test command")
    layout = BrokerLayout(site=SITE, conf_dir=root / "broker", data_dir=root / "broker" / "data",
                          port=free_tcp_port(),
                          run_as=getpass.getuser() if os.geteuid() == 0 else None)
    users = {CENTRAL_USER: "central-pw", **{g: f"pw-{g}" for g in gates}}
    write_broker(layout, users)
    broker = Broker(layout, dict(users))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@contextmanager
def linked_hub(root: Path, broker: Broker, clock: Callable[[], float]) -> Iterator[CentralSync]:
    """The desk's link to the site's gates (``serve --sync-config``'s CentralSync), connected
    to ``broker``."""
    hub = CentralSync(root / "hub.db", SITE, Ed25519PrivateKey.generate(), "127.0.0.1",
                      broker.port, password="central-pw", reconnect_delay=(1, 1), clock=clock)
    hub.start()
    try:
        end = time.monotonic() + 15
        while not hub.connected:
            if time.monotonic() > end:
                raise TimeoutError("the desk's link did not connect")
            time.sleep(0.05)
        yield hub
    finally:
        hub.close()


def wait_until(done: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Poll ``done`` until true; fail naming ``what``."""
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextmanager
def linked_api(db_url: str, hub: CentralSync, clock: FixedClock) -> Iterator[TestClient]:
    """The API as ``serve --sync-config`` builds it: the hub's store and its live link, on
    the desk's clock."""
    app = create_app(db_url, gate_events=hub.store, gate_links=hub, clock=clock,
                     hasher=FAST_HASHER, login_refusal_delay_s=0)
    with TestClient(app) as client:
        yield client
