"""A remote command for one device: signed by central, never retained, valid for seconds."""

from __future__ import annotations

from dataclasses import dataclass

from sync.wire.payload import (
    VERSION,
    ProtocolError,
    dump,
    field,
    load_object,
    nonce_field,
    number_field,
)

COMMANDS = ("open_once", "hold_open", "lockdown", "release")
MAX_COMMAND_LIFETIME_S = 30.0
# A hold-open or lockdown may end by itself; a week is the longest a standing mode is set
# for without somebody looking at it again.
MAX_MODE_DURATION_S = 7 * 24 * 3600.0


@dataclass(frozen=True)
class Command:
    """A remote command for one device (signed, never retained)."""

    site: str
    device: str
    command: str
    nonce: str
    issued_at: float
    expires_at: float
    issued_by: str
    until: float | None = None  # hold_open / lockdown end by themselves then

    @staticmethod
    def parse(payload: str) -> Command:
        """Validate a verified payload."""
        obj = load_object(payload, "command")
        w = "command"
        command = field(obj, "command", str, w)
        if command not in COMMANDS:
            raise ProtocolError(f"{w}.command: {command!r} is not one of {', '.join(COMMANDS)}")
        nonce = nonce_field(obj, w)
        issued, expires = number_field(obj, "issued_at", w), number_field(obj, "expires_at", w)
        if not 0 < expires - issued <= MAX_COMMAND_LIFETIME_S:
            raise ProtocolError(f"{w}.expires_at: must be after issued_at and at most "
                                f"{MAX_COMMAND_LIFETIME_S:.0f} s later")
        until = field(obj, "until", (int, float), w, optional=True)
        if until is not None:
            if command not in ("hold_open", "lockdown"):
                raise ProtocolError(f"{w}.until: only hold_open and lockdown end by themselves")
            if not 0 < until - issued <= MAX_MODE_DURATION_S:
                raise ProtocolError(f"{w}.until: must be after issued_at and at most "
                                    f"{MAX_MODE_DURATION_S / 86400:.0f} days later")
        return Command(field(obj, "site", str, w), field(obj, "device", str, w), command, nonce,
                       issued, expires, field(obj, "issued_by", str, w),
                       None if until is None else float(until))

    def dump(self) -> str:
        """The payload text."""
        obj = {"v": VERSION, "type": "command", "site": self.site, "device": self.device,
               "command": self.command, "nonce": self.nonce, "issued_at": self.issued_at,
               "expires_at": self.expires_at, "issued_by": self.issued_by}
        if self.until is not None:
            obj["until"] = self.until
        return dump(obj)
