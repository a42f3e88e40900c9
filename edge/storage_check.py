"""Checking the edge's SQLite files, and moving a damaged one aside (kept, never deleted).

Several processes open the same files: the gate and the sync agent share ``auth.db`` and
``events.db``, the two lanes of a car park share ``presence.db``. A damaged file may only be
moved while no process has it open, because SQLite deletes a WAL and its shared-memory file
*by name* when its last connection closes: a connection left open on a moved file would, on
closing, delete the new file's WAL. So, for every file ``F``:

- a process holds a shared ``flock`` on ``F.lock`` for as long as it has ``F`` open;
- ``F`` is moved aside only under the exclusive lock, that is when nobody has it open;
- a process that finds ``F`` damaged while others may have it open writes ``F.replace``
  (naming the damaged file by device and inode), closes ``F`` and lets go of its lock; the
  others notice the request on their next tick and do the same; whoever then gets the
  exclusive lock moves ``F`` (with its ``-wal`` and ``-shm``) to ``F.damaged-<UTC time>``
  and opens a new one. (``edge.shared_store`` runs this.)

This module holds the pieces: what counts as a storage error or as damage, the checks, the
move, the lock and the replacement request.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

# SQLite's primary result codes for a damaged file (extended codes keep these in the low byte).
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
DAMAGED_INFIX = ".damaged-"

FileId = tuple[int, int]  # (st_dev, st_ino): which file a path named when it was looked at


def is_storage_error(exc: BaseException) -> bool:
    """A fault of the disk or of a file (full, I/O error, damaged, unreadable), as opposed to
    a bug in the code (a misused connection, a constraint) that must not be hidden."""
    if isinstance(exc, OSError):
        return True
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(
        exc, sqlite3.ProgrammingError | sqlite3.IntegrityError | sqlite3.NotSupportedError)


def is_damage(exc: BaseException) -> bool:
    """SQLite says the file itself is damaged ("database disk image is malformed", "file is
    not a database"): retrying cannot help, the file has to be replaced."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.DatabaseError) and code is not None and \
        code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def describe(exc: BaseException) -> str:
    """One line for status pages and the journal: ``disk I/O error``, ``[Errno 28] ...``."""
    return str(exc) or type(exc).__name__


def file_id(path: Path) -> FileId | None:
    """Which file ``path`` names right now, or None when there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


def _read_only(path: Path) -> sqlite3.Connection:
    # mode=ro: a read-only connection never checkpoints or deletes the WAL when it closes,
    # so checking can never disturb a file another connection is using.
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                           check_same_thread=False)


def _read(path: Path, statements: tuple[str, ...]) -> tuple[list[str], str | None]:
    """The rows of the last statement, or the damage SQLite reported on the way. Other
    storage errors (a full disk, an I/O error) are raised: they say nothing about the file."""
    try:
        conn = _read_only(path)
        try:
            rows: list[str] = []
            for sql in statements:
                rows = [str(r[0]) for r in conn.execute(sql).fetchall()]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if is_damage(exc):
            return [], describe(exc)
        raise
    return rows, None


def open_check(path: Path) -> str | None:
    """The quick check made before a file is opened: its header and schema are readable.

    Returns what is wrong when SQLite reports damage, None when the file looks sound or does
    not exist yet.
    """
    if not path.exists():
        return None
    return _read(path, ("PRAGMA schema_version", "SELECT count(*) FROM sqlite_master",
                        "PRAGMA user_version"))[1]


def quick_check(path: Path) -> str | None:
    """``PRAGMA quick_check`` over the whole file (every page of every b-tree; not the
    indexes' agreement with their tables, which ``integrity_check`` adds).

    Returns what is wrong, or None when the file is sound. It reads the whole file: ~1.6 s
    for a million cards here (70 MB), so the gate runs it after it is ready, not before.
    """
    rows, damage = _read(path, ("PRAGMA quick_check(5)",))
    if damage is not None:
        return damage
    # One line for a status page and the journal (SQLite puts several in its first row).
    return None if rows == ["ok"] else "; ".join(" ".join(row.split()) for row in rows)


@dataclass(frozen=True)
class Moved:
    """A damaged file that was moved aside."""

    path: Path
    moved_to: Path
    reason: str

    def as_event(self) -> dict[str, object]:
        """The ``storage_damaged`` alarm's data."""
        return {"file": str(self.path), "moved_to": str(self.moved_to), "reason": self.reason}


def move_aside(path: Path, reason: str, *, now: float | None = None) -> Moved:
    """Rename ``path`` and its ``-wal`` and ``-shm`` to ``path.damaged-<UTC time>`` (plus the
    same suffixes, so the copy still opens with its WAL). Call only under the exclusive lock.
    """
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    target = path.with_name(f"{path.name}{DAMAGED_INFIX}{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}{DAMAGED_INFIX}{stamp}-{n}")
    # The WAL goes first: a main file without its WAL would be opened as an older state.
    for suffix in ("-wal", "-shm", ""):
        source = path.with_name(path.name + suffix)
        if source.exists():
            os.rename(source, target.with_name(target.name + suffix))
    _sync_dir(path.parent)
    return Moved(path, target, reason)


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- folders

# A folder that cannot be made or written for these reasons stays so until someone acts.
_PERMANENT_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.ELOOP,
                               errno.ENAMETOOLONG, errno.EEXIST})


class UnusableFolderError(Exception):
    """A data folder that cannot be created or written, for a reason no retry will fix."""


def check_folder(folder: Path) -> None:
    """Create ``folder`` if needed and check that files can be made in it.

    Raises UnusableFolderError for a permanent fault (permissions, a file in the way, a
    read-only file system where the folder does not exist yet). A full disk or an I/O error
    is not raised: the files are retried while the process runs.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT):
            return
        raise UnusableFolderError(f"{folder} cannot be created: {exc.strerror}") from exc
    probe = folder / f".write-probe-{os.getpid()}"
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
        probe.unlink()
    except OSError as exc:
        if exc.errno in _PERMANENT_ERRNOS:
            raise UnusableFolderError(f"{folder} is not writable: {exc.strerror}") from exc


# ----------------------------------------------------------------------- replacement request


@dataclass(frozen=True)
class ReplaceRequest:
    """``F.replace``: a process found ``F`` damaged and asks every holder to let go of it."""

    file: FileId
    reason: str
    by: str


def _request_path(path: Path) -> Path:
    return path.with_name(path.name + ".replace")


def request_replacement(path: Path, file: FileId, reason: str, by: str) -> None:
    """Ask every process that has ``path`` open to let go, so that it can be moved aside."""
    target = _request_path(path)
    tmp = target.with_name(target.name + f".{os.getpid()}")
    tmp.write_text(json.dumps({"dev": file[0], "ino": file[1], "reason": reason, "by": by}))
    os.replace(tmp, target)


def read_request(path: Path) -> ReplaceRequest | None:
    """The pending request for ``path``, if any (an unreadable one counts as none)."""
    try:
        doc = json.loads(_request_path(path).read_text())
        return ReplaceRequest((int(doc["dev"]), int(doc["ino"])), str(doc["reason"]),
                              str(doc["by"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        # Torn by a crash while written: the damage will be found again when it matters.
        return None


def clear_request(path: Path) -> None:
    """Remove the request (after the move, or when it names a file that is gone)."""
    with contextlib.suppress(FileNotFoundError):
        _request_path(path).unlink()


# ------------------------------------------------------------------------------------ lock


class FileLock:
    """The ``flock`` on ``F.lock`` that says who has ``F`` open (see the module docstring).

    ``flock`` locks belong to this process's open file and vanish with it, so a killed
    process never leaves a file locked.
    """

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        self._fd: int | None = None
        self.held: str | None = None  # "shared", "exclusive" or None

    def _lock(self, how: int) -> bool:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o660)
        try:
            fcntl.flock(self._fd, how)
        except BlockingIOError:
            return False
        return True

    def try_exclusive(self) -> bool:
        """Take the exclusive lock if nobody else holds any; never waits."""
        if self._lock(fcntl.LOCK_EX | fcntl.LOCK_NB):
            self.held = "exclusive"
            return True
        return False

    def try_shared(self) -> bool:
        """Take the shared lock unless someone holds the exclusive one; never waits."""
        if self._lock(fcntl.LOCK_SH | fcntl.LOCK_NB):
            self.held = "shared"
            return True
        return False

    def downgrade(self) -> None:
        """Exclusive to shared. Not atomic with flock, so it waits if another process slips
        in between (it can only be checking a file that is sound: ours was just opened)."""
        self._lock(fcntl.LOCK_SH)
        self.held = "shared"

    def release(self) -> None:
        """Let go (the lock file itself stays)."""
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None
        self.held = None
