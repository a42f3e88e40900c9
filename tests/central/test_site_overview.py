"""Every compound's gates at a glance (central/services/site_overview.py): counted from each
site's real sync store, for the sites where the account watches gates only, the sites in
trouble first."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path

import pytest

from central.api.state import device_states_reader
from central.models import Role
from central.refusals import PermissionDeniedError
from central.services.context import Actor, Desk
from central.services.gate_sources import DeviceStatesReader
from central.services.gate_status import LinkState
from central.services.site_overview import sites_gates
from central.services.staff import NewStaff, StaffSiteRoleInput, create_staff, give_site_role
from edge.card_record import CardRow
from edge.cards import CardStatus
from sync.hub.store import CentralStore
from sync.wire.device_messages import DeviceStatus

from .conftest import NOW, PASSWORD, SITE, Staffs, load_second_site

MOON = "moonlight-court"
GATES = 5  # the example site names five gates


def read(stores: Mapping[str, CentralStore]) -> DeviceStatesReader:
    """The desk's reader of these stores' gates, as the API and pages use it."""
    return device_states_reader(stores)


class Link:
    """The desk's link to a site's broker, up or down (the one property the view reads)."""

    def __init__(self, site: str, connected: bool) -> None:
        self.site, self.connected = site, connected

    def issue_command(self, device: str, command: str, issued_by: str,
                      lifetime_s: float = 10, *, hold_for_s: float | None = None) -> str:
        raise AssertionError("the overview sends nothing")


@pytest.fixture
def stores(tmp_path: Path, db_url: str, desk: Desk) -> Iterator[dict[str, CentralStore]]:
    """Both sites' sync stores (SQLite files beside a SQLite desk; on PostgreSQL a schema
    each in the desk's database, read together); the example site's list has two entries,
    one gate has applied both, one only the first, one went offline, one reported an
    untrusted clock."""
    load_second_site(desk)
    found = {code: CentralStore(db_url if db_url.startswith("postgresql")
                                else tmp_path / f"{code}.db", code, clock=NOW.timestamp)
             for code in (SITE, MOON)}
    sun = found[SITE]
    sun.record_cards([CardRow(f"04A1B2C{i}", CardStatus.ACTIVE, date(2026, 1, 1), None,
                              ("b1",), None, "owner", None) for i in range(2)])
    at = NOW.timestamp()
    sun.update_status(DeviceStatus("main-gate", True, 2, 0, True, at), retained=False)
    sun.update_status(DeviceStatus("b1-lobby", True, 1, 7, True, at), retained=False)
    sun.update_status(DeviceStatus("b2-lobby", False, 2, 3, True, at), retained=False)
    sun.update_status(DeviceStatus("carpark-in", True, 2, 0, False, at), retained=False)
    yield found
    for store in found.values():
        store.close()


def test_each_watched_site_is_counted_the_sites_in_trouble_first(
        desk: Desk, staff: Staffs, stores: dict[str, CentralStore]) -> None:
    director = create_staff(desk, NewStaff("office-director", "d", Role.DIRECTOR, PASSWORD,
                                           None))
    moon = stores[MOON]
    moon.update_status(DeviceStatus("main-gate", True, 0, 0, True, NOW.timestamp()),
                       retained=False)
    links = {SITE: Link(SITE, True), MOON: Link(MOON, True)}
    sun_row, moon_row = sites_gates(desk, director, read(stores), links)
    # Listed by trouble, not by code: moonlight-court sorts first by code.
    assert (sun_row.code, moon_row.code) == (SITE, MOON)
    assert sun_row.trouble and not moon_row.trouble
    assert (sun_row.gates, sun_row.online, sun_row.offline, sun_row.unknown) == (GATES, 3, 1, 1)
    assert (sun_row.behind, sun_row.backlog, sun_row.clock_untrusted) == (1, 10, 1)
    assert (moon_row.online, moon_row.unknown, moon_row.behind) == (1, GATES - 1, 0)
    # The desk's link to a site down: what the store says is as of the outage.
    links[MOON] = Link(MOON, False)
    lost, _sun = sites_gates(desk, director, read(stores), links)  # both in trouble: by code
    assert (lost.link, lost.online, lost.unknown, lost.trouble) == (
        LinkState.DISCONNECTED, 0, GATES, True)
    # No store or link for a site here: its named gates, all unknown.
    unlinked = {s.code: s for s in sites_gates(desk, director, read({SITE: stores[SITE]}), {})}
    assert (unlinked[MOON].link, unlinked[MOON].unknown) == (LinkState.NOT_LINKED, GATES)
    assert unlinked[SITE].link is LinkState.NOT_LINKED


def test_only_the_sites_where_the_account_watches_gates(
        desk: Desk, staff: Staffs, stores: dict[str, CentralStore]) -> None:
    links = {SITE: Link(SITE, True), MOON: Link(MOON, True)}

    def watched(staff_id: int) -> list[str]:
        return [s.code for s in sites_gates(desk, staff_id, read(stores), links)]

    assert watched(staff.guard.staff_id) == [SITE]
    with pytest.raises(PermissionDeniedError):
        sites_gates(desk, staff.clerk.staff_id, read(stores), links)
    company = Actor(create_staff(desk, NewStaff("head-office", "h", Role.ADMIN, PASSWORD)),
                    SITE)
    # A clerk lent to the other compound as a guard watches that compound's gates only.
    give_site_role(desk, company, staff.clerk.staff_id, StaffSiteRoleInput(MOON, Role.GUARD))
    assert watched(staff.clerk.staff_id) == [MOON]
    # An office clerk (every site) made director of one: that one only.
    office_clerk = create_staff(desk, NewStaff("office-clerk", "c", Role.CLERK, PASSWORD))
    give_site_role(desk, company, office_clerk, StaffSiteRoleInput(SITE, Role.DIRECTOR))
    assert watched(office_clerk) == [SITE]
    assert watched(company.staff_id) == [SITE, MOON]
