"""gpiozero mock pins whose output changes can be watched from outside the gate's logic.

Simulation swaps the device, not the code path: the gate drives these through gpiozero as it
would drive lgpio pins on a Pi. Each output transition is handed to observers the moment it
happens, and can be appended to a file that outlives the gate process (the fault test kills
the gate with SIGKILL and then checks every relay activation against the journal)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPin

OutputObserver = Callable[[str, bool, float], None]


class ObservedMockPin(MockPin):  # type: ignore[misc]
    """A MockPin that reports every output state change to its factory's observers."""

    def _set_state(self, value: Any) -> None:
        before = self._state
        super()._set_state(value)
        if self._state != before:
            factory = self.factory
            if isinstance(factory, ObservedMockFactory):
                factory.notify(self.info.name, bool(self._state))


class ObservedMockFactory(MockFactory):  # type: ignore[misc]
    """A MockFactory whose pins report output changes (``pin name, high, monotonic time``)."""

    def __init__(self, outputs_log: Path | None = None) -> None:
        super().__init__(pin_class=ObservedMockPin)
        self.observers: list[OutputObserver] = []
        self._log_fd: int | None = None
        if outputs_log is not None:
            outputs_log.parent.mkdir(parents=True, exist_ok=True)
            # O_APPEND write(2) per line: the kernel has the line once write returns, so it
            # survives the process being killed; no Python buffering in between.
            self._log_fd = os.open(outputs_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def notify(self, pin: str, high: bool) -> None:
        """Called by pins: record and fan out one output transition."""
        mono = time.monotonic()
        if self._log_fd is not None:
            os.write(self._log_fd, f"{mono:.6f} {os.getpid()} {pin} {int(high)}\n".encode())
        for observer in list(self.observers):
            observer(pin, high, mono)

    def close(self) -> None:
        """Close the outputs log."""
        super().close()
        if self._log_fd is not None:
            os.close(self._log_fd)
            self._log_fd = None


def read_outputs_log(path: Path) -> list[tuple[float, int, str, bool]]:
    """Parse an outputs log: (monotonic time, pid, pin name, high) per transition."""
    entries: list[tuple[float, int, str, bool]] = []
    if not path.exists():
        return entries
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 4:
            entries.append((float(parts[0]), int(parts[1]), parts[2], parts[3] == "1"))
    return entries
