"""``menwei-sync provision`` and friends: broker credentials, ACL and config fragments."""

from __future__ import annotations

from typing import Any


def add_subcommands(sub: Any) -> None:
    """Register the provisioning subcommands on ``menwei-sync``'s parser."""
    del sub  # filled in by the provisioning work
