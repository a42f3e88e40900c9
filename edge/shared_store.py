"""One SQLite file that other processes may have open too, kept usable through faults.

A ``SharedStore`` opens its file under the shared lock of ``edge.storage_check``, hands the
opened object (a Journal, an AuthStore, ...) to its owner, and never raises a storage error
at it: an open that fails is retried on the next ``poll``; a file found damaged (by the open
check, by the background ``quick_check`` or by any query) is replaced — the request is
posted, every holder lets go, whoever gets the exclusive lock moves it aside and opens a
new one. The owner journals what was moved (``notices``) and asks ``current`` before use.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from edge.migrations import SchemaTooNewError
from edge.storage_check import (
    FileId,
    FileLock,
    Moved,
    ReplaceRequest,
    clear_request,
    describe,
    file_id,
    is_damage,
    is_storage_error,
    move_aside,
    open_check,
    read_request,
    request_replacement,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


class StoreUnavailable(Exception):  # noqa: N818 - a state, not a failure of the caller's
    """The file is not open right now (being replaced, or the last open failed)."""


class SharedStore(Generic[T]):
    """``path`` opened with ``opener`` under the shared lock, replaced when damaged.

    Call ``poll`` periodically (and it is cheap: one ``stat`` while all is well); call
    ``failed`` with any storage error a query on ``current`` raised.
    """

    def __init__(self, path: Path, opener: Callable[[Path], T], closer: Callable[[T], None],
                 *, who: str) -> None:
        self.path = path
        self._opener = opener
        self._closer = closer
        self._who = who
        self._lock = FileLock(path)
        self._file: FileId | None = None
        self._damaged: tuple[FileId, str] | None = None  # found damaged here, not yet moved
        self.current: T | None = None
        self.last_error: str | None = None
        self.notices: list[Moved] = []  # moved aside by this process; the owner journals them
        self.opened = 0  # how many times a file was opened (a change means a new file)
        self.waiting = False  # the last open attempt waited for another process's lock
        self.closed = False

    @property
    def file(self) -> FileId | None:
        """Which file is open (device, inode); None when none is."""
        return self._file if self.current is not None else None

    def get(self) -> T:
        """The open object, or StoreUnavailable naming the last error."""
        if self.current is None:
            raise StoreUnavailable(f"{self.path.name}: {self.last_error or 'not open'}")
        return self.current

    def open_at_start(self, wait: float) -> None:
        """Open (checking first, moving aside if damaged), waiting up to ``wait`` seconds for
        another process that is checking or letting go — not for a storage error, which is
        only retried by later polls. Never raises a storage error; raises SchemaTooNewError,
        a permanent fault."""
        deadline = time.monotonic() + wait
        while True:
            self.poll()
            pending = self.waiting or self._damaged is not None  # others have to let go
            if self.current is not None or not pending or time.monotonic() >= deadline:
                return
            time.sleep(0.05)

    def poll(self) -> None:
        """Let go when someone asked for the file to be replaced; otherwise (re)open it."""
        if self.closed:
            return
        if self.current is not None:
            if self.replacement_requested():
                log.warning("%s: asked to let go of it, to have it replaced", self.path)
                self._let_go()
            return
        try:
            self._try_open()
        except SchemaTooNewError:
            raise
        except Exception as exc:
            if not is_storage_error(exc):
                raise
            self._note(exc)
            self._let_go()

    def use(self, action: Callable[[T], R], default: R) -> R:
        """``action(current)``; ``default`` when the file is not open or the action fails on
        storage (noted in ``last_error``; a damaged file gets replaced)."""
        if self.current is None:
            return default
        try:
            result = action(self.current)
        except Exception as exc:
            if not is_storage_error(exc):
                raise
            self.failed(exc)
            return default
        self.succeeded()
        return result

    def succeeded(self) -> None:
        """A query on ``current`` worked: the last error is over."""
        if self.last_error is not None:
            log.info("%s works again", self.path)
            self.last_error = None

    def failed(self, exc: BaseException) -> None:
        """A query on ``current`` raised ``exc``: remember it; have a damaged file replaced."""
        self._note(exc)
        if is_damage(exc):
            self.report_damage(describe(exc))

    def report_damage(self, reason: str, file: FileId | None = None) -> None:
        """``file`` (default: the one open) is damaged: ask every holder to let go of it, and
        let go here (the next ``poll`` moves it aside once nobody has it open)."""
        if self.post_damage(reason, file):
            self._let_go()

    def post_damage(self, reason: str, file: FileId | None = None) -> bool:
        """Ask for ``file`` to be replaced without letting go yet (for an owner that must
        close its own connections first). False if that file was replaced already."""
        file = file or self._file
        if file is None or (self.current is not None and file != self._file):
            return False
        self.last_error = reason
        self._damaged = (file, reason)
        try:
            request_replacement(self.path, file, reason, self._who)
        except OSError as exc:
            # A full disk can refuse even this small file; the other holders then keep the
            # file until they hit the damage themselves, and it is posted again at each poll.
            log.warning("%s: cannot post the replacement request: %s", self.path, exc)
        return True

    def replacement_requested(self) -> bool:
        """Someone (this process included) asked for the open file to be replaced."""
        if self.current is None:
            return False
        request = read_request(self.path)
        return request is not None and request.file == self._file

    def close(self) -> None:
        """Close for good (shutdown)."""
        self._let_go()
        self.closed = True

    def status(self) -> dict[str, object]:
        """For the status page: whether the file is open, and the last error."""
        return {"file": str(self.path), "open": self.current is not None,
                "error": self.last_error}

    # ------------------------------------------------------------------ internals

    def _note(self, exc: BaseException) -> None:
        message = describe(exc)
        if message != self.last_error:
            log.error("%s: %s", self.path, message)
        self.last_error = message

    def _let_go(self) -> None:
        if self.current is not None:
            current, self.current = self.current, None
            try:
                self._closer(current)
            except Exception as exc:
                if not is_storage_error(exc):
                    raise
                log.warning("%s: closing: %s", self.path, describe(exc))
        self._lock.release()

    def _try_open(self) -> None:
        request = read_request(self.path)
        if self._damaged is not None and request is None and self._damaged[0] == file_id(
                self.path):
            # Our own request could not be written (disk full): post it again. Failing
            # that, the exclusive lock below is still tried (it honours _damaged).
            with contextlib.suppress(OSError):
                request_replacement(self.path, *self._damaged, self._who)
                request = read_request(self.path)
        self.waiting = False
        if self._lock.try_exclusive():
            try:
                self._open_exclusive(request)
            except BaseException:
                self._lock.release()
                raise
            self._lock.downgrade()
        elif request is None and self._lock.try_shared():
            try:
                self._open(exclusive=False)
            except BaseException:
                self._lock.release()
                raise
        else:
            # Another process is checking the file, or has yet to let go of a damaged one.
            self.waiting = True

    def _open_exclusive(self, request: ReplaceRequest | None) -> None:
        """Nobody else has the file open: check it, move it aside if damaged, open."""
        current = file_id(self.path)
        reason: str | None = None
        if self._damaged is not None and self._damaged[0] == current:
            reason = self._damaged[1]
        elif request is not None and request.file == current:
            reason = request.reason
        elif current is not None:
            reason = open_check(self.path)
        if reason is not None:
            self._move(reason)
        clear_request(self.path)
        self._damaged = None
        self._open(exclusive=True)

    def _move(self, reason: str) -> None:
        moved = move_aside(self.path, reason)
        log.error("%s was damaged (%s): moved to %s", self.path, reason, moved.moved_to)
        self.notices.append(moved)

    def _open(self, *, exclusive: bool) -> None:
        try:
            obj = self._opener(self.path)
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            if not exclusive:
                # Others have it open: ask them to let go; the next poll moves it.
                self.report_damage(describe(exc), file_id(self.path))
                raise
            self._move(describe(exc))
            obj = self._opener(self.path)
        self.current = obj
        self._file = file_id(self.path)
        self.opened += 1
        self.last_error = None

