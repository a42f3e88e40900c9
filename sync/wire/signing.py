"""Ed25519 signatures on what the central service sends that changes a gate's behaviour:
authorisation lists and remote commands. The edge pins the central public key in its config.

Wire form: ``{"payload": "<JSON text>", "sig": "<base64 of the signature over its UTF-8>"}``.
The payload travels as text, so what was signed is exactly what is verified: no canonical
JSON needed."""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)


class SignatureError(ValueError):
    """A message whose signature is missing, malformed or wrong."""


def generate_key(path: Path) -> str:
    """Create the central signing key at ``path`` (mode 0600); return the public key text."""
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=False)
    path.write_text(base64.b64encode(raw).decode() + "\n")
    return public_key_text(key)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read a key written by ``generate_key``."""
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(path.read_text().strip()))


def public_key_text(key: Ed25519PrivateKey) -> str:
    """The public half as base64 text, as pinned in device configs."""
    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A pinned public key from its base64 text; ValueError when it is not one."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not an Ed25519 public key in base64 (44 characters)") from exc


def sign(key: Ed25519PrivateKey, payload: str) -> bytes:
    """The wire form of ``payload`` (JSON text) signed with ``key``."""
    sig = base64.b64encode(key.sign(payload.encode())).decode()
    # orjson: a snapshot chunk's payload is a quarter of a megabyte to escape, five times
    # faster than json's encoder. It writes UTF-8 where json wrote \\u escapes: never longer.
    return orjson.dumps({"payload": payload, "sig": sig})


def verify(public_key: Ed25519PublicKey, message: bytes) -> str:
    """The payload text of a signed message; SignatureError unless it verifies."""
    try:
        envelope = json.loads(message)
    except ValueError as exc:
        raise SignatureError(f"not JSON: {exc}") from exc
    if not isinstance(envelope, dict):
        raise SignatureError("a signed message must be an object")
    return verify_envelope(public_key, envelope)


def verify_envelope(public_key: Ed25519PublicKey, envelope: dict[str, object]) -> str:
    """The payload text of a signed message already parsed into its envelope object;
    SignatureError unless it verifies."""
    payload, sig = envelope.get("payload"), envelope.get("sig")
    if not isinstance(payload, str) or not isinstance(sig, str):
        raise SignatureError("missing 'payload' or 'sig'")
    try:
        public_key.verify(base64.b64decode(sig, validate=True), payload.encode())
    except (binascii.Error, ValueError, InvalidSignature) as exc:
        raise SignatureError("bad signature") from exc
    return payload
