"""What a card reader reports, recorded from its own thread, for the reader tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping


class Recorder:
    """``on_card`` and the EventSink of a reader, with waits on what arrives."""

    def __init__(self, timeout: float) -> None:
        self._cond = threading.Condition()
        self._timeout = timeout
        self.cards: list[str] = []
        self.events: list[tuple[str, dict[str, object], bool]] = []

    def on_card(self, uid: str) -> None:
        with self._cond:
            self.cards.append(uid)
            self._cond.notify_all()

    def __call__(self, kind: str, data: Mapping[str, object], *, alarm: bool = False) -> None:
        with self._cond:
            self.events.append((kind, dict(data), alarm))
            self._cond.notify_all()

    def kinds(self) -> list[str]:
        with self._cond:
            return [kind for kind, _, _ in self.events]

    def of_kind(self, kind: str) -> list[dict[str, object]]:
        with self._cond:
            return [data for k, data, _ in self.events if k == kind]

    def wait_for(self, predicate: Callable[[], bool], timeout: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, self._timeout if timeout is None else timeout)
