"""Ports on 127.0.0.1 for the servers this machine starts (brokers, desks, booths, readers,
cameras) in the simulated compound, the tests and the benchmarks.

A port is chosen some time before its server binds it. One the kernel picked (bind to port 0)
lies in its ephemeral range, from which it also gives every outgoing connection its local port:
a desk's PostgreSQL pool or a sync agent's MQTT link could take the port in between, and the
server then fails with "address already in use" (one CI run lost a booth that way). So ports
are chosen below that range, where only a listening server takes them, walking from a random
start so that two processes choosing at once rarely try the same ones, and never handing out
the same port twice in one process."""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LINUX_EPHEMERAL_START = 32768
_LOWEST = 10_000

_lock = threading.Lock()
_cursor: dict[int, int] = {}


def _ephemeral_start() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _LINUX_EPHEMERAL_START


def _bindable(kind: socket.SocketKind, port: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free(kind: socket.SocketKind) -> int:
    span = _ephemeral_start() - _LOWEST
    if span < 1000:
        # An ephemeral range set unusually low leaves no room below it: the kernel's choice.
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    with _lock:
        start = _cursor.setdefault(kind, random.randrange(span))
        for step in range(span):
            offset = (start + step) % span
            if _bindable(kind, _LOWEST + offset):
                _cursor[kind] = (offset + 1) % span
                return _LOWEST + offset
    raise RuntimeError(f"no free port on 127.0.0.1 between {_LOWEST} and {_LOWEST + span}")


def free_tcp_port(preferred: int = 0) -> int:
    """A TCP port free on 127.0.0.1 now: ``preferred`` if given and free, else one outside
    the range outgoing connections use."""
    if preferred and _bindable(socket.SOCK_STREAM, preferred):
        return preferred
    return _free(socket.SOCK_STREAM)


def free_udp_port(preferred: int = 0) -> int:
    """A UDP port free on 127.0.0.1 now: ``preferred`` if given and free, else one outside
    the range outgoing sockets use."""
    if preferred and _bindable(socket.SOCK_DGRAM, preferred):
        return preferred
    return _free(socket.SOCK_DGRAM)
