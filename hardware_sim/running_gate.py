"""One gate of the simulated compound: its config file, written as an installer writes a
Pi's, and what can be seen of it from outside while it runs (its whitelist, its journal, its
outputs log), read as ``menwei-edge events`` would, without disturbing the gate."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from hardware_sim.observed_pins import read_outputs_log

STRIKE_PIN = "GPIO17"


@dataclass(frozen=True)
class GateSpec:
    """One gate controller: its device id is the desk's gate code, so the desk's gate list,
    the broker user and the events the API shows all use one name."""

    name: str
    role: str
    access_groups: tuple[str, ...]


# The example site's two lobby-type doors and its car-park lane pair (central/examples/
# site.toml): the groups are the ones the desk grants for them.
GATES = (
    GateSpec("main-gate", "door", ("common",)),
    GateSpec("b1-lobby", "door", ("b1",)),
    GateSpec("carpark-in", "barrier_entry", ("carpark",)),
    GateSpec("carpark-out", "barrier_exit", ("carpark",)),
)


@dataclass(frozen=True)
class GateSite:
    """What every gate of the compound shares: the site, its broker, the desk's key."""

    site: str
    broker_port: int
    central_public_key: str
    gates_dir: Path


@dataclass
class RunningGate:
    """One gate of the running compound. A car-park lane also has a plate camera pushing
    to ``camera_port`` and an LED display on a pty at ``display_link`` (a ``menwei-sim
    display`` process the compound starts before the gate)."""

    spec: GateSpec
    config_path: Path
    data_dir: Path
    reader_port: int
    camera_port: int = 0

    @classmethod
    def write(cls, spec: GateSpec, site: GateSite, reader_port: int,
              broker_password: str, camera_port: int = 0) -> RunningGate:
        """Write the gate's config (``gates/NAME.toml``) and its data directory; a lane
        with ``camera_port`` gets its plate camera and display."""
        data = site.gates_dir / spec.name
        data.mkdir(parents=True)
        (data / "broker.password").write_text(broker_password + "\n")
        doc: dict[str, Any] = {
            "site": {"id": site.site, "timezone": "Asia/Shanghai"},
            "device": {"id": spec.name, "role": spec.role,
                       "access_groups": list(spec.access_groups), "data_dir": str(data)},
            "reader": {"kind": "nfc", "path": f"udp:127.0.0.1:{reader_port}",
                       "debounce": "2s"},
            "gpio": {"backend": "simulated"},
            "simulation": {"outputs_log": str(data / "outputs.log")},
            "sync": {"broker_port": site.broker_port,
                     "password_file": str(data / "broker.password"),
                     "central_public_key": site.central_public_key,
                     # Short: the demo and the tests stop and start the broker, and should
                     # not wait out a long backoff to see the gates catch up.
                     "reconnect_max": "2s", "status_interval": "5s"},
        }
        if spec.role == "door":
            doc["door"] = {"strike": {"pin": 17}, "pulse": "3s", "held_open_after": "30s",
                           "rex": {"pin": 27, "active_high": False, "pull_up": True},
                           "contact": {"pin": 22, "pull_up": True}}
        else:
            doc["barrier"] = {
                "raise_out": {"pin": 5}, "lower_out": {"pin": 6},
                "open_limit": {"pin": 13, "active_high": False, "pull_up": True},
                "closed_limit": {"pin": 19, "active_high": False, "pull_up": True},
                "arming_loop": {"pin": 20}, "safety_loop": {"pin": 21},
                "max_open": "45s",
            }
            # Entry and exit share one presence file: together they are one car park.
            doc["antipassback"] = {"mode": "hard", "reset_after": "12h",
                                   "presence_db": str(site.gates_dir / "carpark-presence.db")}
            if camera_port:
                # A resident's card or the car's plate opens; an unknown car goes in as a
                # temporary car and pays at the exit booth.
                doc["lane"] = {"credentials": "card_or_plate",
                               "admit_temporary": spec.role == "barrier_entry"}
                doc["camera"] = {"listen_host": "127.0.0.1", "listen_port": camera_port,
                                 "camera_address": "127.0.0.1"}
                doc["display"] = {"path": str(data / "display.tty")}
        path = site.gates_dir / f"{spec.name}.toml"
        path.write_text(tomli_w.dumps(doc))
        return cls(spec, path, data, reader_port, camera_port)

    @property
    def has_lane_devices(self) -> bool:
        """Whether this gate is a lane with a plate camera and a display."""
        return self.camera_port != 0

    @property
    def display_link(self) -> Path:
        """The lane display's serial device (a symlink to the simulator's pty)."""
        return self.data_dir / "display.tty"

    @property
    def display_state(self) -> Path:
        """What the simulated display shows and has said (hardware_sim.lane_display_sim)."""
        return self.data_dir / "display.json"

    @property
    def camera_url(self) -> str:
        """Where the lane's plate camera pushes its reads."""
        return f"http://127.0.0.1:{self.camera_port}/plate"

    @property
    def reader(self) -> str:
        """The reader path for ``menwei-sim tap --reader``."""
        return f"udp:127.0.0.1:{self.reader_port}"

    @property
    def auth_db(self) -> Path:
        """The gate's whitelist, written by its sync agent."""
        return self.data_dir / "auth.db"

    @property
    def events_db(self) -> Path:
        """The gate's journal."""
        return self.data_dir / "events.db"

    @property
    def outputs_log(self) -> Path:
        """Every simulated output transition (hardware_sim.observed_pins)."""
        return self.data_dir / "outputs.log"

    def card_status(self, uid: str) -> str | None:
        """The card's status in this gate's whitelist; None while it is not there."""
        status = _query_one(self.auth_db, "SELECT status FROM cards WHERE uid = ?", (uid,))
        return None if status is None else str(status)

    def journal(self) -> list[dict[str, Any]]:
        """Every journalled event: seq, kind, uid, granted, reason."""
        try:
            with _ro(self.events_db) as conn:
                rows = conn.execute("SELECT seq, kind, uid, granted, reason FROM events "
                                    "ORDER BY seq").fetchall()
        except sqlite3.OperationalError:
            return []
        return [{"seq": r[0], "kind": r[1], "uid": r[2], "granted": r[3], "reason": r[4]}
                for r in rows]

    def taps(self) -> list[tuple[str, str]]:
        """(uid, reason) of every tap, oldest first."""
        return [(e["uid"], e["reason"]) for e in self.journal() if e["kind"] == "tap"]

    def strike_pulses(self) -> int:
        """How often the door strike was energised."""
        return sum(1 for _m, _p, pin, high in read_outputs_log(self.outputs_log)
                   if pin == STRIKE_PIN and high)


class _ro:  # noqa: N801 - used like a function in ``with``
    """A short-lived read connection to a database another process writes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None

    def __enter__(self) -> sqlite3.Connection:
        if not self.path.exists():
            # Connecting would create an empty file the owner then finds in its way.
            raise sqlite3.OperationalError(f"{self.path} does not exist yet")
        self.conn = sqlite3.connect(self.path, timeout=5)
        return self.conn

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            self.conn.close()


def _query_one(path: Path, sql: str, params: Sequence[Any]) -> Any:
    try:
        with _ro(path) as conn:
            row = conn.execute(sql, params).fetchone()
    except sqlite3.OperationalError:
        return None  # not created yet, or the table not yet migrated
    return None if row is None else row[0]
