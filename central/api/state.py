"""What one API application holds: the desk, the sync-side sources and links per site, how long a
session lasts and how long a refused login waits. Stored on ``app.state`` by
``create_app`` and read by the dependencies."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from fastapi import Request

from central.api.ports import GateEventSource
from central.services.context import Desk
from central.services.gate_sources import DeviceStatesReader, GateLink, GateSyncSource
from sync.hub.store import CentralStore


@dataclass
class ApiState:
    """The application's handles."""

    desk: Desk
    session_ttl: timedelta
    # How long a refused login waits before it is answered (central/api/auth.py).
    login_refusal_delay_s: float = 1.0
    events: dict[str, GateEventSource] = field(default_factory=dict)
    devices: dict[str, GateSyncSource] = field(default_factory=dict)
    # The desk's live links to the sites' brokers; none when the desk only reads a store
    # another process feeds (``serve --sync-store``).
    links: dict[str, GateLink] = field(default_factory=dict)
    # A desk page's session ends after this long without a request (central/pages/login.py).
    page_idle_timeout: timedelta = timedelta(minutes=30)

    @property
    def device_states(self) -> DeviceStatesReader:
        """Reads several sites' gates at once: the sync stores together (one statement for
        a company's PostgreSQL), any other source by itself."""
        return device_states_reader(self.devices)


def device_states_reader(devices: Mapping[str, GateSyncSource]) -> DeviceStatesReader:
    """Reads these sources' sites' gates at once (see ``ApiState.device_states``)."""
    return partial(_device_states, devices)


def _device_states(devices: Mapping[str, GateSyncSource],
                   sites: Collection[str]) -> dict[str, list[dict[str, Any]]]:
    wanted = [devices[code] for code in sites if code in devices]
    out = CentralStore.device_states_of([s for s in wanted if isinstance(s, CentralStore)])
    out |= {source.site: source.device_states() for source in wanted
            if not isinstance(source, CentralStore)}
    return out


def api_state(request: Request) -> ApiState:
    """The state of the application serving ``request``."""
    state = request.app.state.menwei
    assert isinstance(state, ApiState)
    return state
