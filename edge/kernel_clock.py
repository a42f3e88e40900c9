"""The kernel's view of the wall clock's synchronisation (the ClockSync port), read with
``adjtimex(2)`` in read-only mode (``modes = 0``: no privilege needed).

NTP daemons (systemd-timesyncd, chrony) keep the kernel's ``STA_UNSYNC`` flag clear and its
``maxerror`` small while they discipline the clock; the kernel sets the flag again once
``maxerror`` grows past 16 s without an update. So "flag clear and maxerror under a second"
means a time source vouched for the clock recently."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time

log = logging.getLogger(__name__)

STA_UNSYNC = 0x0040
STA_NANO = 0x2000  # the "usec" fields hold nanoseconds
TIME_ERROR = 5
MAX_ERROR_US = 1_000_000
# The kernel also reports the time it keeps. A process whose clock calls are redirected
# (libfaketime) reads another time than the one the kernel vouches for; then the flag says
# nothing about the clock this process sees.
SAME_CLOCK_S = 2.0


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    """``struct timex`` of <sys/timex.h>."""

    _fields_ = [
        ("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
        ("constant", ctypes.c_long), ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long), ("time", _Timeval), ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long), ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long), ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    ]


class KernelClockSync:
    """ClockSync from ``adjtimex``; reports False wherever the call is unavailable."""

    def __init__(self) -> None:
        self._adjtimex = None
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name, use_errno=True)
            self._adjtimex = libc.adjtimex
        except (OSError, AttributeError) as exc:
            log.warning("adjtimex is not available (%s): NTP synchronisation is never "
                        "reported", exc)

    def synchronised(self) -> bool:
        """Whether the kernel says an NTP daemon is keeping the wall clock right."""
        if self._adjtimex is None:
            return False
        timex = _Timex()
        state = int(self._adjtimex(ctypes.byref(timex)))
        if state < 0 or state == TIME_ERROR or timex.status & STA_UNSYNC:
            return False
        if not 0 <= timex.maxerror <= MAX_ERROR_US:
            return False
        fraction = timex.time.tv_usec / (1e9 if timex.status & STA_NANO else 1e6)
        kernel_time = timex.time.tv_sec + fraction
        return bool(abs(kernel_time - time.time()) < SAME_CLOCK_S)


class NoClockSync:
    """ClockSync for a site that does not count NTP as a trusted source (``clock.trust_ntp =
    false``): its NTP server is not one it vouches for."""

    def synchronised(self) -> bool:
        """Never."""
        return False


def clock_sync_for(trust_ntp: bool) -> KernelClockSync | NoClockSync:
    """The ClockSync a gate or sync agent uses, by ``clock.trust_ntp``."""
    return KernelClockSync() if trust_ntp else NoClockSync()
