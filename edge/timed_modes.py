"""Timed modes (issue 12): a gate takes on a mode by itself inside the windows of the site's
schedule for it — a lobby door held open 07:00–09:00 on working days, a lane that admits only
monthly cards at night — following the holiday calendar (edge.site_rules), decided offline.

A guard's or the desk's standing mode (edge.gate_mode) overrides a timed mode while it lasts.
While the clock is untrusted no timed hold-open starts (the hour is not known: secure for
doors), and a monthly-only window is assumed to be in force (refusing temporary cars is the
safe side).

STUB (issue 12 foundation): the signatures are the contract; helper H1a implements them.
"""

from __future__ import annotations

from datetime import datetime

from edge.site_rules import SiteRules, TimedModeKind


def modes_in_force(rules: SiteRules, gate: str, local_now: datetime, *,
                   clock_trusted: bool) -> frozenset[TimedModeKind]:
    """The timed modes of ``gate`` in force at ``local_now`` (site time)."""
    raise NotImplementedError


def seconds_to_next_change(rules: SiteRules, gate: str, local_now: datetime) -> float:
    """Seconds until a window of ``gate``'s timed modes next starts or ends (at most 60, so
    a rules or calendar change is picked up within a minute)."""
    raise NotImplementedError
