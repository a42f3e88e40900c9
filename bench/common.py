"""Shared pieces of the benchmarks: percentiles and their printed line, store building,
config, process RSS, and where the files go (the filesystem they are on)."""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import tomli_w

from edge.auth_store import AuthStore
from edge.card_record import CardRow
from edge.cards import CardStatus
from firmware_config.schema import EdgeConfig, parse_config

RENOVATION = "Mon-Sat 08:00-12:00 14:00-18:00"
REPOSITORY = Path(__file__).resolve().parent.parent
SYSTEM_DATA_DIR = Path("/var/lib/menwei-bench")
FREE_FILESYSTEMS = ("tmpfs", "ramfs")  # fsync costs nothing there


def figures(name: str, ms: Sequence[float], *, width: int = 34, digits: int = 2) -> str:
    """One printed line of percentiles: ``name``, p50, p99 and max in milliseconds."""
    return (f"{name:<{width}} p50 {percentile(ms, 50):7.{digits}f} ms  "
            f"p99 {percentile(ms, 99):7.{digits}f} ms  max {max(ms):7.{digits}f} ms")


def mount_of(path: Path) -> tuple[str, str, str]:
    """(device, filesystem type, mount point) of the mount holding ``path``, from
    /proc/mounts; ("?", "?", "") when none is found."""
    target = str(path.resolve())
    best = ("?", "?", "")
    for line in Path("/proc/mounts").read_text().splitlines():
        device, mount, kind = line.split()[:3]
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best[2]):
            best = (device, kind, mount)
    return best


def filesystem_of(path: Path) -> str:
    """The filesystem type ``path`` is on (a tmpfs would make every fsync free)."""
    return mount_of(path)[1]


def default_data_dir() -> Path:
    """/var/lib/menwei-bench when it can be made and written, else the repository's var/."""
    try:
        SYSTEM_DATA_DIR.mkdir(parents=True, exist_ok=True)
        if os.access(SYSTEM_DATA_DIR, os.W_OK):
            return SYSTEM_DATA_DIR
    except OSError:
        pass
    return REPOSITORY / "var" / "menwei-bench"


@contextlib.contextmanager
def data_folder(given: Path | None, prefix: str) -> Iterator[tuple[Path, str]]:
    """A fresh folder for one run under ``given`` (or ``default_data_dir()``), where a gate
    keeps its data, and its filesystem type; both printed, with a warning on a filesystem
    where fsync is free. Removed afterwards."""
    root = (given or default_data_dir()).resolve()
    root.mkdir(parents=True, exist_ok=True)
    fs = filesystem_of(root)
    with tempfile.TemporaryDirectory(prefix=prefix, dir=root) as tmp:
        print(f"files in {tmp}, on {fs}")
        if fs in FREE_FILESYSTEMS:
            print(f"WARNING: {fs} makes every fsync free: these figures flatter; give "
                  "--data-dir on the filesystem a gate keeps its data on")
        yield Path(tmp), fs


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def card_uid(i: int) -> str:
    """The i-th benchmark card's UID (7 bytes, NXP-style)."""
    return f"04{i:012X}"


def _rows(n: int, seed: int) -> Iterator[CardRow]:
    rng = random.Random(seed)
    for i in range(n):
        r = rng.random()
        status = CardStatus.ACTIVE
        valid_until: date | None = date(2030, 1, 1)
        groups: tuple[str, ...] = ("b1",)
        schedule = None
        if r < 0.03:
            status = CardStatus.LOST
        elif r < 0.05:
            status = CardStatus.REVOKED
        elif r < 0.08:
            valid_until = date(2020, 1, 1)
        elif r < 0.10:
            groups = ("b9",)
        elif r < 0.15:
            schedule = RENOVATION
        yield CardRow(card_uid(i), status, date(2020, 1, 1), valid_until, groups, schedule,
                      "owner", None)


def build_store(path: Path, cards: int, seed: int = 1) -> None:
    """Fill ``path`` with ``cards`` cards: mostly valid, some lost, revoked, expired,
    not permitted, on a renovation schedule."""
    store = AuthStore(path)
    store.upsert(_rows(cards, seed), applied_seq=1)
    store.close()


def door_config(data_dir: Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A simulated door's configuration document."""
    doc: dict[str, Any] = {
        "site": {"id": "bench", "timezone": "Asia/Shanghai"},
        "device": {"id": "bench-door", "role": "door", "access_groups": ["b1"],
                   "data_dir": str(data_dir)},
        "gpio": {"backend": "simulated"},
        "door": {"strike": {"pin": 17}, "pulse": "1s",
                 "rex": {"pin": 27, "active_high": False, "pull_up": True},
                 "contact": {"pin": 22, "pull_up": True}},
    }
    doc.update(extra or {})
    return doc


def write_config(path: Path, doc: dict[str, Any]) -> EdgeConfig:
    """Write a config document as TOML and return it validated."""
    path.write_text(tomli_w.dumps(doc))
    return parse_config(doc, path)


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) of a live process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a live process has used so far, in seconds: what a server
    spent on a request, undisturbed by the other work queued on a busy machine."""
    # Fields after the command name, which is in parentheses and may hold spaces.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def entry_lane_config(data_dir: Path, *, arm_travel: str = "200ms",
                      close_delay: str = "200ms") -> dict[str, Any]:
    """A simulated car-park entry lane taking cards, with hard anti-passback (so a grant
    looks the card up in the presence file too); short arm travel and close delay so a
    benchmark's vehicles follow each other quickly."""
    return {
        "site": {"id": "bench", "timezone": "Asia/Shanghai"},
        "device": {"id": "bench-lane", "role": "barrier_entry", "access_groups": ["b1"],
                   "data_dir": str(data_dir)},
        "gpio": {"backend": "simulated"},
        "simulation": {"arm_travel": arm_travel},
        "barrier": {
            "raise_out": {"pin": 5}, "lower_out": {"pin": 6},
            "open_limit": {"pin": 13, "active_high": False, "pull_up": True},
            "closed_limit": {"pin": 19, "active_high": False, "pull_up": True},
            "arming_loop": {"pin": 20}, "safety_loop": {"pin": 21},
            "close_delay": close_delay, "passage_gap": close_delay,
        },
        "antipassback": {"mode": "hard", "reset_after": "12h",
                         "presence_db": str(data_dir / "presence.db")},
        "lane": {"credentials": "card"},
    }
