"""Replacing a small file so that a reader, a crash or a power cut sees the old content or
the new, never a part: the rules, lists, marks and states the gate, the agent and the booth
keep beside their databases."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, data: str | bytes) -> None:
    """Replace ``path`` by ``data`` (text is written as UTF-8): a temporary file beside it,
    fsync'd, renamed over it, and the folder fsync'd so the rename itself is durable. The
    folder is created if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_folder(path.parent)


def fsync_folder(path: Path) -> None:
    """Make a rename or an unlink in ``path`` durable: it is only once the directory entry
    is."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
