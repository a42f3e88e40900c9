"""What the API reads from the sync side, as ports: the gates' events and the devices'
status. ``sync.hub.store.CentralStore`` implements both; tests and other deployments
may pass anything of the same shape. Each source serves one site (its ``site`` code), so a
guard of one compound never reads another's gates."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class GateEventSource(Protocol):
    """Stored gate events of one site."""

    site: str

    def events_for(self, device: str | None = None, *, uid: str | None = None,
                   since: float | None = None, until: float | None = None,
                   granted: bool | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Events matching every given filter (``since`` <= wall < ``until``, epoch
        seconds), oldest first, at most ``limit``. An event is identified by (device,
        journal_id, seq): a device's new journal numbers from 1 again."""
        ...


@runtime_checkable
class DeviceStatusSource(Protocol):
    """The last known status of one site's gate controllers."""

    site: str

    def device_status(self) -> list[dict[str, Any]]:
        """One dict per device (see sync.hub.store.CentralStore.device_status)."""
        ...
