"""What the desk's gates view reads from and sends through the sync side, as ports: a site's
store of device status, alarms and applied changes, its live link to the broker, and what
that link hears of the car parks' lanes. ``sync.hub.store.CentralStore`` is the store and
``sync.hub.bridge.CentralSync`` the link (and the lot source);
the services name only these shapes (they know nothing of MQTT), and tests may pass
anything of the same shape. Each serves one site (its ``site`` code)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from edge.lot_counts import LotBase, Occupancy
from edge.site_rules import Lot


@runtime_checkable
class GateSyncSource(Protocol):
    """The sync store of one site, as the gates view reads it."""

    site: str

    def head_seq(self) -> int:
        """The newest sequence number of the site's authorisation log (0 when empty)."""
        ...

    def device_status(self) -> list[dict[str, Any]]:
        """One dict per device (see sync.hub.store.CentralStore.device_status)."""
        ...

    def device_states(self) -> list[dict[str, Any]]:
        """As ``device_status``, without the hub's alarms: a few statements for any number
        of gates (see sync.hub.store.CentralStore.device_states)."""
        ...

    def journal_alarms(self, device: str, recent_since: float,
                       clears: Mapping[str, Collection[str]]) -> list[dict[str, Any]]:
        """The newest alarm event per kind of the device's current journal, with how many
        arrived since ``recent_since`` and the event that cleared it (see
        CentralStore.journal_alarms)."""
        ...

    def change_sync(self, desk_seqs: Collection[int]) -> dict[int, dict[str, Any]]:
        """Which devices applied each desk auth_log entry, and when (see
        CentralStore.change_sync)."""
        ...


class DeviceStatesReader(Protocol):
    """Reads several sites' gates at once (sync.hub.store.CentralStore.device_states_of)."""

    def __call__(self, sites: Collection[str]) -> Mapping[str, list[dict[str, Any]]]:
        """Each site's ``device_states``, by code, for those of ``sites`` whose store this
        desk holds (the others are absent)."""
        ...


@runtime_checkable
class GateLink(Protocol):
    """The desk's live link to one site's broker."""

    site: str

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up now."""
        ...

    def issue_command(self, device: str, command: str, issued_by: str,
                      lifetime_s: float = 10, *, hold_for_s: float | None = None) -> str:
        """Sign and queue a remote command for ``device``; its nonce (see
        CentralSync.issue_command)."""
        ...


class LotReading(Protocol):
    """One car park as the desk hears its lanes now (sync.hub.lot_occupancy.LotReading)."""

    @property
    def lot(self) -> Lot:
        """The car park's spaces and lanes, as its lanes apply them."""
        ...

    @property
    def occupancy(self) -> Occupancy:
        """Occupied per class by the lanes' recount rule, and the lanes not heard lately."""
        ...

    @property
    def base(self) -> LotBase | None:
        """The newest guard correction any lane carries."""
        ...

    @property
    def heard_at(self) -> Mapping[str, float]:
        """Per lane that spoke: when the desk last heard it (epoch seconds)."""
        ...


@runtime_checkable
class LotSource(Protocol):
    """What the desk's link hears of one site's car parks."""

    site: str

    def lot_readings(self) -> Sequence[LotReading]:
        """Every car park any lane spoke of, by id (see CentralSync.lot_readings)."""
        ...
