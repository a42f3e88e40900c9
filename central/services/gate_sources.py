"""What the desk's gates view reads from and sends through the sync side, as ports: a site's
store of device status, alarms and applied changes, and its live link to the broker.
``sync.hub.store.CentralStore`` is the store and ``sync.hub.bridge.CentralSync`` the link;
the services name only these shapes (they know nothing of MQTT), and tests may pass
anything of the same shape. Each serves one site (its ``site`` code)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Protocol, runtime_checkable


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
