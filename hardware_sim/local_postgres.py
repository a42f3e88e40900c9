"""A throwaway PostgreSQL cluster on this machine: Debian's server binaries, run with
``initdb``/``pg_ctl`` as an unprivileged user, listening on 127.0.0.1 only. The test suite
and the company benchmark run the desk on it as a company would run it on its own server.

Run as root (as CI does), the cluster belongs to Debian's ``postgres`` account: PostgreSQL
refuses to run as root. Its files live in a directory of their own, never under a test's
tmp_path (which only root may enter).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from hardware_sim.local_ports import free_tcp_port

SUPERUSER = "menwei"


def server_bin(name: str) -> str:
    """Path of a PostgreSQL server program (Debian keeps them off PATH, versioned)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise RuntimeError(f"{name} not found: install Debian's 'postgresql' package (the "
                           "README's test command does)")
    return candidates[-1]


class LocalPostgres:
    """One cluster: ``start``, ``create_database`` as often as needed, ``stop`` removes it.

    ``durable=False`` turns fsync off: the suite makes thousands of throwaway databases and
    measures nothing; benchmarks keep PostgreSQL's default durability.
    """

    def __init__(self, *, durable: bool = False, port: int | None = None,
                 max_connections: int = 300) -> None:
        self.durable = durable
        # A company's desk workers each keep connections per site (its hub's threads and
        # the site's lease): a hundred sites need more than the suite's 300.
        self.max_connections = max_connections
        self.port = port or free_tcp_port()
        self.root = Path(tempfile.mkdtemp(prefix="menwei-pg-"))
        self.data = self.root / "data"
        self._owner = self._unprivileged_owner()
        self._started = False

    @staticmethod
    def _unprivileged_owner() -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "nobody"):
            try:
                return pwd.getpwnam(name)
            except KeyError:
                continue
        raise RuntimeError("running as root and no 'postgres' or 'nobody' account to run "
                           "PostgreSQL as")

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        command = list(argv)
        if self._owner is not None:
            command = ["runuser", "-u", self._owner.pw_name, "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True,
                              cwd=self.root)

    @property
    def admin_url(self) -> str:
        """The URL of the cluster's maintenance database."""
        return self.url("postgres")

    def url(self, database: str) -> str:
        """A SQLAlchemy URL for ``database`` on this cluster (driver psycopg 3)."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """initdb and start; returns when the server accepts connections."""
        if self._owner is not None:
            os.chown(self.root, self._owner.pw_uid, self._owner.pw_gid)
        self._run(server_bin("initdb"), "-D", str(self.data), "-U", SUPERUSER,
                  "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
        options = [f"-p {self.port}", "-c listen_addresses=127.0.0.1",
                   f"-c unix_socket_directories={self.root}",
                   f"-c max_connections={self.max_connections}"]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off",
                        "-c full_page_writes=off"]
        self._run(server_bin("pg_ctl"), "-D", str(self.data), "-l",
                  str(self.root / "server.log"), "-o", " ".join(options), "-w", "-t", "30",
                  "start")
        self._started = True

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create ``name`` (a copy of ``template`` if given); returns its URL."""
        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER,
                             dbname="postgres", autocommit=True) as conn:
            clause = f' TEMPLATE "{template}"' if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{clause}')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name``, closing whatever connections are still open to it."""
        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER,
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's log, for a failure message."""
        try:
            return (self.root / "server.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its files."""
        if self._started:
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run(server_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                          "stop")
            self._started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

