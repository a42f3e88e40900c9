"""What every payload of the sync protocol is: a JSON object with ``"v": 1`` and a ``"type"``,
at most ``MAX_MESSAGE_BYTES``; and the field readers the message schemas validate with.

Anything that does not fit raises ProtocolError with a message naming the field; callers
log it, journal it where it matters, and drop the message — a malformed message never stops
a process."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

VERSION = 1
# The largest message, signed or not. The site broker's max_packet_size is this plus a little
# (sync/broker/config.py): Mosquitto allocates the length a packet declares before its
# sender has authenticated, so this also bounds what a stranger's connection can pin.
# Messages built from cards are cut to fit (sync/hub/auth_payloads.py); event batches halve.
MAX_MESSAGE_BYTES = 256 * 1024

T = TypeVar("T")


class ProtocolError(ValueError):
    """A message that does not fit its schema."""


def field(obj: Mapping[str, Any], key: str, kind: type[T] | tuple[type, ...],
          where: str, optional: bool = False) -> Any:
    """``obj[key]`` if it is of ``kind`` (a boolean only where ``bool`` is asked for);
    None for a missing ``optional`` one."""
    if key not in obj or obj[key] is None:
        if optional:
            return None
        raise ProtocolError(f"{where}.{key}: missing")
    value = obj[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ProtocolError(f"{where}.{key}: expected {kinds[0].__name__}, got a boolean")
    if not isinstance(value, kinds):
        raise ProtocolError(f"{where}.{key}: expected {kinds[0].__name__}, "
                            f"got {type(value).__name__}")
    return value


def int_field(obj: Mapping[str, Any], key: str, where: str, minimum: int = 0) -> int:
    """An integer field of at least ``minimum``."""
    value = int(field(obj, key, int, where))
    if value < minimum:
        raise ProtocolError(f"{where}.{key}: must be at least {minimum}")
    return value


def number_field(obj: Mapping[str, Any], key: str, where: str) -> float:
    """A number field (seconds, mostly)."""
    return float(field(obj, key, (int, float), where))


def list_field(obj: Mapping[str, Any], key: str, where: str) -> list[Any]:
    """A list field."""
    return list(field(obj, key, list, where))


def nonce_field(obj: Mapping[str, Any], where: str) -> str:
    """A ``nonce``: 8 to 64 characters."""
    nonce = field(obj, "nonce", str, where)
    if not 8 <= len(nonce) <= 64:
        raise ProtocolError(f"{where}.nonce: must be 8 to 64 characters")
    return str(nonce)


def load_object(raw: bytes | str, expected_type: str) -> dict[str, Any]:
    """Parse JSON text into an object of the expected ``type`` and version."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from exc
    return check_object(obj, expected_type)


def check_object(obj: object, expected_type: str) -> dict[str, Any]:
    """A parsed message as an object of the expected ``type`` and version."""
    if not isinstance(obj, dict):
        raise ProtocolError("a message must be a JSON object")
    if obj.get("v") != VERSION:
        raise ProtocolError(f"unsupported version {obj.get('v')!r} (this side speaks {VERSION})")
    if obj.get("type") != expected_type:
        raise ProtocolError(f"expected a {expected_type!r} message, got {obj.get('type')!r}")
    return obj


def message_type(raw: bytes | str) -> object:
    """The ``type`` of a message, to pick its schema on a topic that carries several."""
    try:
        return json.loads(raw).get("type")
    except (ValueError, UnicodeDecodeError, AttributeError) as exc:
        raise ProtocolError("not a JSON object") from exc


def dump(obj: Mapping[str, Any]) -> str:
    """Compact JSON text of a message."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
