"""Real gate processes with their wall clock set by libfaketime (Debian's ``faketime``).

Only the wall clock is faked (``FAKETIME_DONT_FAKE_MONOTONIC``): the gate's timers run on
CLOCK_MONOTONIC, and with a faked one Python's waits hang. (Python's ``time.sleep`` fails
with EINVAL under libfaketime 0.9.10 with this setting; the gate process never sleeps.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from edge.control_socket import ControlClient, wait_until_answering
from firmware_config.schema import EdgeConfig


def libfaketime() -> Path:
    """The preload library, wherever the distribution put it."""
    found = sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))
    found += sorted(Path("/usr/lib/faketime").glob("libfaketime.so.1"))
    if not found:
        try:
            listed = subprocess.run(["dpkg", "-L", "libfaketime"], capture_output=True,
                                    text=True, check=False).stdout.split()
        except OSError:
            listed = []
        found = [Path(p) for p in listed if p.endswith("/libfaketime.so.1")]
    if not found:
        pytest.fail("libfaketime is not installed: scripts/run-tests installs Debian's "
                    "'faketime' package")
    return found[0]


def faked(offset: str) -> dict[str, str]:
    """The environment of a process whose wall clock is off by ``offset`` (``-30d``,
    ``+365d``: libfaketime's relative form)."""
    return {**os.environ, "LD_PRELOAD": str(libfaketime()), "FAKETIME": offset,
            "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


@contextmanager
def gate_process(config: EdgeConfig, offset: str | None = None) -> Iterator[ControlClient]:
    """Run ``menwei-edge run`` (its clock ``offset`` from ours) and yield a control client;
    SIGTERM at the end, so the gate shuts down as systemd would stop it."""
    env = faked(offset) if offset else dict(os.environ)
    log = config.device.data_dir / "gate.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config",
                                 str(config.source)], env=env, stdout=out, stderr=out)
    try:
        try:
            wait_until_answering(config.control_socket, 30, proc)
        except RuntimeError:
            raise RuntimeError(log.read_text(errors="replace")) from None
        with ControlClient(config.control_socket, timeout=5) as client:
            yield client
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def tap(client: ControlClient, uid: str) -> str:
    """Present a card as the reader adapter reports it; the decision's reason."""
    result: Any = client.call("sim.read_card", uid=uid)
    return str(result["reason"])


def clock_events(client: ControlClient) -> list[dict[str, Any]]:
    """The gate's ``clock_trust`` events, oldest first."""
    events: Any = client.call("events", n=200)
    return [e for e in events if e["kind"] == "clock_trust"]
