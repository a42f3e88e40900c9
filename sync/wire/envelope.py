"""Unwrapping a signed message as it arrives, telling noise from forgery.

A message that is not even a JSON object is malformed: logged and dropped. A JSON object
whose signature is missing or does not verify against the pinned key is a forgery attempt
(or a central-side misconfiguration) and is refused as a security event. The difference
matters because only the latter is journalled as an alarm."""

from __future__ import annotations

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sync.wire.payload import MAX_MESSAGE_BYTES
from sync.wire.signing import SignatureError, verify_envelope


class MalformedMessageError(ValueError):
    """Bytes that are not a message at all (too large, not JSON, not an object)."""


def open_signed(public_key: Ed25519PublicKey, raw: bytes) -> str:
    """The verified payload text of ``raw``.

    Raises MalformedMessageError for noise and SignatureError for an object without a valid
    signature (an unsigned payload included).
    """
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MalformedMessageError(f"message of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        # Parsed once (a snapshot chunk is a quarter of a megabyte), by orjson: it refuses
        # what json would read as NaN or Infinity, which no signed message holds.
        envelope = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedMessageError(f"not JSON: {exc}") from exc
    if not isinstance(envelope, dict):
        raise MalformedMessageError("not a JSON object")
    if "sig" not in envelope:
        raise SignatureError("missing signature")
    return verify_envelope(public_key, envelope)
