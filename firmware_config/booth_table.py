"""The ``[booth]`` table of a guard's booth (``device.role = "booth"``): which gates its post
drives and where its page listens. Declared once here; the reader and the reference come
from it."""
# No `from __future__ import annotations`: see firmware_config.operation_tables.

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from firmware_config.settings import FilePaths, Text, Whole
from firmware_config.table_shapes import Absent, Table


@dataclass(frozen=True)
class BoothConfig:
    """A guard's booth: its post, its gates and its page."""

    post: Annotated[str, Text(doc=(
        "The post's name as guards know it, e.g. `\"东门岗\"`; printed on shift reports and "
        "receipts. Guard accounts are allowed posts by the booth's device id."))]
    gates: Annotated[tuple[Path, ...], FilePaths(doc=(
        "The config files of the gates this booth drives (their `device.id`, role and "
        "control socket are read from them), e.g. `[\"/etc/menwei/main-gate.toml\"]`. The "
        "booth must be able to reach each gate's control socket (same Pi, or a socket "
        "forwarded over the booth's LAN segment)."))]
    listen_host: Annotated[str, Text(default="127.0.0.1", doc=(
        "Where the booth page listens. `127.0.0.1` for a screen on the same machine; the "
        "booth PC's LAN address for a screen next to it. Never the site-wide network."))]
    listen_port: Annotated[int, Whole(1, 65535, default=8088, doc="The booth page's port.")]


BOOTH = Table("booth", BoothConfig, Absent.ERROR,
              "Required when `device.role = \"booth\"`, refused otherwise.")
