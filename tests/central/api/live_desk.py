"""Desks the API tests share: a module-wide database with one account per role, and the
real ``menwei-desk serve`` in a process of its own."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from central.clock import FixedClock
from central.db import make_engine, upgrade
from central.models import Role
from central.services.context import Desk
from central.services.sites import load_site
from central.services.staff import NewStaff, create_staff
from central.site_file import read_site_file

from ..conftest import EXAMPLES, FAST_HASHER, NOW, PASSWORD, SITE

ROOT = Path(__file__).resolve().parents[3]
API = "/api/v1"


def every_role_desk(root: Path) -> tuple[str, Desk]:
    """A migrated database under ``root``: the example site, one account per role (named
    as tests/central/api/conftest.py's ``username`` names them); its URL and desk."""
    url = f"sqlite:///{root / 'desk.db'}"
    engine = make_engine(url)
    upgrade(engine)
    desk = Desk(engine, FixedClock(NOW), FAST_HASHER)
    load_site(desk, read_site_file(EXAMPLES / "site.toml"))
    for role in Role:
        create_staff(desk, NewStaff(role.value.replace("_", "-"), role.value, role, PASSWORD,
                                    SITE))
    return url, desk


def free_port() -> int:
    """A TCP port free on 127.0.0.1 just now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serving(db_url: str, log: Path, *extra: str) -> Iterator[str]:
    """``menwei-desk serve --db db_url`` on a free port of 127.0.0.1, answering; the API's
    base URL. Its output goes to ``log`` (a file: a pipe nobody reads would fill up and
    stall the server)."""
    port = free_port()
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
