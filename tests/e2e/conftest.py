"""The whole stack as real processes on 127.0.0.1 (hardware_sim.compound_processes): Mosquitto,
``menwei-desk serve --sync-config``, and a ``menwei-edge`` + ``menwei-sync`` pair per gate
(two doors, a car-park entry/exit pair) with simulated hardware. The example site
(central/examples/site.toml) is loaded, so the gates' access groups are the desk's.

Each test runs twice: the desk on a SQLite file (one compound), then on PostgreSQL (a
company's database; an empty one per test on the session's throwaway cluster, dropped
after), named to ``menwei-desk`` as an operator names it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hardware_sim.compound_processes import Compound, wait_for
from tests.desk_databases import empty_desk_database

BIN = Path(sys.executable).parent
# The example site's time zone (central/examples/site.toml): the desk's "today".
SITE_ZONE = ZoneInfo("Asia/Shanghai")


def site_today() -> date:
    """Today at the example site, as the desk judges dates: not the machine's date, which
    is a day behind for the first eight hours of a Shanghai day (16:00-24:00 UTC)."""
    return datetime.now(SITE_ZONE).date()


@pytest.fixture
def desk_db(request: pytest.FixtureRequest, desk_db_kind: str,
            tmp_path: Path) -> Iterator[str]:
    """The desk's database for this test's compound, empty (``serve`` migrates it): the
    compound's own SQLite file, or a PostgreSQL database dropped after the compound stops."""
    with empty_desk_database(request, desk_db_kind, tmp_path / "compound") as url:
        yield url


@pytest.fixture
def stack(tmp_path: Path, desk_db: str) -> Iterator[Compound]:
    """The compound, started; every process is stopped (killed if it must be) after."""
    if shutil.which("mosquitto") is None:
        pytest.fail("mosquitto is not installed: the README's commands install it")
    compound = Compound(tmp_path / "compound", db_url=desk_db)
    compound.prepare()
    try:
        compound.start()
        yield compound
        compound.check_alive()  # a process that died mid-test is a failure, not noise
    finally:
        compound.stop()


def sim(*argv: str) -> dict[str, Any]:
    """``menwei-sim ARGV`` as a person would run it; its JSON answer."""
    done = subprocess.run([str(BIN / "menwei-sim"), *argv], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    try:
        return dict(json.loads(done.stdout))
    except ValueError:
        return {"text": done.stdout}


def tap(reader: str, uid: str) -> None:
    """``menwei-sim tap``: present a card once (returns when the reader has read it)."""
    sim("tap", "--reader", reader, "--uid", uid)


def actuator_state(config: Path) -> str:
    """What ``menwei-edge status`` says the door or barrier is doing."""
    out = subprocess.run([str(BIN / "menwei-edge"), "status", "--config", str(config)],
                         capture_output=True, text=True, check=True, timeout=30).stdout
    state: str = json.loads(out)["actuator"]["state"]
    return state


def wait_state(config: Path, state: str, timeout: float = 30) -> None:
    """Poll ``menwei-edge status`` until the actuator is in ``state``."""
    wait_for(f"{config.stem} reaching {state}", lambda: actuator_state(config) == state,
             timeout, poll=0.1)


def wait_taps(count: int, gate: Any, timeout: float = 20) -> list[tuple[str, str]]:
    """The gate's journalled taps once there are at least ``count``."""
    wait_for(f"{count} taps journalled at {gate.spec.name}",
             lambda: len(gate.taps()) >= count, timeout)
    taps: list[tuple[str, str]] = gate.taps()
    return taps


def elapsed(since: float) -> float:
    """Seconds since a monotonic instant."""
    return time.monotonic() - since
