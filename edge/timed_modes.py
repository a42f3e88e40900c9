"""Timed modes (issue 12): a gate takes on a mode by itself inside the windows of the site's
schedule for it — a lobby door held open 07:00–09:00 on working days, a lane that admits only
monthly cards at night — following the holiday calendar (edge.site_rules), decided offline.

A guard's or the desk's standing mode (edge.gate_mode) overrides a timed mode while it lasts.
While the clock is untrusted no timed hold-open starts (the hour is not known: secure for
doors), and a monthly-only window is assumed to be in force (refusing temporary cars is the
safe side).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from edge.site_rules import SiteRules, TimedModeKind

# The longest wait between two looks at the modes: a new rules file or calendar entry takes
# effect within it.
MAX_WAIT_S = 60.0


def modes_in_force(rules: SiteRules, gate: str, local_now: datetime, *,
                   clock_trusted: bool) -> frozenset[TimedModeKind]:
    """The timed modes of ``gate`` in force at ``local_now`` (site time)."""
    modes = rules.modes_of(gate)
    if not clock_trusted:
        # The hour is unknown: no door held open; temporary cars kept out if they ever are.
        return frozenset(m.mode for m in modes if m.mode is TimedModeKind.MONTHLY_ONLY)
    days = rules.day_numbers(local_now.date())
    return frozenset(m.mode for m in modes if m.schedule.allows_on(days, local_now.time()))


def seconds_to_next_change(rules: SiteRules, gate: str, local_now: datetime) -> float:
    """Seconds until a window of ``gate``'s timed modes next starts or ends (at most 60, so
    a rules or calendar change is picked up within a minute)."""
    wall = local_now.replace(tzinfo=None)
    midnight = datetime.combine(wall.date(), time()) + timedelta(days=1)
    # Every window's edges today, whatever its days: waking at an edge that changes nothing
    # costs one look; the day numbers (holidays) change at midnight.
    edges = [midnight]
    for mode in rules.modes_of(gate):
        for window in mode.schedule.windows:
            for edge in (window.start, window.end):
                edges.append(midnight if edge == time.max
                             else datetime.combine(wall.date(), edge))
    wait = min((e - wall).total_seconds() for e in edges if e > wall)
    return min(wait, MAX_WAIT_S)
