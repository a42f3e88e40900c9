"""The booth service of one post: its config, its file, its gates, the desk's list, and
the parts a guard works with. Built once by ``menwei-booth run`` (booth/cli.py) and handed
to the page (booth/web/app.py); tests build it over a real config and real files.

Each part (sign-in and shifts, gate controls, visitors, goods slips, temporary parking)
is one module holding its tables' migrations and its rules; it is built here over the
shared ``BoothStore``, so its records and their journal events commit together."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from booth.car_park import CarPark
from booth.gate_controls import GateControls
from booth.goods import Goods
from booth.list_file import FILE_NAME, BoothListFile
from booth.parking import Parking
from booth.post_feed import PostFeed
from booth.post_gates import PostGates, load_post_gates
from booth.refusals import BoothRefusal
from booth.shifts import Shifts
from booth.sign_in import SignIn
from booth.store import BoothStore
from booth.visitors import Visitors
from edge.ports import Clock, SystemClock
from firmware_config.booth_table import BoothConfig
from firmware_config.schema import EdgeConfig
from sync.wire.booth_list import BoothList
from sync.wire.signing import parse_public_key

SECRET_FILE = "booth.secret"


def _secret(data_dir: Path) -> bytes:
    """The key the page's cookies are signed with: made once, kept in the data directory
    (mode 0600), so a restart does not sign every guard out."""
    path = data_dir / SECRET_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(SECRET_FILE + ".tmp")
    tmp.touch(mode=0o600)
    tmp.write_text(key.hex() + "\n")
    tmp.replace(path)
    return key


@dataclass
class BoothService:
    """Everything the booth page calls; see the module docstring."""

    config: EdgeConfig
    clock: Clock = field(default_factory=SystemClock)

    def __post_init__(self) -> None:
        if self.config.booth is None or self.config.sync is None:
            raise ValueError(f"{self.config.source}: a booth needs its [booth] and [sync] "
                             "tables (the desk's list is verified with sync's central key)")
        self.booth: BoothConfig = self.config.booth
        self.device = self.config.device.id
        self.site = self.config.site.id
        self.data_dir = self.config.device.data_dir
        self.secret = _secret(self.data_dir)
        self.store = BoothStore(self.config.events_db, self.clock,
                                max_events=self.config.journal.max_events)
        self.lists = BoothListFile(self.data_dir / FILE_NAME,
                                   parse_public_key(self.config.sync.central_public_key),
                                   self.site, self.device)
        self.gates = PostGates(load_post_gates(self.booth.gates), gate_name=self.gate_name)
        # The parts, each over the shared store (one line each; see docs/booth.md).
        self.sign_in = SignIn(self.store, self.booth_list)
        self.shifts = Shifts(self.store, self.sign_in, self.booth_list)
        self.visitors = Visitors(self.store, self.booth_list)
        self.goods = Goods(self.store, self.booth_list, self.gates)
        self.parking = Parking(self.store, self.gates, self.shifts, self.booth_list, self.device)
        self.gate_controls = GateControls(self.store, self.gates)
        self.post_feed = PostFeed(self.store, self.gates)
        self.car_park = CarPark(self.gates)

    def close(self) -> None:
        """Close the booth's file."""
        self.store.close()

    def gate_name(self, device: str) -> str:
        """The gate as a guard knows it: its name in the desk's list (小区大门 for
        ``main-gate``), or its device id while the list names no such gate (no list yet, a
        list from an older desk, a gate the desk does not tie to this booth)."""
        current = self.lists.current()
        if current is not None:
            for gate in current.gates:
                if gate.device == device and gate.name:
                    return gate.name
        return device

    def booth_list(self) -> BoothList:
        """The newest list from the desk; refused (in the guard's words) before the first
        one arrived, since nobody can sign in without it."""
        current = self.lists.current()
        if current is None:
            raise BoothRefusal("尚未收到服务中心下发的岗亭名单，请联系服务中心",
                               "this booth has not yet received its list from the desk")
        return current
