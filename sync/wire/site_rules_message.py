"""The site rules as they travel: the payload of edge/site_rules.py (type ``site_rules``) in
the signing envelope of sync/wire/signing.py, retained on ``menwei/<site>/rules``.

Central signs one full-state message per site (``seal``); a device opens it (``open_rules``)
with the pinned central key, and only a message that verifies, parses with
``edge.site_rules.parse``, names this site and carries a version of at least 1 is handed
back, with the exact payload text that was signed: that text is what the gate's agent writes
to ``site-rules.json``, so the gate reads what central signed, byte for byte.

A refusal says why in one word (``SiteRulesRefused.reason``), the word the agent journals:
``malformed`` (not a message at all), ``bad_signature`` (not signed by the pinned key),
``invalid`` (signed but not a rules payload this side reads) or ``wrong_site``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge.site_rules import SiteRules, SiteRulesError, parse
from sync.wire.envelope import MalformedMessageError, open_signed
from sync.wire.payload import MAX_MESSAGE_BYTES
from sync.wire.signing import SignatureError, sign


class SiteRulesRefused(ValueError):  # noqa: N818 - a refusal, journalled by the caller
    """A rules message a device does not take; ``reason`` is the word journalled."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class SiteRulesTooLargeError(ValueError):
    """Rules whose signed message would not fit one MQTT message of the protocol."""


@dataclass(frozen=True)
class OpenedRules:
    """A verified rules message: the rules, and the payload text exactly as signed."""

    rules: SiteRules
    payload: str


def seal(key: Ed25519PrivateKey, rules: SiteRules) -> bytes:
    """The signed message of ``rules`` (with its version and issue time as given)."""
    signed = sign(key, rules.dump())
    if len(signed) > MAX_MESSAGE_BYTES:
        raise SiteRulesTooLargeError(f"the site rules of {rules.site!r} are {len(signed)} bytes "
                                f"signed, more than one message ({MAX_MESSAGE_BYTES})")
    return signed


def open_rules(public_key: Ed25519PublicKey, raw: bytes, site: str) -> OpenedRules:
    """The rules in ``raw`` if central signed them for ``site``; SiteRulesRefused if not."""
    try:
        payload = open_signed(public_key, raw)
    except MalformedMessageError as exc:
        raise SiteRulesRefused("malformed", str(exc)) from exc
    except SignatureError as exc:
        raise SiteRulesRefused("bad_signature", str(exc)) from exc
    try:
        rules = parse(payload)
    except SiteRulesError as exc:
        raise SiteRulesRefused("invalid", str(exc)) from exc
    if rules.version < 1:
        raise SiteRulesRefused("invalid", f"site_rules.version: {rules.version} is not a "
                                          "version central gives (1 or more)")
    if rules.site != site:
        raise SiteRulesRefused("wrong_site", f"rules for site {rules.site!r}, not {site!r}")
    return OpenedRules(rules, payload)
