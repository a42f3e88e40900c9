"""What the API reads from the sync side, as ports: the gates' events here; the devices'
status, alarms and applied changes, and the live link to the broker, in
central/services/gate_sources.py (the services read them too). ``sync.hub.store.CentralStore``
implements the stores; tests and other deployments may pass anything of the same shape.
Each source serves one site (its ``site`` code), so a guard of one compound never reads
another's gates."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class GateEventSource(Protocol):
    """Stored gate events of one site."""

    site: str

    def events_for(self, device: str | None = None, *, uid: str | None = None,
                   since: float | None = None, until: float | None = None,
                   granted: bool | None = None, kinds: Collection[str] | None = None,
                   newest_first: bool = False, limit: int = 1000) -> list[dict[str, Any]]:
        """Events matching every given filter (``since`` <= wall < ``until``, epoch
        seconds; kind one of ``kinds``), oldest first (newest first with
        ``newest_first``), at most ``limit``. An event is identified by (device,
        journal_id, seq): a device's new journal numbers from 1 again."""
        ...

    def granted_card_events(self, devices: Collection[str], since: float, until: float,
                            kinds: Collection[str]) -> Iterable[tuple[str, str, str, float, int]]:
        """The granted events of ``kinds`` naming a card at ``devices``, ``since`` <= wall
        < ``until``, as (device, uid, kind, wall, clock_trusted 0/1): device by device, each
        in wall-clock order (the monthly parking report's one pass over the lanes)."""
        ...
