"""A booth over real files for tests: a door and a car-park lane pair as real gate
processes (``menwei-edge run`` with simulated pins), the booth's config naming them, a
central signing key and the signed booth list the desk would publish. ``car_park()`` makes
the lane pair a car park's (plate cameras, the site's rules naming the car park)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomli_w
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from booth.list_file import FILE_NAME, store_if_newer
from booth.service import BoothService
from edge.atomic_file import write_atomically
from edge.control_socket import ControlClient
from edge.site_rules import FILE_NAME as RULES_FILE
from edge.site_rules import Lot, SiteRules, SpaceClass
from firmware_config.schema import EdgeConfig, load_config
from hardware_sim.local_ports import free_tcp_port
from hardware_sim.plate_camera_sim import push_plate
from sync.wire.booth_list import (
    BoothGate,
    BoothGoodsPass,
    BoothGuard,
    BoothList,
    BoothSlip,
    BoothVisitorPass,
    ParkingTariff,
)
from sync.wire.signing import public_key_text, sign
from tests.edge.conftest import barrier_doc, door_doc
from tests.edge.gate_process import start_gate, stop_gate

SITE = "test-site"
BOOTH = "booth-east"
PASSWORD = "guard-pass-1"
TARIFF = ParkingTariff(free_minutes=15, day_per_hour_fen=500, night_per_hour_fen=200,
                       night_start="22:00", night_end="07:00", daily_cap_fen=4000)


def guard_hash(password: str = PASSWORD) -> str:
    """An argon2id hash as the desk keeps it (cheap parameters: tests hash often)."""
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(password)


GUARDS = (BoothGuard("wang.guard", "王保安", ""), BoothGuard("li.guard", "李保安", ""))
# The rig's gates as the desk names them (the pages show these, not the device ids).
GATES = (BoothGate("door-1", "1栋大堂门"), BoothGate("lane-barrier_entry", "停车场入口"),
         BoothGate("lane-barrier_exit", "停车场出口"))
# The car park of ``BoothRig.car_park``: both lanes of the rig count it.
LOT = Lot("main", "地下车库", ("lane-barrier_entry", "lane-barrier_exit"),
          {SpaceClass.TEMPORARY: 30, SpaceClass.MONTHLY: 60, SpaceClass.FIXED: 20})


def booth_list(version: int = 1, *, guards: Iterable[BoothGuard] | None = None,
               slips: Iterable[BoothSlip] = (), goods_passes: Iterable[BoothGoodsPass] = (),
               visitor_passes: Iterable[BoothVisitorPass] = (),
               tariff: ParkingTariff = TARIFF, issued_at: float | None = None,
               float_limit_fen: int = 60000,
               gates: Iterable[BoothGate] = GATES) -> BoothList:
    """A list as the desk would build it, naming the rig's gates; every guard's password
    is ``PASSWORD``."""
    hashed = guard_hash()
    return BoothList(
        SITE, BOOTH, version, time.time() if issued_at is None else issued_at,
        "Asia/Shanghai", float_limit_fen, tariff,
        tuple(replace(g, password_hash=g.password_hash or hashed)
              for g in (GUARDS if guards is None else guards)),
        tuple(slips), tuple(goods_passes), tuple(visitor_passes), tuple(gates))


@dataclass
class BoothRig:
    """The booth's config and files, and the gates it drives."""

    root: Path
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    gate_configs: dict[str, EdgeConfig] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    config: EdgeConfig | None = None
    gate_docs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def write(self, **booth: Any) -> EdgeConfig:
        """Write a door, an entry lane and an exit lane, and the booth's config."""
        gates = self.root / "gates"
        presence = gates / "presence.db"
        docs = {"door-1": door_doc(gates / "door-1"),
                "lane-barrier_entry": barrier_doc(gates / "lane-in", "barrier_entry",
                                                  presence=presence),
                "lane-barrier_exit": barrier_doc(gates / "lane-out", "barrier_exit",
                                                 presence=presence)}
        for name, doc in docs.items():
            doc["simulation"] = {"outputs_log": str(Path(doc["device"]["data_dir"]) /
                                                    "outputs.log"),
                                 "arm_travel": "50ms"}
            self._write_gate(name, doc)
        data = self.root / "booth"
        doc = {
            "site": {"id": SITE, "timezone": "Asia/Shanghai"},
            "device": {"id": BOOTH, "role": "booth", "access_groups": ["b1", "parking"],
                       "data_dir": str(data)},
            "booth": {"post": "东门岗", "gates": [str(gates / f"{n}.toml") for n in docs],
                      **booth},
            "sync": {"central_public_key": public_key_text(self.key)},
        }
        path = self.root / "booth.toml"
        path.write_text(tomli_w.dumps(doc))
        self.config = load_config(path)
        return self.config

    def _write_gate(self, name: str, doc: dict[str, Any]) -> None:
        path = self.root / "gates" / f"{name}.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(tomli_w.dumps(doc))
        self.gate_docs[name] = doc
        self.gate_configs[name] = load_config(path)

    def car_park(self, lot: Lot = LOT) -> None:
        """Make the lane pair the lanes of ``lot`` (before ``start_gates``): each with a
        plate camera pushing on a free port, the entry lane letting unknown cars in as
        temporary cars, and the site's rules naming the car park where the sync agent writes
        them."""
        rules = SiteRules(site=SITE, version=1, issued_at=time.time(), lots=(lot,))
        for name in ("lane-barrier_entry", "lane-barrier_exit"):
            doc = self.gate_docs[name]
            doc["lane"] = {"credentials": "card_or_plate",
                           "admit_temporary": name == "lane-barrier_entry"}
            doc["camera"] = {"listen_port": free_tcp_port(), "camera_address": "127.0.0.1"}
            self._write_gate(name, doc)
            data_dir = Path(doc["device"]["data_dir"])
            data_dir.mkdir(parents=True, exist_ok=True)
            write_atomically(data_dir / RULES_FILE, rules.dump())

    def push_plate(self, name: str, plate: str, confidence: int = 95) -> dict[str, Any]:
        """The camera of lane ``name`` reads ``plate`` (an HTTP push, as the camera does);
        the lane's answer."""
        camera = self.gate_configs[name].camera
        assert camera is not None, f"{name} has no camera: call car_park() first"
        status, answer = push_plate(
            f"http://{camera.listen_host}:{camera.listen_port}{camera.path}", plate,
            confidence, source_address=camera.camera_address)
        assert status == 200, (status, answer)
        return answer

    def start_gates(self) -> None:
        """Start every gate as a real process (``menwei-edge run``)."""
        for name, config in self.gate_configs.items():
            self.procs[name] = start_gate(config, stderr=self.root / f"{name}.log")

    def stop_gates(self) -> None:
        """Stop every gate process."""
        for proc in self.procs.values():
            stop_gate(proc)
        self.procs.clear()

    def publish(self, booth_list: BoothList) -> None:
        """What the booth's sync agent does with a list from the desk: verify and keep it."""
        assert self.config is not None
        store_if_newer(self.config.device.data_dir / FILE_NAME, self.key.public_key(),
                       sign(self.key, booth_list.dump()), SITE, BOOTH)

    def gate_call(self, name: str, cmd: str, **args: object) -> Any:
        """Run ``cmd`` on the gate ``name``'s control socket; its result."""
        with ControlClient(self.gate_configs[name].control_socket) as client:
            return client.call(cmd, **args)

    def service(self) -> BoothService:
        """The booth service over the rig's config and files."""
        assert self.config is not None
        return BoothService(self.config)


class SettableClock:
    """The booth's clock, set by the test (the gates keep their own); now by default."""

    def __init__(self, wall: float | None = None) -> None:
        self.now = time.time() if wall is None else wall

    def wall(self) -> float:
        """The time the test set."""
        return self.now

    def monotonic(self) -> float:
        """Follows the wall clock (tests only move it forward)."""
        return self.now


class EarlierClock:
    """The system clock moved back ``seconds``, so a car can have entered a while ago."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def wall(self) -> float:
        """Now, ``seconds`` ago."""
        return time.time() - self.seconds

    def monotonic(self) -> float:
        """The monotonic clock, moved back too."""
        return time.monotonic() - self.seconds


def journal_data(events_db: Path, kind: str) -> list[dict[str, Any]]:
    """The data of a journal's events of ``kind`` (a booth's or a gate's), oldest first."""
    conn = sqlite3.connect(events_db)
    try:
        rows = conn.execute("SELECT data FROM events WHERE kind = ? ORDER BY seq",
                            (kind,)).fetchall()
    finally:
        conn.close()
    return [json.loads(r[0]) for r in rows]


ENTRY_LANE = "lane-barrier_entry"


def wait_for(what: str, condition: Callable[[], bool], timeout: float = 15) -> None:
    """Poll ``condition`` until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not reached: {what}"
        time.sleep(0.05)


def let_in_by_camera(rig: BoothRig, plate: str) -> dict[str, Any]:
    """An unknown car at the entry lane: its camera reads the plate, the lane lets it in as
    a temporary car, the car drives through and is counted. The lane's plate event."""
    rig.push_plate(ENTRY_LANE, plate)

    def plate_event() -> dict[str, Any] | None:
        return next((e for e in rig.gate_call(ENTRY_LANE, "events", n=50)
                     if e["kind"] == "plate" and e["data"].get("plate") == plate), None)

    wait_for(f"{plate} journalled at the entry lane", lambda: plate_event() is not None)
    event = plate_event()
    assert event is not None and event["granted"] is True, event
    counted = rig.gate_call(ENTRY_LANE, "lot_status")["classes"]["temporary"]["occupied"]
    wait_for("the arm up",
             lambda: rig.gate_call(ENTRY_LANE, "status")["actuator"]["state"] == "open")
    rig.gate_call(ENTRY_LANE, "sim.drive_through")
    wait_for(f"{plate} counted", lambda: rig.gate_call(ENTRY_LANE, "lot_status")["classes"][
        "temporary"]["occupied"] == counted + 1)
    return event
