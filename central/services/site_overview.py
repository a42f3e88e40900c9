"""Every compound's gates at a glance, for the staff of a company who watch several: per
site, how many of its gates are online, offline or unknown, how many have not yet applied the
site's newest list entry, the events waiting on the gates, and the clocks a gate does not
trust; the sites in trouble first. A site's own gates page says the rest (its alarms, each
gate).

Read as the gates page reads one site (gate_status), from the sites' sync stores and links,
but without the alarms, and every site at once (on PostgreSQL one statement for all of them:
sync.hub.store.CentralStore.device_states_of), so a company of a hundred compounds is one
page. Only the sites where the caller's role watches gates are shown."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from central.models import Gate, Site, Staff
from central.refusals import PermissionDeniedError
from central.services.context import Desk
from central.services.gate_sources import DeviceStatesReader, GateLink
from central.services.gate_status import STATUS_ROLES, LinkState, link_state


@dataclass(frozen=True)
class SiteGatesSummary:
    """One site's gates, counted. A site whose sync store this desk does not hold has every
    gate unknown."""

    code: str
    name: str
    link: LinkState
    gates: int  # the gates the site names, and any other controller that reports
    online: int
    offline: int
    unknown: int  # the desk lost the site's broker, or the gate never reported
    behind: int  # gates that have not applied the site's newest list entry
    backlog: int  # events the gates hold that have not reached the desk
    clock_untrusted: int  # gates that do not trust their own clock

    @property
    def trouble(self) -> bool:
        """Something here wants a look: a gate offline or behind or with an untrusted
        clock, or the desk's link to the site down."""
        return (self.offline > 0 or self.behind > 0 or self.clock_untrusted > 0
                or self.link is LinkState.DISCONNECTED)


def _summary(code: str, name: str, named: set[str], devices: list[dict[str, Any]] | None,
             link: GateLink | None) -> SiteGatesSummary:
    state = link_state(link)
    if devices is None:
        return SiteGatesSummary(code, name, state, len(named), 0, 0, len(named), 0, 0, 0)
    lost = state is LinkState.DISCONNECTED
    reported = {str(d["device"]) for d in devices}
    online = offline = behind = backlog = untrusted = 0
    for d in devices:
        untrusted += d.get("clock_trusted") is False
        if lost:
            continue  # what the store says is as of the outage
        if d.get("online") is not None:
            online += bool(d["online"])
            offline += not d["online"]
        behind += bool(d.get("behind"))
        backlog += int(d.get("backlog") or 0)
    gates = len(named | reported)
    return SiteGatesSummary(code, name, state, gates, online, offline,
                            gates - online - offline, behind, backlog, untrusted)


def sites_gates(desk: Desk, staff_id: int, states: DeviceStatesReader,
                links: Mapping[str, GateLink]) -> list[SiteGatesSummary]:
    """Each site where the account watches the gates (its role there is a guard's, a lead's,
    the director's or the admin's), the sites in trouble first, then by code; ``states``
    reads their gates. PermissionDeniedError when it watches the gates of none."""
    with desk.sessions() as session:
        staff = session.get(Staff, staff_id)
        if staff is None or not staff.active:
            raise PermissionDeniedError("账户不存在或已停用", "no such active staff account")
        given = {g.site_id: g.role for g in staff.site_roles}
        sites = [(s.id, s.code, s.name) for s in session.scalars(select(Site).order_by(Site.code))
                 if staff.role_at(s.id, given.get(s.id)) in STATUS_ROLES]
        if not sites:
            raise PermissionDeniedError("此账户不查看任何小区的门禁",
                                        "this account watches no site's gates")
        named: dict[int, set[str]] = {site_id: set() for site_id, _c, _n in sites}
        for site_id, gate in session.execute(select(Gate.site_id, Gate.code).where(
                Gate.site_id.in_(list(named)))):
            named[site_id].add(str(gate))
    devices = states([code for _id, code, _name in sites])
    found = [_summary(code, name, named[site_id], devices.get(code), links.get(code))
             for site_id, code, name in sites]
    return sorted(found, key=lambda s: (not s.trouble, s.code))
