"""MQTT topics. Every topic is under ``menwei/<site>/`` and device topics under
``menwei/<site>/dev/<device>/``, so a broker ACL with ``%u`` (username = device id) gives
each device exactly its own topics. See docs/sync-protocol.md for the full table."""

from __future__ import annotations

ROOT = "menwei"
# The central side's broker user: the ACL gives it every site topic, and no device may take
# the name.
CENTRAL_USER = "menwei-central"


def auth_changes(site: str) -> str:
    """Central -> every device of the site: signed authorisation changes (QoS 1)."""
    return f"{ROOT}/{site}/auth/changes"


def device(site: str, device_id: str, leaf: str) -> str:
    """A device-scoped topic."""
    return f"{ROOT}/{site}/dev/{device_id}/{leaf}"


def device_auth(site: str, device_id: str) -> str:
    """Central -> one device: catch-up changes and snapshot chunks (QoS 1)."""
    return device(site, device_id, "auth")


def catchup(site: str, device_id: str) -> str:
    """Device -> central: 'send me everything after N' (QoS 1)."""
    return device(site, device_id, "catchup")


def events(site: str, device_id: str) -> str:
    """Device -> central: journal batches (QoS 1)."""
    return device(site, device_id, "events")


def ack(site: str, device_id: str) -> str:
    """Central -> device: 'stored up to N' (QoS 1)."""
    return device(site, device_id, "ack")


def status(site: str, device_id: str) -> str:
    """Device -> anyone: retained status, last will 'offline' (QoS 1, retained)."""
    return device(site, device_id, "status")


def command(site: str, device_id: str) -> str:
    """Central -> device: signed remote commands (QoS 1, never retained)."""
    return device(site, device_id, "cmd")


def booth_list(site: str, device_id: str) -> str:
    """Central -> one booth: its signed booth list (sync/wire/booth_list.py; QoS 1,
    retained, so a booth that connects gets the newest at once)."""
    return device(site, device_id, "booth")


def site_rules(site: str) -> str:
    """Central -> every device of the site: the signed site rules (sync/wire/
    site_rules_message.py; QoS 1, retained, so a gate that connects gets the newest at once)."""
    return f"{ROOT}/{site}/rules"


def lot(site: str, lot_id: str, device_id: str) -> str:
    """Lane -> the site's other lanes and central: the lane's running totals of one car park
    and the newest guard count it knows (sync/wire/lot_message.py; QoS 1, retained, so a
    lane or the desk that connects hears every lane's newest at once)."""
    return f"{ROOT}/{site}/lot/{lot_id}/{device_id}"


def lot_wildcard(site: str) -> str:
    """Every lane's counters of every car park of the site (the lanes filter by their lot)."""
    return f"{ROOT}/{site}/lot/+/+"


def lot_of(topic: str) -> tuple[str, str, str] | None:
    """``(site, lot, device)`` of a lot topic, or None."""
    parts = topic.split("/")
    if len(parts) == 5 and parts[0] == ROOT and parts[2] == "lot":
        return parts[1], parts[3], parts[4]
    return None


def device_wildcard(site: str, leaf: str) -> str:
    """What the central side subscribes to for one leaf across all devices."""
    return f"{ROOT}/{site}/dev/+/{leaf}"


def device_of(topic: str) -> tuple[str, str, str] | None:
    """``(site, device, leaf)`` of a device topic, or None."""
    parts = topic.split("/")
    if len(parts) == 5 and parts[0] == ROOT and parts[2] == "dev":
        return parts[1], parts[3], parts[4]
    return None
