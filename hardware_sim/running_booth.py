"""The guard's booth of the simulated compound: its config file, written as an installer
writes a booth PC's (``device.role = "booth"``, docs/booth.md), and what can be seen of it
from outside while it runs (its page, the list its agent kept)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import tomli_w

from hardware_sim.running_gate import GateSite, RunningGate


@dataclass(frozen=True)
class BoothSpec:
    """One booth: its device id is the desk's booth code (central/examples/site.toml), so
    the desk's list for it, its broker user and its records all use one name."""

    name: str
    post: str
    gates: tuple[str, ...]  # the compound's gates it drives, by device id


# The example site's east post: the main gate's door and the car-park lane pair.
BOOTH = BoothSpec("east-booth", "东门岗", ("main-gate", "carpark-in", "carpark-out"))
# The booth page's port when it is free: easy to type, next to the desk's 8080.
PREFERRED_PORT = 8088


@dataclass
class RunningBooth:
    """The booth of the running compound."""

    spec: BoothSpec
    config_path: Path
    data_dir: Path
    port: int

    @classmethod
    def write(cls, spec: BoothSpec, site: GateSite, booths_dir: Path, *,
              gates: dict[str, RunningGate], port: int, broker_password: str) -> RunningBooth:
        """Write the booth's config (``booths/NAME.toml``) and its data directory."""
        data = booths_dir / spec.name
        data.mkdir(parents=True)
        (data / "broker.password").write_text(broker_password + "\n")
        driven = [gates[name] for name in spec.gates]
        doc: dict[str, Any] = {
            "site": {"id": site.site, "timezone": "Asia/Shanghai"},
            "device": {"id": spec.name, "role": "booth",
                       "access_groups": sorted({g for gate in driven
                                                for g in gate.spec.access_groups}),
                       "data_dir": str(data)},
            "booth": {"post": spec.post, "gates": [str(g.config_path) for g in driven],
                      "listen_host": "127.0.0.1", "listen_port": port},
            "sync": {"broker_port": site.broker_port,
                     "password_file": str(data / "broker.password"),
                     "central_public_key": site.central_public_key,
                     # As the gates': the demo and the tests stop and start the broker.
                     "reconnect_max": "2s", "status_interval": "5s"},
        }
        path = booths_dir / f"{spec.name}.toml"
        path.write_text(tomli_w.dumps(doc))
        return cls(spec, path, data, port)

    @property
    def url(self) -> str:
        """The booth page's address, as the booth's screen opens it."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def events_db(self) -> Path:
        """The booth's records and their journal."""
        return self.data_dir / "events.db"

    @property
    def list_file(self) -> Path:
        """The desk's list as the booth's agent kept it (booth.list_file)."""
        return self.data_dir / "booth-list.json"

    def answers(self) -> bool:
        """Whether the booth page answers (its sign-in page, or a way there)."""
        try:
            response = httpx.get(f"{self.url}sign-in", timeout=2)
        except httpx.TransportError:
            return False
        return response.status_code < 500
