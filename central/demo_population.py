"""A lived-in demo or benchmark site (``menwei-desk populate-demo``): households of owners,
family and tenants added to a loaded site, and about a year of the desk's work on them —
cards issued, lost, reviewed and replaced, parking applied for, approved and paid,
renovations filed with their workers' cards, visitors and goods slips — then a month of
gate events in the sync side's central store.

Everything the desk holds is made by the desk's own services, as a clerk's actions would
make it: each application is one service call (one transaction), so every card has its
register line, every fee its receipt, every rule is checked. The desk's clock is a
FixedClock moved forward from action to action, so receipt numbers and dates go forward
together (rule I7) and the history ends just before the real now. The gate events are
written into the central store as history (``CentralStore.import_events``), not as any
running gate's journal.

Deterministic: the same seed, sizes and start instant give the same site."""

from __future__ import annotations

import heapq
import itertools
import math
import random
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import Engine, event, select

from central import demo_people as people
from central.clock import FixedClock, zone
from central.db import make_engine, require_current_schema
from central.models import (
    DIRECT_RELATIVES,
    Building,
    Card,
    Gate,
    GateRole,
    HolderKind,
    Household,
    HouseholdKind,
    Person,
    Relationship,
    Role,
    Site,
    Staff,
    Unit,
    UnitKind,
)
from central.services.context import Actor, Desk
from central.services.goods import (
    IssueGoodsSlip,
    RecordGoodsExit,
    approve_goods_slip,
    issue_goods_slip,
    record_goods_exit,
)
from central.services.loss import (
    ReplaceCard,
    ReportLoss,
    ReviewLoss,
    replace_card,
    report_damaged,
    report_lost,
    review_loss,
)
from central.services.parking import ApplyParking, TopUpParking, apply_parking, top_up_parking
from central.services.parking_approval import (
    ApproveParking,
    RecordOwnerUnitApproval,
    approve_parking,
    record_owner_unit_approval,
)
from central.services.renovation import (
    ExtendRenovation,
    FileRenovation,
    IssueWorkerCards,
    extend_renovation,
    file_renovation,
    issue_worker_cards,
)
from central.services.renovation_approval import approve_renovation
from central.services.resident_cards import IssueResidentCards, issue_resident_cards
from central.services.sites import load_site
from central.services.staff import NewStaff, create_staff
from central.services.visitors import RegisterVisitor, record_visitor_exit, register_visitor
from central.site_file import (
    AccessGroupSpec,
    BuildingSpec,
    GateSpec,
    HouseholdSpec,
    PersonSpec,
    SiteDescription,
    SiteInfo,
    UnitSpec,
)
from sync.hub.store import CentralStore

# The desk's history starts this long before the end; the first applications are spread
# over its first two thirds, the follow-ups (losses, parking, renovations) come after.
HISTORY_DAYS = 300
FLOORS, ROOMS_PER_FLOOR = 33, 6
# Per-room area: both sides of rule I4's 130 m² threshold occur.
_AREAS = (Decimal("89.5"), Decimal("98"), Decimal("118"), Decimal("128.5"), Decimal("135"),
          Decimal("145"))
TENANCY_SHARE = 0.15
# Of the resident cards issued: reported lost or damaged (most then replaced).
LOSS_SHARE, PENDING_LOSSES = 0.03, 3
PARKING_SHARE, PARKING_NEW_CARD_SHARE = 0.15, 0.2
WORKERS_PER_RENOVATION = 3
# The staff the history is done by: (user name, display name, role).
TEAM = (("desk.chenxiao", "陈晓", Role.CLERK), ("desk.huangmin", "黄敏", Role.CLERK),
        ("desk.linjie", "林洁", Role.CLERK), ("desk.zhoulp", "周丽萍", Role.FRONT_DESK_LEAD),
        ("desk.guoyan", "郭燕", Role.CUSTOMER_SERVICE_LEAD),
        ("desk.majun", "马骏", Role.DIRECTOR), ("gate.wuqiang", "吴强", Role.GUARD),
        ("gate.dengfei", "邓飞", Role.GUARD))


class PopulationError(RuntimeError):
    """The sizes asked for cannot be built on this site."""


@dataclass(frozen=True)
class PopulationSize:
    """What to add: households (each with a unit of its own, tenancies sharing their
    owner's), cards the desk issues in all (resident cards, their replacements, parking
    cards, workers' cards), and days of gate events ending now."""

    households: int
    cards: int
    event_days: int = 30
    taps_per_household_day: float = 2.0
    seed: int = 2026


@dataclass
class PopulationReport:
    """What was added, and how long each part took (seconds)."""

    households: int = 0
    persons: int = 0
    cards: int = 0
    lost_or_damaged: int = 0
    replaced: int = 0
    parking: int = 0
    renovations: int = 0
    visitors: int = 0
    goods_slips: int = 0
    events: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """One line per figure, for the command line."""
        timing = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        return (f"{self.households} households, {self.persons} persons, {self.cards} cards "
                f"({self.lost_or_damaged} reported lost or damaged, {self.replaced} "
                f"replaced), {self.parking} parking subscriptions, {self.renovations} "
                f"renovations, {self.visitors} visitors, {self.goods_slips} goods slips, "
                f"{self.events} gate events\ntook {timing}")


# ---------------------------------------------------------------------------- the plan


@dataclass
class _Member:
    name: str
    kind: HolderKind
    relation: Relationship
    id_number: str
    phone: str | None
    on_record: bool
    card_uid: str | None = None
    person_id: int = 0
    # When the card stopped opening doors (lost or damaged), and its replacement's UID.
    stopped_at: datetime | None = None
    issued_at: datetime | None = None
    replaced_by: _Member | None = None

    def current(self) -> _Member:
        """This card, or the one that replaced it (and so on)."""
        card = self
        while card.replaced_by is not None:
            card = card.replaced_by
        return card


@dataclass
class _Household:
    key: str
    building: str
    unit: str
    area: Decimal
    kind: HouseholdKind
    started_on: date
    lease_end: date | None
    members: list[_Member]
    # Resident cards planned, and how many come with the first application (the others
    # with a second one later: a child back from university).
    cards: int = 0
    first_cards: int = 0
    id: int = 0

    @property
    def all_direct(self) -> bool:
        """Whether every member is a direct relative of the householder (rule I4: then the
        household has no quota)."""
        return all(m.relation in DIRECT_RELATIVES for m in self.members)


@dataclass
class _Plan:
    site: SiteInfo
    groups: list[AccessGroupSpec]
    gates: list[GateSpec]
    buildings: list[BuildingSpec]
    units: list[UnitSpec]
    households: list[_Household]


def _member_relations(rng: random.Random, cards: int, quota: int) -> list[Relationship]:
    """The relationships of a household's card holders to the householder: a family,
    with one non-direct holder (a nanny, a sibling, an in-law) only where rule I4's quota
    still allows it."""
    direct = [Relationship.SELF, Relationship.SPOUSE, Relationship.CHILD, Relationship.CHILD,
              Relationship.PARENT, Relationship.PARENT, Relationship.GRANDCHILD,
              Relationship.CHILD, Relationship.GRANDPARENT]
    relations = direct[:cards] + [Relationship.CHILD] * max(0, cards - len(direct))
    if 2 <= cards <= quota and rng.random() < 0.25:
        relations[-1] = rng.choice((Relationship.NANNY, Relationship.SIBLING,
                                    Relationship.PARENT_IN_LAW))
    return relations


@dataclass(frozen=True)
class _Family:
    """What a household member's name and age follow: the householder's surname, sex and
    age, on the day the plan is made."""

    surname: str
    male: bool
    age: int
    today: date


def _person(rng: random.Random, relation: Relationship, household: _Family,
            taken: set[str]) -> tuple[str, str]:
    """Name (not in ``taken``, then added to it) and ID number of a household member by
    their relation to the householder."""
    while True:
        name, idn = _draw_person(rng, relation, household)
        if name not in taken:
            taken.add(name)
            return name, idn


def _draw_person(rng: random.Random, relation: Relationship,
                 household: _Family) -> tuple[str, str]:
    family, householder_male = household.surname, household.male
    householder_age, today = household.age, household.today
    male = rng.random() < 0.5
    name_surname, age = people.surname(rng), householder_age
    if relation is Relationship.SELF:
        male, name_surname = householder_male, family
    elif relation is Relationship.SPOUSE:
        male, age = not householder_male, householder_age + rng.randint(-5, 3)
    elif relation is Relationship.CHILD:
        name_surname, age = family, max(3, householder_age - rng.randint(24, 34))
    elif relation is Relationship.PARENT:
        name_surname, age = family, householder_age + rng.randint(24, 32)
    elif relation is Relationship.GRANDPARENT:
        name_surname, age = family, householder_age + rng.randint(48, 58)
    elif relation is Relationship.GRANDCHILD:
        name_surname, age = family, max(2, householder_age - rng.randint(50, 58))
    elif relation is Relationship.NANNY:
        male, age = False, rng.randint(40, 58)
    else:
        age = householder_age + rng.randint(-10, 10)
    age = min(max(age, 2), 92)
    born = people.birth_date(rng, today, age, age)
    return name_surname + people.given_name(rng, male), people.id_number(rng, born, male)


def _card_counts(rng: random.Random, households: int, cards: int) -> list[int]:
    """How many resident cards each household gets: at least one, the rest where the
    families are bigger, summing to ``cards``."""
    if cards < households:
        raise PopulationError(f"{cards} resident cards cannot cover {households} households "
                              "(one card each at least)")
    counts = [1] * households
    weights = [rng.choice((0.5, 1, 1, 2, 2, 3, 4)) for _ in range(households)]
    for i in rng.choices(range(households), weights, k=cards - households):
        counts[i] += 1
    return counts


def _plan(rng: random.Random, site: Site, *, taken_names: set[str],
          taken_units: set[tuple[str, str]], existing_buildings: dict[str, list[str]],
          size: PopulationSize, resident_cards: int, today: date,
          settings_quota: Callable[[Decimal], int]) -> _Plan:
    """Buildings, units, households and persons to load, and who gets which card."""
    tenancies = round(size.households * TENANCY_SHARE)
    owned = size.households - tenancies
    capacity = FLOORS * ROOMS_PER_FLOOR
    # Nine units in ten occupied: a site that still has empty homes, as real ones do.
    needed = max(1, math.ceil(owned / (capacity * 0.9)))
    groups, gates, buildings = [], [], []
    for n in range(1, needed + 1):
        code = str(n)
        if code not in existing_buildings:
            groups.append(AccessGroupSpec(f"b{code}", f"{code}栋 building {code}"))
            gates.append(GateSpec(f"b{code}-lobby", f"{code}栋大堂", GateRole.DOOR,
                                  (f"b{code}",)))
            buildings.append(BuildingSpec(code, f"{code}栋", ("common", f"b{code}")))
    used = [str(n) for n in range(1, needed + 1)]
    free = [(b, number, _AREAS[room - 1])
            for b in used for floor in range(1, FLOORS + 1)
            for room in range(1, ROOMS_PER_FLOOR + 1)
            if (b, number := f"{floor}{room:02d}") not in taken_units]
    if len(free) < owned:
        raise PopulationError(f"only {len(free)} free units for {owned} owned households")
    chosen = sorted(rng.sample(free, owned), key=lambda u: (int(u[0]), len(u[1]), u[1]))
    units = [UnitSpec(b, number, area, UnitKind.RESIDENCE) for b, number, area in chosen]
    counts = _card_counts(rng, size.households, resident_cards)
    rented = set(rng.sample(range(owned), tenancies))
    plan_households: list[_Household] = []
    slots = list(range(size.households))
    rng.shuffle(slots)

    tenancy_units = sorted(rented)
    for index in range(size.households):
        tenancy = index >= owned
        b, number, area = chosen[tenancy_units[index - owned] if tenancy else index]
        cards = counts[slots[index]]
        quota = settings_quota(area)
        relations = _member_relations(rng, cards, quota)
        if tenancy and 1 < cards <= quota and rng.random() < 0.4:
            # Sharing a flat: the others are friends, so the quota holds (I4).
            relations = [Relationship.SELF] + [Relationship.FRIEND] * (cards - 1)
        family = _Family(people.surname(rng), rng.random() < 0.6,
                         rng.randint(22, 45) if tenancy else rng.randint(28, 66), today)
        members = []
        for relation in relations:
            name, idn = _person(rng, relation, family, taken_names)
            kind = (HolderKind.TENANT if tenancy else HolderKind.OWNER
                    if relation is Relationship.SELF else HolderKind.FAMILY)
            householder = relation is Relationship.SELF
            members.append(_Member(
                name, kind, relation, idn, people.mobile(rng) if householder or rng.random()
                < 0.5 else None, on_record=householder or rng.random() < 0.7))
        # A member or two with no card: a baby, an elderly parent who never goes out.
        if rng.random() < 0.3 and not tenancy:
            name, idn = _person(rng, Relationship.CHILD, family, taken_names)
            members.append(_Member(name, HolderKind.FAMILY, Relationship.CHILD, idn, None,
                                   on_record=True))
        key = f"{b}-{number}-{'tenant' if tenancy else 'owner'}"
        started = today - timedelta(days=rng.randint(HISTORY_DAYS + 30, 12 * 365))
        lease_end = None
        if tenancy:
            started = today - timedelta(days=rng.randint(HISTORY_DAYS, HISTORY_DAYS + 300))
            # Renewed leases run a year or two past today.
            lease_end = today + timedelta(days=rng.randint(60, 700))
        household = _Household(key, b, number, area,
                               HouseholdKind.TENANCY if tenancy else HouseholdKind.OWNERSHIP,
                               started, lease_end, members, cards)
        household.first_cards = cards if cards <= 2 or rng.random() < 0.8 else 2
        plan_households.append(household)
    return _Plan(SiteInfo(site.code, site.name, site.timezone), groups, gates, buildings,
                 units, plan_households)


def _description(plan: _Plan) -> SiteDescription:
    households = tuple(HouseholdSpec(
        h.key, h.building, h.unit, h.kind, h.started_on, h.lease_end,
        f"租赁合同 {h.started_on:%Y}-{i:04d}" if h.kind is HouseholdKind.TENANCY else None)
        for i, h in enumerate(plan.households))
    persons = tuple(PersonSpec(h.key, m.name, m.kind, m.relation, m.id_number, m.phone, "")
                    for h in plan.households for m in h.members if m.on_record)
    return SiteDescription(plan.site, (), tuple(plan.groups), tuple(plan.gates),
                           tuple(plan.buildings), tuple(plan.units), households, persons)


# ---------------------------------------------------------------------------- the history


class _Timeline:
    """Actions in time order; an action may schedule later ones. The desk's clock is set
    to each action's instant before it runs."""

    def __init__(self, clock: FixedClock, end: datetime) -> None:
        self.clock, self.end = clock, end
        self._heap: list[tuple[datetime, int, Callable[[], object]]] = []
        self._order = itertools.count()

    def at(self, when: datetime, do: Callable[[], object]) -> None:
        """Run ``do`` at ``when`` (dropped if it falls after the end of the history)."""
        if when < self.end:
            heapq.heappush(self._heap, (when, next(self._order), do))

    def run(self) -> None:
        """Run everything, oldest first."""
        while self._heap:
            when, _n, do = heapq.heappop(self._heap)
            self.clock.set(when)
            do()


class _History:
    """The desk's work on the planned households, done through the services."""

    def __init__(self, desk: Desk, clock: FixedClock, rng: random.Random, *, site: Site,
                 plan: _Plan, team: dict[Role, list[Actor]], start: datetime,
                 end: datetime, uids: Iterator[str], report: PopulationReport,
                 replacements: int) -> None:
        self.desk, self.rng, self.plan, self.team = desk, rng, plan, team
        self.tz = zone(site.timezone)
        self.start, self.end = start, end
        self.timeline = _Timeline(clock, end)
        self.uids, self.report = uids, report
        self.replacements_left = replacements
        self.cards: list[tuple[_Household, _Member]] = []
        self.names = {m.name for h in plan.households for m in h.members}
        self.parking_only: set[str] = set()
        self.display = {actor.staff_id: name for name_role in team.items()
                        for actor, name in zip(name_role[1], _names(name_role[0]), strict=True)}

    # -------------------------------------------------------------- when

    def office_time(self, day: date) -> datetime:
        """An instant in the desk's opening hours (08:30–17:30 local) of ``day``."""
        minute = self.rng.randint(8 * 60 + 30, 17 * 60 + 30)
        local = datetime.combine(day, clock_time(minute // 60, minute % 60,
                                                 self.rng.randint(0, 59)), self.tz)
        return local.astimezone(UTC)

    def local_day(self, at: datetime) -> date:
        """The site-local date of ``at``."""
        return at.astimezone(self.tz).date()

    def later(self, at: datetime, days_from: int, days_to: int) -> datetime:
        """Office hours on a day ``days_from``..``days_to`` after ``at``'s (never earlier
        than ``at``)."""
        day = self.local_day(at) + timedelta(days=self.rng.randint(days_from, days_to))
        return max(self.office_time(day), at + timedelta(minutes=self.rng.randint(5, 40)))

    def who(self, role: Role) -> Actor:
        """One of the team in ``role``."""
        return self.rng.choice(self.team[role])

    # -------------------------------------------------------------- plan the year

    def schedule(self, size: PopulationSize) -> None:
        """Put every household's first application on the timeline; the rest follows."""
        first_days = max(1, (self.end - self.start).days * 2 // 3)
        for household in self.plan.households:
            day = self.local_day(self.start) + timedelta(days=self.rng.randrange(first_days))
            self.timeline.at(self.office_time(day),
                             partial(self.issue, household, household.first_cards))
        owned = [h for h in self.plan.households if h.kind is HouseholdKind.OWNERSHIP]
        for household in self.rng.sample(owned, min(len(owned), _renovations(size))):
            day = self.local_day(self.end) - timedelta(days=self.rng.randint(5, 70))
            self.timeline.at(self.office_time(day),
                             partial(self.renovate, household))
        self.schedule_gate_desk_work(size)

    def now(self) -> datetime:
        """The desk clock's instant (the running action's)."""
        return datetime.fromtimestamp(self.timeline.clock.wall(), UTC)

    def issue(self, household: _Household, count: int) -> None:
        """An application for the household's next ``count`` cards (one transaction)."""
        at = self.now()
        wanting = [m for m in household.members if m.card_uid is None][:count]
        applicant = household.members[0]
        lines: list[dict[str, Any]] = []
        for m in wanting:
            line: dict[str, Any] = {
                "uid": next(self.uids), "relationship": m.relation.value,
                "holder_signoff": {"signer_name": m.name,
                                   "reference": f"登记表 p.{self.rng.randint(1, 400)}"}}
            if m.person_id:
                line |= {"holder_person_id": m.person_id, "id_number_presented": m.id_number}
            else:
                line["new_holder"] = {"name": m.name, "id_number": m.id_number,
                                      "phone": m.phone}
            lines.append(line)
        form: dict[str, Any] = {"household_id": household.id,
                                "applicant_person_id": applicant.person_id,
                                "applicant_in_person": True, "lines": lines,
                                "payment_method": self.rng.choice(("cash", "mobile", "mobile",
                                                                   "bank_transfer"))}
        if household.kind is HouseholdKind.TENANCY:
            form["tenant_documents"] = {
                "lease_contract_ref": f"租赁合同 {household.key}",
                "id_copy_ref": f"身份证复印件 {applicant.name}"}
        elif any(not m.person_id for m in wanting):
            form["owner_confirmation"] = {
                "owner_person_id": applicant.person_id, "method": "phone",
                "confirmed_at": (at - timedelta(minutes=self.rng.randint(3, 30))).isoformat(),
                "note": f"致电业主 {applicant.phone or ''}".strip()}
        result = issue_resident_cards(self.desk, self.who(Role.CLERK),
                                      IssueResidentCards.from_form(form))
        self.report.cards += len(result.cards)
        for m, issued in zip(wanting, result.cards, strict=True):
            m.person_id, m.card_uid, m.issued_at = issued.holder_person_id, issued.uid, at
            self.cards.append((household, m))
            self.follow_card(household, m, at)
        held = sum(1 for m in household.members if m.card_uid is not None)
        if held < household.cards:
            self.timeline.at(self.later(at, 10, 120),
                             lambda: self.issue(household, household.cards - held))
        if applicant in wanting and self.rng.random() < PARKING_SHARE:
            self.timeline.at(self.later(at, 1, 60), lambda: self.park(household))

    def top_up(self, shortfall: int) -> None:
        """Cards the history left unissued (follow-ups that would have come after the
        end): that many family members added to households of direct relatives only, each
        confirmed by the owner's phone call (H1), in the history's last hours."""
        households = [h for h in self.plan.households
                      if h.kind is HouseholdKind.OWNERSHIP and h.all_direct
                      and h.members[0].person_id]
        if not households and shortfall:
            raise PopulationError(f"{shortfall} cards could not be issued")
        first = self.now()
        step = max(1.0, min(60.0, (self.end - first).total_seconds() / (shortfall + 1)))
        today = self.local_day(self.end)
        for i in range(shortfall):
            household = households[i % len(households)]
            owner = household.members[0]
            male = self.rng.random() < 0.5
            name = ""
            while not name or name in self.names:
                name = owner.name[0] + people.given_name(self.rng, male)
            self.names.add(name)
            born = people.birth_date(self.rng, today, 3, 30)
            household.members.append(_Member(name, HolderKind.FAMILY, Relationship.CHILD,
                                             people.id_number(self.rng, born, male), None,
                                             on_record=False))
            household.cards += 1
            self.timeline.clock.set(first + timedelta(seconds=step * (i + 1)))
            self.issue(household, 1)

    def follow_card(self, household: _Household, member: _Member, issued: datetime) -> None:
        """What may happen to a card later: lost or damaged, and replaced."""
        if self.rng.random() < LOSS_SHARE * 3:
            self.timeline.at(self.later(issued, 20, 120),
                             lambda: self.lose(household, member))

    def lose(self, household: _Household, member: _Member) -> None:
        """The holder reports the card lost (or damaged), the director reviews, a new card
        is issued — while replacements are left to give; then the report waits."""
        if self.replacements_left <= 0 and self.report.lost_or_damaged >= \
                self.report.replaced + PENDING_LOSSES:
            return
        assert member.card_uid is not None
        damaged = self.rng.random() < 0.25
        form = {"uid": member.card_uid, "reporter_person_id": member.person_id,
                "in_person": True, "balance_shown_yuan": "0.00", "holder_agrees": True,
                "signoff": {"signer_name": member.name,
                            "reference": f"挂失单 {self.rng.randint(100, 999)}"}}
        if damaged:
            form |= {"holder_fault": self.rng.random() < 0.7, "card_taken_back": True}
            result = report_damaged(self.desk, self.who(Role.CLERK), ReportLoss.from_form(form))
        else:
            result = report_lost(self.desk, self.who(Role.CLERK), ReportLoss.from_form(form))
        member.stopped_at = self.now()
        self.report.lost_or_damaged += 1
        if self.replacements_left <= 0:
            return  # waits in the director's review queue
        self.replacements_left -= 1
        at = member.stopped_at
        self.timeline.at(self.later(at, 0, 2), lambda: self.review(household, member,
                                                                    result.report_id))

    def review(self, household: _Household, member: _Member, report_id: int) -> None:
        """The director approves the loss report; the holder comes back for the new card."""
        review_loss(self.desk, self.who(Role.DIRECTOR), ReviewLoss.from_form(
            {"report_id": report_id, "approved": True, "note": "核实无误"}))
        self.timeline.at(self.later(self.now(), 0, 4), lambda: self.replace(household, member))

    def replace(self, household: _Household, member: _Member) -> None:
        """The replacement card (rule L2)."""
        old, new = member.card_uid, next(self.uids)
        replace_card(self.desk, self.who(Role.CLERK), ReplaceCard.from_form({
            "old_uid": old, "new_uid": new, "balance_checked_yuan": "0.00",
            "signoff": {"signer_name": member.name, "reference": "补卡登记"}}))
        member.replaced_by = _Member(member.name, member.kind, member.relation,
                                     member.id_number, member.phone, True, new,
                                     member.person_id, issued_at=self.now())
        self.cards.append((household, member.replaced_by))
        self.report.cards += 1
        self.report.replaced += 1

    def park(self, household: _Household) -> None:
        """A monthly parking card on the householder's card (or a new parking-only card):
        applied (P1), signed by the owner unit and approved by the director (P3), paid
        (P2), some renewed before they lapse."""
        holder = household.members[0]
        paying = holder.current()
        if paying.stopped_at is not None or paying.card_uid is None:
            return
        registration = people.plate(self.rng)
        docs = {"id_number_presented": holder.id_number,
                "driving_licence_ref": f"驾驶证 {holder.id_number[:6]}…",
                "vehicle_licence_ref": f"行驶证 {registration}",
                "parking_agreement_ref": f"车位使用协议 {self.rng.randint(1000, 9999)}"}
        if household.kind is HouseholdKind.TENANCY:
            docs["lease_contract_ref"] = f"租赁合同 {household.key}"
        form: dict[str, Any] = {"holder_person_id": holder.person_id, "plate": registration,
                                "documents": docs}
        # Only in a household of direct relatives: a parking-only card counts among the
        # household's cards in use, which rule I4 limits otherwise.
        new_card = (self.rng.random() < PARKING_NEW_CARD_SHARE and household.all_direct
                    and self.replacements_left > 0)
        if new_card:
            # A parking-only card counts among the cards; one replacement fewer keeps the
            # total as asked.
            self.replacements_left -= 1
            paying = _Member(holder.name, holder.kind, holder.relation, holder.id_number,
                             holder.phone, True, next(self.uids), holder.person_id)
            form |= {"new_uid": paying.card_uid, "holder_signoff": {"signer_name": holder.name}}
        else:
            form["existing_uid"] = paying.card_uid
        applied = apply_parking(self.desk, self.who(Role.CLERK), ApplyParking.from_form(form))
        if new_card:
            assert paying.card_uid is not None
            paying.issued_at = self.now()
            self.report.cards += 1
            self.cards.append((household, paying))
            self.parking_only.add(paying.card_uid)
        self.report.parking += 1
        at = self.now()
        sid = applied.subscription_id

        def owner_unit() -> None:
            record_owner_unit_approval(self.desk, self.who(Role.CLERK),
                                       RecordOwnerUnitApproval.from_form({
                                           "subscription_id": sid,
                                           "signer_name": "业主单位 行政部",
                                           "signed_at": self.now().isoformat(),
                                           "reference": f"车位使用申请表 {sid}"}))

        def approve() -> None:
            # Floating spaces only: the desk has no list of fixed spaces to let yet.
            approve_parking(self.desk, self.who(Role.DIRECTOR), ApproveParking.from_form({
                "subscription_id": sid, "fee_per_month_yuan": "300",
                "space_kind": "floating"}))
            self.timeline.at(self.later(self.now(), 0, 1), pay)

        def pay() -> None:
            card = paying.current()
            if card.stopped_at is not None:
                return  # reported lost: no renewal until the replacement
            months = self.rng.choice((1, 1, 3, 3, 6, 12))
            paid = top_up_parking(self.desk, self.who(Role.CLERK), TopUpParking.from_form(
                {"uid": card.card_uid, "months": months,
                 "payment_method": self.rng.choice(("cash", "mobile", "mobile"))}))
            if self.rng.random() < 0.7:
                # Renewed a few days before the paid month runs out.
                renew = datetime.combine(paid.paid_until - timedelta(days=self.rng.randint(
                    0, 6)), clock_time(10), self.tz).astimezone(UTC)
                self.timeline.at(max(renew, self.now() + timedelta(hours=1)), pay)

        self.timeline.at(self.later(at, 0, 2), owner_unit)
        self.timeline.at(self.later(at, 3, 6), approve)

    def renovate(self, household: _Household) -> None:
        """A renovation: filed with its deposits (H6, G6), approved by the director, the
        workers' cards lent, sometimes extended."""
        owner = household.members[0]
        today = self.local_day(self.now())
        starts = today + timedelta(days=self.rng.randint(1, 5))
        ends = starts + timedelta(days=self.rng.randint(30, 85))
        self_renovating = self.rng.random() < 0.2
        form: dict[str, Any] = {"household_id": household.id,
                                "applicant_person_id": owner.person_id,
                                "starts_on": starts.isoformat(), "ends_on": ends.isoformat(),
                                "self_renovation": self_renovating,
                                "payment_method": self.rng.choice(("cash", "bank_transfer"))}
        company = self.rng.choice(("深圳市美家装饰工程有限公司", "鹏城装饰设计有限公司",
                                   "东易日盛家居装饰", "金螳螂家装", "业之峰装饰"))
        lead = people.surname(self.rng) + people.given_name(self.rng, True)
        if not self_renovating:
            form["contractor"] = {"name": company, "lead_name": lead,
                                  "lead_phone": people.mobile(self.rng)}
        filing = file_renovation(self.desk, self.who(Role.CLERK), FileRenovation.from_form(form))
        self.report.renovations += 1
        at = self.now()

        def approve() -> None:
            approve_renovation(self.desk, self.who(Role.DIRECTOR), filing.filing_id)

        def workers() -> None:
            lines = []
            for _ in range(WORKERS_PER_RENOVATION):
                name = people.surname(self.rng) + people.given_name(self.rng, True)
                born = people.birth_date(self.rng, today, 20, 55)
                lines.append({"uid": next(self.uids), "worker": {
                    "name": name, "id_number": people.id_number(self.rng, born, True),
                    "phone": people.mobile(self.rng), "organisation": company},
                    "signoff": {"signer_name": name}})
            issue_worker_cards(self.desk, self.who(Role.CLERK),
                               IssueWorkerCards.from_form({"filing_id": filing.filing_id,
                                                           "lines": lines}))
            self.report.cards += len(lines)

        def extend() -> None:
            extend_renovation(self.desk, self.who(Role.CLERK), ExtendRenovation.from_form({
                "filing_id": filing.filing_id,
                "new_end": (ends + timedelta(days=self.rng.randint(10, 60))).isoformat(),
                "signoff": {"signer_name": lead}}))

        self.timeline.at(self.later(at, 0, 0), approve)
        start_at = max(self.office_time(starts), at + timedelta(days=1, hours=1))
        self.timeline.at(start_at, workers)
        if self.rng.random() < 0.3:
            self.timeline.at(self.office_time(ends - timedelta(days=self.rng.randint(1, 5))),
                             extend)

    def schedule_gate_desk_work(self, size: PopulationSize) -> None:
        """The last month's visitors at the main gate and goods slips at the desk."""
        per_day = min(40, max(3, size.households // 30))
        last = self.local_day(self.end)
        for back in range(1, 31):
            day = last - timedelta(days=back)
            for _ in range(self.rng.randint(per_day // 2, per_day)):
                minute = self.rng.randint(7 * 60, 21 * 60)
                at = datetime.combine(day, clock_time(minute // 60, minute % 60), self.tz)
                self.timeline.at(at.astimezone(UTC), self.visitor)
            if self.rng.random() < 0.6:
                self.timeline.at(self.office_time(day), self.goods_slip)

    def visitor(self) -> None:
        """A guard registers a visitor at the main gate (G5); most leave the same day."""
        male = self.rng.random() < 0.5
        name = people.surname(self.rng) + people.given_name(self.rng, male)
        born = people.birth_date(self.rng, self.local_day(self.end), 18, 75)
        form: dict[str, Any] = {
            "name": name, "id_number": people.id_number(self.rng, born, male),
            "gate_code": "main-gate",
            "items": self.rng.choice(("", "", "", "快递包裹", "水果礼盒", "工具包", "鲜花"))}
        if self.rng.random() < 0.3:
            form["plate"] = people.plate(self.rng)
        seen = register_visitor(self.desk, self.who(Role.GUARD),
                                RegisterVisitor.from_form(form))
        self.report.visitors += 1
        at = self.now()
        if self.rng.random() < 0.9:
            self.timeline.at(at + timedelta(minutes=self.rng.randint(15, 240)),
                             lambda: record_visitor_exit(self.desk, self.who(Role.GUARD),
                                                         seen.registration_id))

    def goods_slip(self) -> None:
        """An owner's goods release slip (G4): issued, approved by the lead, checked out
        at the main gate."""
        owners = [h for h in self.plan.households if h.kind is HouseholdKind.OWNERSHIP
                  and h.members[0].person_id]
        if not owners:
            return
        household = self.rng.choice(owners)
        owner = household.members[0]
        today = self.local_day(self.now())
        number = issue_goods_slip(self.desk, self.who(Role.CLERK), IssueGoodsSlip.from_form({
            "household_id": household.id, "applicant_person_id": owner.person_id,
            "carrier_name": owner.name, "valid_on": today.isoformat(),
            "items": self.rng.choice(("旧沙发一张", "冰箱一台、洗衣机一台", "书柜两个",
                                      "搬家：纸箱二十个、床垫一张", "自行车一辆"))}))
        self.report.goods_slips += 1
        approve_goods_slip(self.desk, self.who(Role.CUSTOMER_SERVICE_LEAD), number)
        guard = self.who(Role.GUARD)
        self.timeline.at(self.now() + timedelta(minutes=self.rng.randint(30, 300)),
                         lambda: record_goods_exit(self.desk, guard, RecordGoodsExit.from_form({
                             "number": number, "gate_code": "main-gate", "items_match": True,
                             "carrier_matches": True,
                             "guard_signoff": {"signer_name": self.display[guard.staff_id]}})))


def _renovations(size: PopulationSize) -> int:
    return max(2, size.households // 100)


def _extra_cards(size: PopulationSize) -> tuple[int, int]:
    """Cards that are not a household's first: (workers' cards, replacements and
    parking-only cards)."""
    workers = _renovations(size) * WORKERS_PER_RENOVATION
    return workers, round(size.cards * LOSS_SHARE)


# ---------------------------------------------------------------------------- gate events

# Local hour → how busy the gates are (people leave 7–9, come back 17–20).
_HOURLY = (0.3, 0.15, 0.1, 0.1, 0.15, 0.4, 1.5, 4.5, 5.0, 2.5, 1.8, 1.8, 2.2, 1.8, 1.5, 1.6,
           2.0, 3.5, 4.5, 3.8, 2.8, 2.0, 1.2, 0.6)


@dataclass(frozen=True)
class _SiteGates:
    """The site's gates by what they are for, read from the desk: the doors every
    resident's card opens, each building's own doors, the car-park barriers."""

    main: tuple[str, ...]
    lobbies: dict[str, str]
    entry: tuple[str, ...]
    exit: tuple[str, ...]

    @classmethod
    def read(cls, desk: Desk, site_id: int) -> _SiteGates:
        """From the gates' and buildings' access groups."""
        with desk.sessions() as s:
            gates = [(g.code, g.role, {a.name for a in g.access_groups}) for g in s.scalars(
                select(Gate).where(Gate.site_id == site_id).order_by(Gate.code))]
            defaults = {b.code: {a.name for a in b.default_access_groups} for b in s.scalars(
                select(Building).where(Building.site_id == site_id))}
        shared = set.intersection(*defaults.values()) if defaults else set()
        doors = [(code, groups) for code, role, groups in gates if role is GateRole.DOOR]
        lobbies = {}
        for building, groups in defaults.items():
            own = [code for code, accepts in doors if accepts & (groups - shared)]
            if own and building.isdigit():
                lobbies[building] = own[0]
        return cls(tuple(code for code, accepts in doors if accepts & shared), lobbies,
                   tuple(c for c, role, _g in gates if role is GateRole.BARRIER_ENTRY),
                   tuple(c for c, role, _g in gates if role is GateRole.BARRIER_EXIT))


def _gate_events(rng: random.Random, site_gates: _SiteGates, *,
                 cards: list[tuple[_Household, _Member]], tz_name: str, end: datetime,
                 size: PopulationSize, parking_uids: set[str], parking_only: set[str]
                 ) -> dict[str, list[dict[str, Any]]]:
    """A month of taps at the site's gates, each a journal event as a gate writes it:
    mostly granted, some refused with the gate's reason (a lost card tried, a card at a
    building it does not open, a card the site never issued, a visitor's card at night),
    and a few door alarms. Per gate, in time order, numbered from 1."""
    tz = zone(tz_name)
    by_gate: dict[str, list[tuple[float, dict[str, Any]]]] = {}
    lobby_of = site_gates.lobbies
    mains, barriers = site_gates.main or ("main-gate",), site_gates.entry + site_gates.exit
    taps = round(size.households * size.taps_per_household_day * size.event_days)
    start = end - timedelta(days=size.event_days)
    span = (end - start).total_seconds()
    hours = list(range(24))
    usable = [(h, m) for h, m in cards if m.issued_at is not None and m.issued_at < end]
    if not usable:
        return {}
    doors = (*mains, *lobby_of.values())

    def instant() -> datetime:
        day = (start + timedelta(seconds=rng.random() * span)).astimezone(tz).date()
        hour = rng.choices(hours, _HOURLY)[0]
        return datetime.combine(day, clock_time(hour, rng.randrange(60), rng.randrange(60)),
                                tz).astimezone(UTC)

    def add(gate: str, at: datetime, **event: Any) -> None:
        if start <= at < end:
            by_gate.setdefault(gate, []).append((at.timestamp(), event))

    for _ in range(taps):
        household, member = rng.choice(usable)
        at = instant()
        if member.issued_at is not None and at < member.issued_at:
            continue
        uid = member.card_uid
        kind = member.kind.value
        roll = rng.random()
        parks = uid in parking_uids
        lobby = lobby_of.get(household.building)
        others = sorted(set(lobby_of.values()) - {lobby})
        if barriers and parks and (roll < 0.3 or uid in parking_only):
            gate = rng.choice(barriers)
        elif roll < 0.55 or lobby is None:
            gate = rng.choice(mains)
        elif roll < 0.985 or not others:
            gate = lobby
        else:
            # Someone tries their card at a friend's building.
            gate = rng.choice(others)
        if member.stopped_at is not None and at >= member.stopped_at:
            granted, reason = False, "lost"
            if rng.random() < 0.9:
                continue  # a lost card is rarely tried again
        elif (gate in barriers) != (parks and gate in barriers) or (
                uid in parking_only and gate not in barriers) or gate in others:
            granted, reason = False, "not_permitted_here"
        else:
            granted, reason = True, "granted"
        add(gate, at, kind="tap", uid=uid, granted=granted, reason=reason,
            data={"latency_us": rng.randint(900, 4200), "holder_kind": kind})
    for _ in range(max(3, taps // 400)):
        # Cards the site never issued: a neighbouring compound's, a bank card.
        add(rng.choice(doors), instant(), kind="tap",
            uid=people.card_uid(rng), granted=False, reason="unknown_card",
            data={"latency_us": rng.randint(700, 2000)})
    for _ in range(max(2, taps // 3000)):
        add(rng.choice(doors), instant(), kind="door_held_open",
            alarm=True, data={"after": 60})
    for _ in range(max(1, taps // 10000)):
        add(rng.choice(doors), instant(), kind="door_forced_open",
            alarm=True, data={})
    journals: dict[str, list[dict[str, Any]]] = {}
    for gate, timed in by_gate.items():
        timed.sort(key=lambda t: t[0])
        boot_id, booted = f"{rng.getrandbits(128):032x}", timed[0][0] - 3600
        out = []
        for seq, (wall, made) in enumerate(timed, start=1):
            if wall - booted > 14 * 86400 and rng.random() < 0.01:
                boot_id, booted = f"{rng.getrandbits(128):032x}", wall - 30
            out.append({"seq": seq, "boot_id": boot_id, "wall": wall, "mono": wall - booted,
                        "kind": made["kind"], "alarm": made.get("alarm", False),
                        "clock_trusted": True, "uid": made.get("uid"),
                        "granted": made.get("granted"), "reason": made.get("reason"),
                        "data": made.get("data") or {}})
        journals[gate] = out
    return journals


# ---------------------------------------------------------------------------- entry point


def _taken(desk: Desk, site: Site) -> tuple[set[str], set[tuple[str, str]], dict[str, list[str]]]:
    with desk.sessions() as s:
        names = set(s.scalars(select(Person.name).where(Person.site_id == site.id)))
        units = {(b, n) for b, n in s.execute(
            select(Building.code, Unit.number).join(Unit.building)
            .where(Building.site_id == site.id))}
        groups: dict[str, list[str]] = {}
        for building in s.scalars(select(Building).where(Building.site_id == site.id)):
            groups[building.code] = [g.name for g in building.default_access_groups]
    return names, units, groups


def _load_ids(desk: Desk, site_id: int, plan: _Plan) -> None:
    """The database ids of the planned households and their persons on record."""
    with desk.sessions() as s:
        households = {(b, n, k): hid for hid, b, n, k in s.execute(
            select(Household.id, Building.code, Unit.number, Household.kind)
            .join(Household.unit).join(Unit.building)
            .where(Building.site_id == site_id, Household.ended_on.is_(None)))}
        persons = {(hid, name): pid for pid, hid, name in s.execute(
            select(Person.id, Person.household_id, Person.name)
            .where(Person.site_id == site_id, Person.household_id.is_not(None)))}
    for h in plan.households:
        h.id = households[(h.building, h.unit, h.kind)]
        for m in h.members:
            if m.on_record:
                m.person_id = persons[(h.id, m.name)]


def _names(role: Role) -> list[str]:
    return [display for _u, display, r in TEAM if r is role]


def _team(desk: Desk, site: Site, password: str) -> dict[Role, list[Actor]]:
    """The desk's staff the history is done by (created once; found on a later run)."""
    team: dict[Role, list[Actor]] = {}
    with desk.sessions() as s:
        known = {u: i for u, i in s.execute(select(Staff.username, Staff.id))}
    for username, display, role in TEAM:
        staff_id = known.get(username) or create_staff(desk, NewStaff.from_form({
            "username": username, "display_name": display, "role": role.value,
            "password": password, "site": site.code}))
        team.setdefault(role, []).append(Actor(staff_id, site.code))
    return team


def populate(db_url: str, size: PopulationSize, *, site_code: str | None = None,
             sync_store: Path | str | None = None, staff_password: str | None = None,
             end: datetime | None = None, hasher: PasswordHasher | None = None,
             progress: Callable[[str], None] | None = None) -> PopulationReport:
    """Add ``size`` to the (loaded) site of the desk database at ``db_url`` — its only
    site, or ``site_code`` — through the desk's services, with the history ending at
    ``end`` (default now); then, given the site's ``sync_store`` (central store file), a
    month of gate events. ``staff_password`` is the password of the staff accounts the
    history is done by (random when not given: they are then names in the register only).
    """
    report = PopulationReport()
    say = progress or (lambda _text: None)
    end = (end or datetime.now(UTC)) - timedelta(minutes=1)
    start = end - timedelta(days=HISTORY_DAYS)
    rng = random.Random(size.seed)
    clock = FixedClock(start)
    desk = Desk(_building_engine(db_url), clock, hasher or PasswordHasher())
    t0 = time.perf_counter()
    try:
        with desk.sessions() as s:
            query = select(Site) if site_code is None else select(Site).where(
                Site.code == site_code)
            sites = list(s.scalars(query))
            if len(sites) != 1:
                raise PopulationError(f"{len(sites)} sites match; load the site first, or "
                                      "name one with --site")
            site = sites[0]
            settings = site.settings
            s.expunge_all()
            quota_threshold = settings.quota_area_threshold_m2
            small, large = settings.quota_small_home, settings.quota_large_home
        names, units, buildings = _taken(desk, site)
        workers, replacements = _extra_cards(size)
        resident = size.cards - workers - replacements
        plan = _plan(rng, site, taken_names=names, taken_units=units,
                     existing_buildings=buildings, size=size, resident_cards=resident,
                     today=end.date(),
                     settings_quota=lambda area: large if area >= quota_threshold else small)
        loaded = load_site(desk, _description(plan))
        report.households = loaded.added.get("households", 0)
        report.persons = loaded.added.get("persons", 0)
        _load_ids(desk, site.id, plan)
        report.seconds["site"] = time.perf_counter() - t0
        say(f"site extended: {report.households} households, {report.persons} persons")
        t1 = time.perf_counter()
        team = _team(desk, site, staff_password or secrets.token_urlsafe(18))
        history = _History(desk, clock, rng, site=site, plan=plan, team=team, start=start,
                           end=end, uids=_unique_uids(rng, desk, site.id), report=report,
                           replacements=replacements)
        history.names |= names
        history.schedule(size)
        history.timeline.run()
        history.top_up(size.cards - report.cards)
        report.seconds["desk history"] = time.perf_counter() - t1
        say(f"desk history: {report.cards} cards")
        if sync_store is not None and size.event_days > 0:
            t2 = time.perf_counter()
            with desk.sessions() as s:
                parking_uids = set(s.scalars(select(Card.uid).join(Card.parking_subscriptions)))
            journals = _gate_events(rng, _SiteGates.read(desk, site.id), cards=history.cards,
                                    tz_name=site.timezone, end=end, size=size,
                                    parking_uids=parking_uids,
                                    parking_only=history.parking_only)
            store = CentralStore(sync_store, site.code)
            try:
                for gate, events in journals.items():
                    # The journal the gate kept before this demo's (its own starts afresh).
                    report.events += store.import_events(gate, f"demo-history-{gate}",
                                                         events)
            finally:
                store.close()
            report.seconds["gate events"] = time.perf_counter() - t2
    finally:
        desk.close()
    return report


def _building_engine(db_url: str) -> Engine:
    """The desk's engine, without the fsync of every commit: a made-up site is built in one
    go, and a build a power cut interrupts is built again from its seed; a real desk's
    writes keep ``synchronous=FULL`` (central/db.py), or PostgreSQL's synchronous commit."""
    engine = make_engine(db_url)
    require_current_schema(engine)
    sqlite = engine.dialect.name == "sqlite"

    @event.listens_for(engine, "connect")
    def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
        # Runs after make_engine's own listener, which sets FULL.
        if sqlite:
            dbapi_connection.execute("PRAGMA synchronous=OFF")
            return
        # A session setting, committed: psycopg opened a transaction to run it.
        dbapi_connection.execute("SET synchronous_commit TO off")
        dbapi_connection.commit()

    return engine


def _unique_uids(rng: random.Random, desk: Desk, site_id: int) -> Iterator[str]:
    with desk.sessions() as s:
        taken = set(s.scalars(select(Card.uid).where(Card.site_id == site_id)))
    while True:
        uid = people.card_uid(rng)
        if uid not in taken:
            taken.add(uid)
            yield uid


__all__ = ["PopulationError", "PopulationReport", "PopulationSize", "populate"]
