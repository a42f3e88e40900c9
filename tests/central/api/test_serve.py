"""``menwei-desk serve``: brings an empty database up to date, then answers on its port."""

from __future__ import annotations

from pathlib import Path

import httpx

from central.db import current_revision, head_revision, make_engine

from ..conftest import SITE
from .live_desk import serving


def test_serve_upgrades_the_database_and_answers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    log = tmp_path / "serve.log"
    with serving(url, log, "--sync-store", f"{SITE}={tmp_path / 'sync.db'}") as base:
        doc = httpx.get(f"{base}/openapi.json", timeout=10)
        assert doc.status_code == 200
        assert doc.json()["info"]["title"] == "Menwei desk API"
        refused = httpx.post(f"{base}/login", json={"username": "nobody", "password": "x"},
                             timeout=10)
        assert (refused.status_code, refused.json()["error"]) == (401, "login")
        assert httpx.get(f"{base}/site").status_code == 401
    engine = make_engine(url)
    assert current_revision(engine) == head_revision()
    engine.dispose()
    assert "schema at migration" in log.read_text("utf-8")
