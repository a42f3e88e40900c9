"""systemd's notify protocol: readiness, status and watchdog keep-alives for ``Type=notify``.

The protocol is one datagram of ``KEY=VALUE`` lines sent to the AF_UNIX socket named in
``$NOTIFY_SOCKET`` (a file system path, or an abstract-namespace name when it starts with
``@``). It is small enough that a dependency would cost more than it saves.

Outside systemd (tests, a shell, the simulator) ``NOTIFY_SOCKET`` is unset and every call is a
cheap no-op that returns False, so callers never need to ask whether they run under systemd.
A failed send is logged and reported as False but never raised: the gate must keep deciding
taps even if the service manager's socket misbehaves; if the watchdog really stops being fed,
systemd restarts the gate, which is the outcome the watchdog exists for.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

__all__ = [
    "notify",
    "ready",
    "status",
    "stopping",
    "watchdog_interval",
    "watchdog_ping",
]

_log = logging.getLogger(__name__)

# The first failed send is logged as a warning, the repeats (a watchdog ping every few
# seconds) only at debug level until a send succeeds again, so the journal is not flooded.
_failing = False


def _address(raw: str) -> str | None:
    """The socket address for ``$NOTIFY_SOCKET``, or None if it is not a form we speak."""
    if raw.startswith("@"):
        # Abstract namespace: the leading '@' stands for a NUL byte.
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    # systemd 253+ may also hand out "vsock:" addresses (for VMs); Bookworm's 252 does not,
    # and a Pi gate never runs in a VM.
    return None


def _one_line(text: str) -> str:
    """``text`` with line breaks folded, since a newline would start a new protocol field."""
    return " ".join(text.splitlines())


def notify(state: str) -> bool:
    """Send ``state`` (``KEY=VALUE`` lines, e.g. ``"READY=1\\nSTATUS=up"``) to systemd.

    Returns True when the datagram was sent, False when not running under systemd (no
    ``$NOTIFY_SOCKET``) or when the send failed (logged).
    """
    global _failing  # noqa: PLW0603 - one flag to rate-limit the log; see _failing
    raw = os.environ.get("NOTIFY_SOCKET", "")
    if not raw:
        return False
    address = _address(raw)
    if address is None:
        _log.warning("NOTIFY_SOCKET=%r is not a path or an abstract socket; not notifying", raw)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode("utf-8"), address)
    except OSError as exc:
        level = logging.DEBUG if _failing else logging.WARNING
        _log.log(level, "cannot notify systemd at %s: %s", raw, exc)
        _failing = True
        return False
    if _failing:
        _log.info("notifying systemd at %s works again", raw)
        _failing = False
    return True


def ready(status: str | None = None) -> bool:
    """Tell systemd start-up is complete (``READY=1``), optionally with a status line.

    Under ``Type=notify`` the unit stays "activating" until this is sent, and units ordered
    after it wait for it, so send it once the gate can actually decide a tap.
    """
    fields = ["READY=1"]
    if status is not None:
        fields.append(f"STATUS={_one_line(status)}")
    return notify("\n".join(fields))


def status(text: str) -> bool:
    """Set the free-form status line shown by ``systemctl status`` (``STATUS=...``)."""
    return notify(f"STATUS={_one_line(text)}")


def stopping() -> bool:
    """Tell systemd the service is shutting down on its own (``STOPPING=1``)."""
    return notify("STOPPING=1")


def watchdog_ping() -> bool:
    """Feed the watchdog (``WATCHDOG=1``); call it from the control loop's idle hook so that a
    hung loop stops feeding it and systemd restarts the gate."""
    return notify("WATCHDOG=1")


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """The watchdog timeout in seconds that systemd expects to be fed within, or None.

    Read from ``$WATCHDOG_USEC``. When ``$WATCHDOG_PID`` is set the watchdog belongs to that
    process only (a child that inherited the environment must not think it is watched), so
    None is returned unless it is this process. Callers should ping at about half this
    interval. ``environ`` defaults to ``os.environ``.
    """
    env = os.environ if environ is None else environ
    raw_usec = env.get("WATCHDOG_USEC", "")
    if not raw_usec:
        return None
    raw_pid = env.get("WATCHDOG_PID", "")
    if raw_pid:
        try:
            if int(raw_pid) != os.getpid():
                return None
        except ValueError:
            _log.warning("ignoring the watchdog: WATCHDOG_PID=%r is not a process id", raw_pid)
            return None
    try:
        usec = int(raw_usec)
    except ValueError:
        _log.warning("ignoring the watchdog: WATCHDOG_USEC=%r is not a number", raw_usec)
        return None
    if usec <= 0:
        return None
    return usec / 1_000_000
