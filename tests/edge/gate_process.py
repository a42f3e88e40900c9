"""Real gate processes (``python -m edge.cli run``) and real storage faults for them: a small
tmpfs that can be filled, a file damaged on disk."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge.control_socket import wait_until_answering
from firmware_config.schema import EdgeConfig


def start_gate(config: EdgeConfig, *, stderr: Path | None = None,
               env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``menwei-edge run`` on ``config`` and wait until it answers on its socket."""
    err = open(stderr, "ab") if stderr is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config",
                                 str(config.source)], stdout=subprocess.DEVNULL, stderr=err,
                                env=None if env is None else {**os.environ, **env})
    finally:
        if stderr is not None:
            err.close()  # type: ignore[union-attr]
    wait_until_answering(config.control_socket, 20, proc)
    return proc


def stop_gate(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM and wait; the exit code."""
    if proc.poll() is None:
        proc.terminate()
    return proc.wait(10)


@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str = "4m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``folder`` (we run as root); unmounted at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                             str(folder)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {result.stderr.strip()}")
    try:
        yield folder
    finally:
        # Lazy: a gate that failed the test may still hold files in it.
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Write a ballast file until the file system is full; return it."""
    ballast = folder / "ballast"
    chunk = b"\0" * 65536
    with open(ballast, "wb", buffering=0) as fh:
        while True:
            try:
                fh.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                break
    # What a 64 kB write could not take, a byte at a time, so not one page is left.
    with open(ballast, "ab", buffering=0) as fh:
        while True:
            try:
                fh.write(b"\0")
            except OSError:
                break
    return ballast


def page_size(path: Path) -> int:
    """The database's page size."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("PRAGMA page_size").fetchone()[0])
    finally:
        conn.close()


def damage_pages(path: Path, first: int, count: int = 1) -> None:
    """Overwrite pages ``first``.. (1-based, as SQLite numbers them) with junk, the way a
    failing SD card does. The file must be closed (no WAL left) for this to mean anything."""
    size = page_size(path)
    junk = bytes((i * 37 + 11) % 251 for i in range(size))
    with open(path, "r+b") as fh:
        for page in range(first, first + count):
            fh.seek((page - 1) * size)
            fh.write(junk)
        fh.flush()
        os.fsync(fh.fileno())


def table_pages(path: Path, table: str) -> list[int]:
    """The pages of ``table``'s b-tree (leaves and interior), from SQLite's dbstat."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [int(r[0]) for r in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = ? ORDER BY pageno", (table,))]
    finally:
        conn.close()


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    """Poll until ``predicate`` is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.05)


def moved_aside(path: Path) -> list[Path]:
    """The damaged copies of ``path`` that were moved aside (main files only)."""
    return sorted(p for p in path.parent.glob(f"{path.name}.damaged-*")
                  if not p.name.endswith(("-wal", "-shm")))


class NotifySocket:
    """A stand-in for systemd's notify socket: collects the gate's ``KEY=VALUE`` datagrams."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.setblocking(False)
        self.messages: list[str] = []

    def statuses(self) -> list[str]:
        """Every ``STATUS=`` line received so far."""
        while True:
            try:
                self.messages.append(self._sock.recv(4096).decode())
            except BlockingIOError:
                break
        return [line.removeprefix("STATUS=") for m in self.messages
                for line in m.splitlines() if line.startswith("STATUS=")]

    def close(self) -> None:
        self._sock.close()
