"""``booth-list.json`` in a booth's data directory: the newest booth list its sync agent
verified (sync/wire/booth_list.py), kept as the signed message itself.

The agent writes it (``store_if_newer``: only a version newer than the one kept, through a
temporary file, fsync and rename, so a power cut leaves the old list or the new one, never
half of one). The booth reads it (``BoothListFile.current``) and verifies the signature
again: the file is in a directory the booth's user can write, and a list that did not come
from central must never let a guard in."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.atomic_file import write_atomically
from sync.wire.booth_list import BoothList
from sync.wire.envelope import MalformedMessageError, open_signed
from sync.wire.payload import ProtocolError
from sync.wire.signing import SignatureError

log = logging.getLogger(__name__)

FILE_NAME = "booth-list.json"


class ListRefused(ValueError):  # noqa: N818 - a refusal, logged by the caller
    """A booth list that is not kept: forged, malformed, for another booth, or not newer."""


def verified(public_key: Ed25519PublicKey, raw: bytes, site: str, booth: str) -> BoothList:
    """The list in ``raw`` if it is signed by central and meant for this booth."""
    try:
        booth_list = BoothList.parse(open_signed(public_key, raw))
    except (MalformedMessageError, SignatureError, ProtocolError) as exc:
        raise ListRefused(str(exc)) from exc
    if (booth_list.site, booth_list.booth) != (site, booth):
        raise ListRefused(f"a list for {booth_list.site}/{booth_list.booth}, not for "
                          f"{site}/{booth}")
    return booth_list


def store_if_newer(path: Path, public_key: Ed25519PublicKey, raw: bytes, site: str,
                   booth: str) -> BoothList:
    """Keep ``raw`` at ``path`` if it verifies and is newer than the list kept there; the
    kept list. ListRefused (with nothing changed) otherwise."""
    new = verified(public_key, raw, site, booth)
    old = _read(path, public_key, site, booth)
    if old is not None and new.version <= old.version:
        raise ListRefused(f"version {new.version} is not newer than the kept {old.version}")
    write_atomically(path, raw)
    return new


def _read(path: Path, public_key: Ed25519PublicKey, site: str, booth: str) -> BoothList | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return verified(public_key, raw, site, booth)
    except ListRefused as exc:
        log.error("%s does not verify (%s): ignored until central sends a new list", path, exc)
        return None


class BoothListFile:
    """The booth's view of the kept list, read again when the file changes."""

    def __init__(self, path: Path, public_key: Ed25519PublicKey, site: str, booth: str) -> None:
        self.path = path
        self._key = public_key
        self._site, self._booth = site, booth
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None  # (mtime_ns, size) of what was read
        self._list: BoothList | None = None

    def current(self) -> BoothList | None:
        """The newest verified list, or None before the first one arrived."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        key = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if key != self._seen:
                self._list = _read(self.path, self._key, self._site, self._booth)
                self._seen = key
            return self._list
