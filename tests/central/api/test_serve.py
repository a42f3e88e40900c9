"""``menwei-desk serve``: brings an empty database up to date, then answers on its port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from central.db import current_revision, head_revision, make_engine

from ..conftest import SITE

ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_upgrades_the_database_and_answers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "central.cli", "serve", "--db", url, "--port", str(port),
         "--sync-store", f"{SITE}={tmp_path / 'sync.db'}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 30
        while True:
            try:
                doc = httpx.get(f"{base}/openapi.json", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[0]
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
        assert doc.status_code == 200
        assert doc.json()["info"]["title"] == "Menwei desk API"
        refused = httpx.post(f"{base}/login", json={"username": "nobody", "password": "x"})
        assert (refused.status_code, refused.json()["error"]) == (401, "login")
        assert httpx.get(f"{base}/site").status_code == 401
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode()
    engine = make_engine(url)
    assert current_revision(engine) == head_revision()
    engine.dispose()
    assert "schema at migration" in output
