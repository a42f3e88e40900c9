"""The Python processes a simulated stack runs (hardware_sim.compound_processes: one
compound; hardware_sim.bridged_sites: two sites and the office), each logging to
``<root>/<name>.log``, in a session of its own, stopped in order: every device before the
desk it reports to."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO


class SpawnedProcesses:
    """Mixed into a stack's dataclass, which holds ``root`` and ``procs`` (name → process)."""

    root: Path
    procs: dict[str, subprocess.Popen[bytes]]
    _logs: list[IO[bytes]]

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        """``python -m ARGV`` as ``name``, its output appended to ``<name>.log``."""
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - closed in _stop_processes
        self._logs.append(log)
        # A session of its own: Ctrl-C in the terminal reaches the stack only, which then
        # stops each child in order (devices before the desk and brokers they report to).
        proc = subprocess.Popen([sys.executable, "-m", *argv], stdout=log, stderr=log,
                                start_new_session=True, cwd=self.root)
        self.procs[name] = proc
        return proc

    def check_alive(self) -> None:
        """RuntimeError naming any process that has exited, with its log's tail."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = (self.root / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")

    def alive_and(self, predicate: Callable[[], bool]) -> Callable[[], bool]:
        """``predicate`` for a wait, which first checks every process runs: a process that
        exited fails the wait at once with check_alive's report (its log's tail) rather than
        a timeout a minute later that says nothing of why."""
        def holds() -> bool:
            self.check_alive()
            return predicate()
        return holds

    def _stop_processes(self) -> None:
        """SIGTERM every process, the desk last; kill what does not stop within 10 s (its
        whole session: nothing it started may outlive the stack); close the logs."""
        order = [n for n in self.procs if n != "desk"] + (["desk"] if "desk" in self.procs
                                                          else [])
        for name in order:
            if self.procs[name].poll() is None:
                self.procs[name].send_signal(signal.SIGTERM)
        for name in order:
            proc = self.procs[name]
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.procs.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()
