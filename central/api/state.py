"""What one API application holds: the desk, the sync-side sources and links per site, how long a
session lasts and how long a refused login waits. Stored on ``app.state`` by
``create_app`` and read by the dependencies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import Request

from central.api.ports import GateEventSource
from central.services.context import Desk
from central.services.gate_sources import GateLink, GateSyncSource


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


def api_state(request: Request) -> ApiState:
    """The state of the application serving ``request``."""
    state = request.app.state.menwei
    assert isinstance(state, ApiState)
    return state
