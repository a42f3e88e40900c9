"""`menwei-desk sweep`: the date sweep as the hourly timer runs it."""

from __future__ import annotations

import pytest

from central.cli import main
from central.services.context import Desk


def test_sweep_runs_for_each_sites_own_date_and_is_idempotent(
        desk: Desk, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--db", db_url]) == 0
    assert "sent to the gates" in capsys.readouterr().out
    assert main(["sweep", "--db", db_url, "--date", "2026-07-01"]) == 0
    # Nothing changed since: a second run appends nothing.
    assert main(["sweep", "--db", db_url, "--date", "2026-07-01"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("0 card record(s)")


def test_sweep_refuses_a_bad_date(desk: Desk, db_url: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--db", db_url, "--date", "07/01/2026"]) == 2
    assert "expected YYYY-MM-DD" in capsys.readouterr().err
