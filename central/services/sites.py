"""Loading a site description (``menwei-desk load-site``): creates the site and whatever of
its groups, gates, guard booths, car parks, buildings, units, households and persons the
database does not have yet.

Loading is repeatable: the operator keeps one file per site and loads it again after adding
to it. What exists is matched by its key (group name, gate code, booth code, car park id,
building code,
unit number, a current household of the same kind in the unit, a person's name in the
household) and left as it is — except the [settings], which the file states in full each time.
A car park's spaces are the desk's after it is created (the site rules page sets them): a
file saying otherwise is reported, not applied.

``sites_served`` reads back which sites an account serves (a page header's site chooser).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from central.models import (
    AccessGroup,
    Booth,
    Building,
    Gate,
    Household,
    Lot,
    Person,
    Site,
    SiteSettings,
    Unit,
)
from central.services.context import Desk, action
from central.site_file import SiteDescription


@dataclass
class LoadReport:
    """What a load added, what it found already there, and differences it left alone."""

    site_created: bool = False
    added: dict[str, int] = field(default_factory=dict)
    existing: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def count(self, what: str, added: bool) -> None:
        """Count one record as added or already there."""
        target = self.added if added else self.existing
        target[what] = target.get(what, 0) + 1


def load_site(desk: Desk, desc: SiteDescription) -> LoadReport:
    """Create or extend a site from its description, in one transaction.

    Run from the command line by whoever holds the database; there is no acting staff member
    (the site must exist before anyone can be given an account on it).
    """
    report = LoadReport()
    with action(desk) as act:
        s = act.session
        site = s.scalars(select(Site).where(Site.code == desc.site.code)).one_or_none()
        if site is None:
            site = Site(code=desc.site.code, name=desc.site.name, timezone=desc.site.timezone,
                        created_at=act.now)
            s.add(site)
            s.flush()
            s.add(SiteSettings(site_id=site.id))
            s.flush()
            report.site_created = True
        elif site.timezone != desc.site.timezone:
            report.warnings.append(f"site timezone stays {site.timezone} (file says "
                                   f"{desc.site.timezone})")
        settings = s.get(SiteSettings, site.id)
        assert settings is not None
        for column, value in desc.settings:
            setattr(settings, column, value)

        groups = {g.name: g for g in s.scalars(
            select(AccessGroup).where(AccessGroup.site_id == site.id))}
        for g in desc.access_groups:
            added = g.name not in groups
            report.count("access_groups", added)
            if added:
                groups[g.name] = AccessGroup(site_id=site.id, name=g.name,
                                             description=g.description)
                s.add(groups[g.name])
        s.flush()

        gates = {g.code: g for g in s.scalars(select(Gate).where(Gate.site_id == site.id))}
        for gspec in desc.gates:
            gate = gates.get(gspec.code)
            report.count("gates", gate is None)
            if gate is None:
                gate = Gate(site_id=site.id, code=gspec.code, name=gspec.name, role=gspec.role)
                s.add(gate)
            for name in gspec.access_groups:
                if groups[name] not in gate.access_groups:
                    gate.access_groups.append(groups[name])
            gates[gspec.code] = gate
        s.flush()

        booths = {b.code: b for b in s.scalars(select(Booth).where(Booth.site_id == site.id))}
        for boothspec in desc.booths:
            booth = booths.get(boothspec.code)
            report.count("booths", booth is None)
            if booth is None:
                # Which guards may sign in here is the admin's choice on the staff pages;
                # a guard created from now on gets it with every other booth of the site.
                booth = Booth(site_id=site.id, code=boothspec.code, name=boothspec.name)
                s.add(booth)
            for code in boothspec.gates:
                if gates[code] not in booth.gates:
                    booth.gates.append(gates[code])

        lots = {lot.code: lot for lot in s.scalars(select(Lot).where(Lot.site_id == site.id))}
        for lotspec in desc.lots:
            lot = lots.get(lotspec.code)
            report.count("lots", lot is None)
            spaces = (lotspec.fixed, lotspec.monthly, lotspec.temporary)
            if lot is None:
                lot = Lot(site_id=site.id, code=lotspec.code, name=lotspec.name,
                          spaces_fixed=lotspec.fixed, spaces_monthly=lotspec.monthly,
                          spaces_temporary=lotspec.temporary)
                s.add(lot)
            elif (lot.spaces_fixed, lot.spaces_monthly, lot.spaces_temporary) != spaces:
                report.warnings.append(
                    f"car park {lotspec.code}: spaces stay fixed {lot.spaces_fixed}, monthly "
                    f"{lot.spaces_monthly}, temporary {lot.spaces_temporary} (file says "
                    f"{lotspec.fixed}, {lotspec.monthly}, {lotspec.temporary})")
            for code in lotspec.gates:
                if gates[code] not in lot.gates:
                    lot.gates.append(gates[code])

        buildings = {b.code: b for b in s.scalars(
            select(Building).where(Building.site_id == site.id))}
        for bspec in desc.buildings:
            building = buildings.get(bspec.code)
            report.count("buildings", building is None)
            if building is None:
                building = buildings[bspec.code] = Building(site_id=site.id, code=bspec.code,
                                                           name=bspec.name)
                s.add(building)
            for name in bspec.access_groups:
                if groups[name] not in building.default_access_groups:
                    building.default_access_groups.append(groups[name])
        s.flush()

        units: dict[tuple[str, str], Unit] = {}
        for uspec in desc.units:
            building = buildings[uspec.building]
            unit = s.scalars(select(Unit).where(Unit.building_id == building.id,
                                                Unit.number == uspec.number)).one_or_none()
            report.count("units", unit is None)
            if unit is None:
                unit = Unit(building_id=building.id, number=uspec.number, kind=uspec.kind,
                            area_m2=uspec.area_m2)
                s.add(unit)
            elif unit.area_m2 != uspec.area_m2:
                report.warnings.append(f"unit {uspec.building}-{uspec.number}: area stays "
                                       f"{unit.area_m2} m² (file says {uspec.area_m2})")
            units[(uspec.building, uspec.number)] = unit
        s.flush()

        households: dict[str, Household] = {}
        for hspec in desc.households:
            unit = units[(hspec.building, hspec.unit)]
            household = s.scalars(select(Household).where(
                Household.unit_id == unit.id, Household.kind == hspec.kind,
                Household.ended_on.is_(None))).first()
            report.count("households", household is None)
            if household is None:
                household = Household(unit_id=unit.id, kind=hspec.kind,
                                      started_on=hspec.started_on, lease_end=hspec.lease_end,
                                      lease_contract_ref=hspec.lease_contract_ref,
                                      created_at=act.now)
                s.add(household)
            households[hspec.key] = household
        s.flush()

        for pspec in desc.persons:
            household_id = households[pspec.household].id if pspec.household else None
            in_household = (Person.household_id.is_(None) if household_id is None
                            else Person.household_id == household_id)
            person = s.scalars(select(Person).where(
                Person.site_id == site.id, in_household, Person.name == pspec.name,
                Person.holder_kind == pspec.holder_kind)).first()
            report.count("persons", person is None)
            if person is None:
                s.add(Person(site_id=site.id, household_id=household_id, name=pspec.name,
                             holder_kind=pspec.holder_kind,
                             relation_to_householder=pspec.relationship,
                             id_number=pspec.id_number, phone=pspec.phone,
                             organisation=pspec.organisation, created_at=act.now))
    return report



@dataclass(frozen=True)
class SiteRef:
    """A site as a page header names it."""

    code: str
    name: str
    timezone: str


def sites_served(desk: Desk, site_code: str | None,
                 given: tuple[str, ...] = ()) -> list[SiteRef]:
    """The sites an account serves, by code: its own (``site_code``), or every site of the
    company for a company-wide account (``site_code`` None); and those where it was given a
    role (``given``)."""
    query = select(Site.code, Site.name, Site.timezone).order_by(Site.code)
    if site_code is not None:
        query = query.where(Site.code.in_((site_code, *given)))
    with desk.sessions() as session:
        return [SiteRef(row.code, row.name, row.timezone) for row in session.execute(query)]
