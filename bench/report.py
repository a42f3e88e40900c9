"""The monthly parking report (rule P4) of a site with a month of gate events.

    python -m bench.report --cards 2000 --events 1000000

A site of ``--households`` households holding ``--desk-cards`` cards (bench/desk_load.py's
site, made by ``menwei-desk populate-demo``'s code) is given ``--cards`` monthly parking
cards in all through the desk's own services — applied for (P1), signed by the owner unit
and approved by the director (P3), paid (P2), most renewed during the report's month and a
few late — and ``--events`` gate events in that month are stored where the desk keeps them
(the site's central sync store, ``sync-<site>.db``, written by
``CentralStore.import_events`` in the store's own schema): the parking cards' plate reads
and taps at the car-park lanes (granted on the days paid, refused after), temporary cars,
resident cards tried at a lane, and door taps of every card for the rest. Both are built
once per size and code version into var/bench-cache/, then copied where the desk keeps its
data (``--data-dir``).

The desk totals the fees and security adds the use (P4's first two steps, the second timed
once: it reads the logs too). Then, for ``--rounds`` rounds, interleaved: the report as the
director downloads it (``current_parking_report`` and ``report_xlsx``, the calls the API's
``?format=xlsx`` and the page's XLSX link make), and the physical limit of the same work: one
SQL pass reading the month's granted taps and plate reads of the car-park lanes from the same
store file, and an XLSX of the same number of lines written with the same library.

Prints the median and max of both, the split of the report's time (computing, XLSX) and
the ratio; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import shutil
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlalchemy import func, select

from bench.common import data_folder
from bench.desk_load import ROOT, site_database
from central import demo_people as people
from central.clock import FixedClock, zone
from central.db import make_engine
from central.models import (
    Card,
    CardState,
    Gate,
    GateRole,
    HolderKind,
    HouseholdKind,
    ParkingSubscription,
    ParkingTopUp,
    Person,
    Receipt,
    Role,
    Site,
    Staff,
    Vehicle,
)
from central.services.context import Actor, Desk
from central.services.parking import (
    PARKING_HOLDERS,
    ApplyParking,
    TopUpParking,
    apply_parking,
    top_up_parking,
)
from central.services.parking_approval import (
    ApproveParking,
    RecordOwnerUnitApproval,
    approve_parking,
    record_owner_unit_approval,
)
from central.services.parking_report import ParkingReport, next_month
from central.services.parking_report_export import report_xlsx
from central.services.parking_report_signoff import (
    add_parking_usage,
    current_parking_report,
    total_parking_fees,
)
from central.services.parking_space import normalize_plate
from sync.hub.store import CentralStore

CACHE = ROOT / "var" / "bench-cache"
GOAL_S = 10.0
# Of the parking cards' top-ups in the month before the report's: months paid. A one-month
# card is renewed during the report's month (the fees part), most a few days before it
# lapses, some days late (the days between are used unpaid: the reconciliation).
MONTHS_PAID = (1, 1, 1, 1, 3, 3, 6, 12)
RENEWED_LATE = 0.08
# A parking card's car: moves on most days, one to three round trips; a few never come
# (paid, never used: the reconciliation).
MOVES_ON_A_DAY, TRIPS, NEVER_COMES = 0.85, (1, 1, 1, 2, 2, 3), 0.03
# How it passes a lane: the camera alone; the camera and the driver's tap anyway; a read too
# poor to match, then the tap (the lanes are card-or-plate).
PLATE_ONLY, PLATE_AND_TAP = 0.6, 0.8
# Days a lapsed monthly card is still let in (the site's policy; flagged).
GRACE_DAYS = 3
# Temporary cars per parking card and day; resident cards tried at a lane per day.
TEMPORARY_PER_CARD_DAY, STRAY_TAPS_PER_CARD_DAY = 0.4, 0.02
# Lane events per parking card and day (about) with the figures above: with few events
# asked, the cars move less so the doors keep at least half of them.
LANE_EVENTS_PER_CARD_DAY = 4.7
# Local hour -> how busy the doors are (bench: people leave 7-9, come back 17-20).
HOURLY = (0.3, 0.15, 0.1, 0.1, 0.15, 0.4, 1.5, 4.5, 5.0, 2.5, 1.8, 1.8, 2.2, 1.8, 1.5, 1.6,
          2.0, 3.5, 4.5, 3.8, 2.8, 2.0, 1.2, 0.6)
# Events per batch a gate sends (sync/agent: what its journal holds unacknowledged).
BATCH = (50, 500)


def _digest(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _cached(path: Path, build: Callable[[Path], None]) -> float | None:
    """Build ``path`` through a ``.building`` file renamed when done (an interrupted build
    is never taken for a finished one); seconds taken, None when it was there."""
    if path.exists():
        return None
    CACHE.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building")
    for stale in CACHE.glob(building.name + "*"):
        stale.unlink()
    started = time.perf_counter()
    build(building)
    building.rename(path)
    return time.perf_counter() - started


def _checkpoint(db: Path) -> None:
    """Fold the WAL into the file, so a copy of the one file is the whole database."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


# ---------------------------------------------------------------------------- the site


@dataclass(frozen=True)
class Team:
    """Who does each step: a clerk, the office director, a guard (security)."""

    clerk: Actor
    director: Actor
    guard: Actor

    @classmethod
    def read(cls, desk: Desk) -> Team:
        """The populated site's staff (central/demo_population.py's team)."""
        with desk.sessions() as s:
            site = s.scalars(select(Site)).one()
            first = {role: s.scalars(select(Staff.id).where(Staff.role == role)
                                     .order_by(Staff.id)).first() for role in Role}
        staff = {role: Actor(i, site.code) for role, i in first.items() if i is not None}
        return cls(staff[Role.CLERK], staff[Role.DIRECTOR], staff[Role.GUARD])


def report_month(base: Path) -> date:
    """The report's month: the second after the populated site's last receipt, so the
    parking cards are applied for and paid in the month between, on the desk's clock going
    forward."""
    engine = make_engine(f"sqlite:///{base}")
    try:
        with engine.connect() as conn:
            last = conn.scalar(select(func.max(Receipt.issued_on)))
    finally:
        engine.dispose()
    assert last is not None, "the populated site has receipts"
    return next_month(next_month(last.replace(day=1)))


@dataclass(frozen=True)
class _Candidate:
    person_id: int
    uid: str
    id_number: str | None
    tenancy: bool


def _candidates(desk: Desk) -> list[_Candidate]:
    """Active cards held by residents who may hold a parking card, without one yet."""
    with desk.sessions() as s:
        taken = set(s.scalars(select(ParkingSubscription.card_id)))
        out = []
        for card, person in s.execute(
                select(Card, Person).join(Person, Person.id == Card.holder_person_id)
                .where(Card.state == CardState.ACTIVE).order_by(Card.id)):
            household = person.household
            if (card.id in taken or person.holder_kind not in PARKING_HOLDERS
                    or person.holder_kind is HolderKind.STAFF
                    or (household is not None and not household.is_current)):
                continue
            out.append(_Candidate(person.id, card.uid, person.id_number,
                                  household is not None
                                  and household.kind is HouseholdKind.TENANCY))
    return out


def _usable_subscriptions(desk: Desk) -> list[str]:
    """Cards of the site's running, approved subscriptions whose card is active."""
    with desk.sessions() as s:
        return list(s.scalars(
            select(Card.uid).join(ParkingSubscription, ParkingSubscription.card_id == Card.id)
            .where(ParkingSubscription.ended_on.is_(None),
                   ParkingSubscription.approved_at.is_not(None),
                   Card.state == CardState.ACTIVE).order_by(Card.id)))


def build_parking_site(out: Path, base: Path, month: date, cards: int, seed: int) -> None:
    """A copy of ``base`` where ``cards`` cards carry a running parking subscription, each
    paid in the month before ``month``, the one-month ones renewed during it."""
    shutil.copyfile(base, out)
    rng = random.Random(seed)
    engine = make_engine(f"sqlite:///{out}")
    probe = Desk(engine)
    team = Team.read(probe)
    usable = _usable_subscriptions(probe)
    candidates = _candidates(probe)
    with probe.sessions() as s:
        plates = set(s.scalars(select(Vehicle.plate)))
        tz = zone(s.scalars(select(Site.timezone)).one())
    probe.close()
    wanted = cards - len(usable)
    if wanted > len(candidates):
        raise SystemExit(f"the site has {len(candidates)} cards that may take a parking "
                         f"card, {wanted} are needed: give more --desk-cards")
    before = (month - timedelta(days=1)).replace(day=1)
    clock = FixedClock(datetime.combine(before, clock_time(9), tz).astimezone(UTC))
    desk = Desk(engine, clock)
    step = timedelta(days=20) / max(1, wanted * 4 + len(usable))

    def now() -> str:
        clock.advance(step)
        return datetime.fromtimestamp(clock.wall(), UTC).isoformat()

    paid: list[str] = list(usable)
    for who in rng.sample(candidates, max(0, wanted)):
        plate = ""
        while not plate or normalize_plate(plate) in plates:
            plate = people.plate(rng)
        plates.add(normalize_plate(plate))
        docs = {"id_number_presented": who.id_number or "",
                "driving_licence_ref": "驾驶证 bench", "vehicle_licence_ref": f"行驶证 {plate}",
                "parking_agreement_ref": f"车位使用协议 {rng.randint(1000, 9999)}"}
        if who.tenancy:
            docs["lease_contract_ref"] = "租赁合同 bench"
        now()
        applied = apply_parking(desk, team.clerk, ApplyParking.from_form({
            "holder_person_id": who.person_id, "plate": plate, "documents": docs,
            "existing_uid": who.uid}))
        sid = applied.subscription_id
        record_owner_unit_approval(desk, team.clerk, RecordOwnerUnitApproval.from_form({
            "subscription_id": sid, "signer_name": "业主单位 行政部", "signed_at": now(),
            "reference": f"车位使用申请表 {sid}"}))
        now()
        approve_parking(desk, team.director, ApproveParking.from_form({
            "subscription_id": sid, "fee_per_month_yuan": "300", "space_kind": "floating"}))
        paid.append(who.uid)
    # Every card paid in the month before; the one-month ones renewed in the report's.
    renewals: list[tuple[datetime, str]] = []
    for uid in paid:
        now()
        months = rng.choice(MONTHS_PAID)
        result = top_up_parking(desk, team.clerk, TopUpParking.from_form(
            {"uid": uid, "months": months, "payment_method": rng.choice(("cash", "mobile"))}))
        if result.paid_until < next_month(month) - timedelta(days=1):
            late = rng.random() < RENEWED_LATE
            day = result.paid_until + timedelta(days=rng.randint(2, 9) if late
                                                else -rng.randint(0, 6))
            renewals.append((datetime.combine(max(day, month), clock_time(
                rng.randint(9, 17), rng.randrange(60)), tz), uid))
    for at, uid in sorted(renewals):
        clock.set(max(at.astimezone(UTC), datetime.fromtimestamp(clock.wall(), UTC)))
        top_up_parking(desk, team.clerk, TopUpParking.from_form({"uid": uid, "months": 1}))
    desk.close()
    engine.dispose()
    _checkpoint(out)


def parking_site(base: Path, month: date, cards: int,
                 seed: int) -> tuple[Path, float | None]:
    """The parking site's database (cached per base, size, seed and code version) and how
    long building it took (None: cached)."""
    version = _digest(Path(__file__), *(ROOT / "central" / "services" / f"{name}.py"
                                        for name in ("parking", "parking_approval")))
    path = CACHE / f"report-{base.stem}-{cards}p-{version}.db"
    return path, _cached(path, lambda out: build_parking_site(out, base, month, cards, seed))


# ---------------------------------------------------------------------------- the events


@dataclass(frozen=True)
class ParkingCard:
    """A parking card as the lanes see it: UID, plate, holder kind, the days paid."""

    uid: str
    plate: str
    holder_kind: str
    paid: frozenset[date]


@dataclass(frozen=True)
class SiteGates:
    """The site's gate codes (its devices' ids) by role, its code and time zone, the
    active cards (door taps) and the parking cards."""

    site: str
    timezone: str
    doors: tuple[str, ...]
    entries: tuple[str, ...]
    exits: tuple[str, ...]
    resident_uids: tuple[str, ...]
    parking: tuple[ParkingCard, ...]

    @classmethod
    def read(cls, desk: Desk, month: date) -> SiteGates:
        """From the desk: gates, active cards, each subscription's days paid in ``month``
        (non-void top-ups)."""
        last_day = next_month(month) - timedelta(days=1)
        with desk.sessions() as s:
            site = s.scalars(select(Site)).one()
            gates = s.execute(select(Gate.code, Gate.role).order_by(Gate.code)).all()
            residents = tuple(s.scalars(select(Card.uid).where(
                Card.state == CardState.ACTIVE).order_by(Card.uid)))
            paid: dict[int, set[date]] = {}
            for sub_id, first, last, receipt in s.execute(
                    select(ParkingTopUp.subscription_id, ParkingTopUp.paid_from,
                           ParkingTopUp.paid_until, Receipt)
                    .join(Receipt, Receipt.id == ParkingTopUp.receipt_id)):
                if receipt.is_void:
                    continue
                days = paid.setdefault(sub_id, set())
                day = max(first, month)
                while day <= min(last, last_day):
                    days.add(day)
                    day += timedelta(days=1)
            parking = tuple(
                ParkingCard(uid, plate, kind.value if kind else "owner",
                            frozenset(paid.get(sub_id, ())))
                for sub_id, uid, plate, kind in s.execute(
                    select(ParkingSubscription.id, Card.uid, Vehicle.plate, Card.holder_kind)
                    .join(Card, Card.id == ParkingSubscription.card_id)
                    .join(Vehicle, Vehicle.id == ParkingSubscription.vehicle_id)
                    .where(ParkingSubscription.ended_on.is_(None),
                           Card.state == CardState.ACTIVE).order_by(Card.uid)))
        return cls(site.code, site.timezone,
                   tuple(c for c, r in gates if r is GateRole.DOOR),
                   tuple(c for c, r in gates if r is GateRole.BARRIER_ENTRY),
                   tuple(c for c, r in gates if r is GateRole.BARRIER_EXIT), residents, parking)


# (wall, kind, uid, granted, reason, data)
Made = tuple[float, str, str | None, bool | None, str | None, dict[str, Any]]


class Month:
    """A month of gate events at the site, per device, as the gates journal them."""

    def __init__(self, gates: SiteGates, month: date, events: int, seed: int) -> None:
        self.gates, self.rng = gates, random.Random(seed)
        self.tz = zone(gates.timezone)
        self.days = [month + timedelta(days=i) for i in range((next_month(month) - month).days)]
        self.by_device: dict[str, list[Made]] = {}
        expected = LANE_EVENTS_PER_CARD_DAY * len(gates.parking) * len(self.days)
        self.activity = min(1.0, 0.5 * events / expected) if expected else 0.0
        self.away = {c.uid for c in gates.parking if self.rng.random() < NEVER_COMES}
        for day in self.days:
            self.lanes(day)
        lanes = sum(len(v) for v in self.by_device.values())
        self.doors(max(0, events - lanes))
        self.lane_events = lanes

    def at(self, day: date, hour: float) -> float:
        """The wall clock (epoch seconds) of a local hour of ``day`` (past 24: capped)."""
        hour = min(hour, 24 - 1 / 3600)
        return datetime.combine(day, clock_time(0), self.tz).timestamp() + hour * 3600

    def add(self, device: str, made: Made) -> None:
        """One event at ``device``."""
        self.by_device.setdefault(device, []).append(made)

    def passes(self, card: ParkingCard, day: date, lane: str, at: float) -> None:
        """A parking card's car at a lane: its plate read, maybe the tap; granted on a paid
        day and in the grace days after (used unpaid: the reconciliation), refused after
        (and a guard opens by hand)."""
        rng = self.rng
        grace = day not in card.paid and any(
            day - timedelta(days=n) in card.paid for n in range(1, GRACE_DAYS + 1))
        paid = day in card.paid or grace
        verdict = "granted" if paid else "parking_expired"
        days_left = sum(1 for d in card.paid if d > day)
        grant: dict[str, Any] = {"space_class": "monthly", "days_left": days_left}
        if grace:
            grant["flags"] = ["parking_grace"]
        if not paid:
            grant = {}
        camera = f"cam-{lane}"
        roll = rng.random()
        read = {"plate": card.plate, "confidence": round(rng.uniform(0.9, 0.995), 3),
                "camera": camera, "match": "exact", **grant}
        tap = {"latency_us": rng.randint(900, 4200), "holder_kind": card.holder_kind, **grant}
        if roll < PLATE_ONLY:
            self.add(lane, (at, "plate", card.uid, paid, verdict, read))
        elif roll < PLATE_AND_TAP:
            self.add(lane, (at, "plate", card.uid, paid, verdict, read))
            self.add(lane, (at + rng.uniform(3, 12), "tap", card.uid, paid, verdict, tap))
        else:
            self.add(lane, (at, "plate", None, False, "plate_low_confidence",
                            {"plate": card.plate[:-2] + "??",
                             "confidence": round(rng.uniform(0.3, 0.6), 3), "camera": camera,
                             "match": "none"}))
            self.add(lane, (at + rng.uniform(5, 15), "tap", card.uid, paid, verdict, tap))
        if not paid:
            self.add(lane, (at + rng.uniform(30, 120), "manual_open", None, None, None,
                            {"guard": "吴强", "reason": "月卡过期 已补缴"}))

    def lanes(self, day: date) -> None:
        """One day at the car park: the parking cards' cars, temporary cars, strays."""
        rng, gates = self.rng, self.gates
        if not gates.entries or not gates.exits:
            return
        for card in gates.parking:
            if card.uid in self.away or rng.random() > MOVES_ON_A_DAY * self.activity:
                continue
            hour = rng.gauss(8, 1.2)
            for _trip in range(rng.choice(TRIPS)):
                back = hour + rng.uniform(0.5, 10)
                if back >= 24:
                    break
                self.passes(card, day, rng.choice(gates.exits), self.at(day, hour))
                self.passes(card, day, rng.choice(gates.entries), self.at(day, back))
                hour = back + rng.uniform(0.2, 3)
        plates = len(gates.parking) * TEMPORARY_PER_CARD_DAY * self.activity
        for _ in range(round(plates)):
            hour = rng.uniform(7, 21)
            plate = normalize_plate(people.plate(rng))
            self.add(rng.choice(gates.entries), (
                self.at(day, hour), "plate", None, True, "granted",
                {"plate": plate, "confidence": 0.97, "camera": "cam-in", "match": "none",
                 "space_class": "temporary"}))
            out = self.at(day, hour + rng.uniform(0.3, 5))
            lane = rng.choice(gates.exits)
            self.add(lane, (out, "plate", None, False, "pay_at_booth",
                            {"plate": plate, "confidence": 0.96, "camera": "cam-out",
                             "match": "none", "space_class": "temporary"}))
            self.add(lane, (out + rng.uniform(40, 180), "manual_open", None, None, None,
                            {"guard": "邓飞", "reason": "临时车 已收费"}))
        strays = len(gates.parking) * STRAY_TAPS_PER_CARD_DAY * self.activity
        for _ in range(round(strays)):
            lane = rng.choice(gates.entries + gates.exits)
            self.add(lane, (self.at(day, rng.uniform(6, 23)), "tap",
                            rng.choice(gates.resident_uids), False, "not_permitted_here",
                            {"latency_us": rng.randint(900, 4200)}))

    def doors(self, count: int) -> None:
        """``count`` door taps spread over the month by the hour: every active card, a
        few refused (a card at a building it does not open, cards the site never issued)."""
        rng, gates = self.rng, self.gates
        doors = gates.doors or ("main-gate",)
        weights = [3.0 if d == "main-gate" else 1.0 for d in doors]
        hours = list(range(24))
        for _ in range(count):
            day = rng.choice(self.days)
            at = self.at(day, rng.choices(hours, HOURLY)[0] + rng.random())
            door = rng.choices(doors, weights)[0]
            roll = rng.random()
            if roll < 0.01:
                made: Made = (at, "tap", people.card_uid(rng), False, "unknown_card",
                              {"latency_us": rng.randint(700, 2000)})
            elif roll < 0.03:
                made = (at, "tap", rng.choice(gates.resident_uids), False,
                        "not_permitted_here", {"latency_us": rng.randint(900, 4200)})
            else:
                made = (at, "tap", rng.choice(gates.resident_uids), True, "granted",
                        {"latency_us": rng.randint(900, 4200), "holder_kind": "owner"})
            self.add(door, made)

    def journals(self) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Every device's events as the gates send them: each device's journal in time
        order, numbered from 1, cut into batches, the batches of all devices in the order
        they arrive (interleaved, as the store's rows are when gates report)."""
        rng = random.Random(f"journals-{len(self.by_device)}")
        ordered = {d: sorted(made, key=lambda m: m[0]) for d, made in self.by_device.items()}
        arrivals: list[tuple[float, str, int, int]] = []
        for device, made in ordered.items():
            lo = 0
            while lo < len(made):
                hi = min(len(made), lo + rng.randint(*BATCH))
                arrivals.append((made[hi - 1][0], device, lo, hi))
                lo = hi
        boots: dict[str, tuple[str, float]] = {}
        for _arrived, device, lo, hi in sorted(arrivals):
            made = ordered[device]
            boot, booted = boots.get(device) or (f"{rng.getrandbits(128):032x}",
                                                 made[0][0] - 3600)
            batch = []
            for seq, (wall, kind, uid, granted, reason, data) in enumerate(
                    made[lo:hi], start=lo + 1):
                if wall - booted > 14 * 86400 and rng.random() < 0.01:
                    boot, booted = f"{rng.getrandbits(128):032x}", wall - 30
                batch.append({"seq": seq, "boot_id": boot, "wall": wall,
                              "mono": wall - booted, "kind": kind, "alarm": False,
                              "clock_trusted": True, "uid": uid, "granted": granted,
                              "reason": reason, "data": data})
            boots[device] = (boot, booted)
            yield device, batch


def build_event_store(out: Path, site_db: Path, month: date, events: int,
                      seed: int) -> None:
    """The site's central store with ``events`` gate events in ``month``, written through
    ``CentralStore.import_events`` (the store's own schema and bulk path) batch by batch
    in the order the gates would send them."""
    desk = Desk(make_engine(f"sqlite:///{site_db}"))
    gates = SiteGates.read(desk, month)
    desk.close()
    made = Month(gates, month, events, seed)
    store = CentralStore(out, gates.site)
    try:
        for device, batch in made.journals():
            store.import_events(device, f"bench-{device}", batch)
        assert store.count_events() == events, store.count_events()
    finally:
        store.close()
    _checkpoint(out)


def event_store(site_db: Path, month: date, events: int,
                seed: int) -> tuple[Path, float | None]:
    """The site's store of the month's events (cached per site, size, seed and code
    version) and how long building it took (None: cached)."""
    version = _digest(Path(__file__), ROOT / "sync" / "hub" / "schema.py",
                      ROOT / "sync" / "hub" / "journals.py")
    path = CACHE / f"{site_db.stem}-{events}e-{version}.sync.db"
    return path, _cached(path, lambda out: build_event_store(out, site_db, month, events, seed))


# ---------------------------------------------------------------------------- the runs


@dataclass(frozen=True)
class Shape:
    """The report's lines per sheet and their widths: what the baseline writes as many of."""

    sheets: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, report: ParkingReport) -> Shape:
        """The XLSX's sheets as (rows, columns), title and heading lines included."""
        usage = report.usage or ()
        return cls(((len(report.fees) + 4, 11), (len(usage) + 4, 7),
                    (len(report.paid_not_used) + len(report.used_without_paying) + 7, 5),
                    (5, 5)))


def the_report(desk: Desk, director: Actor, month: date,
               store: CentralStore) -> tuple[float, float, ParkingReport, bytes]:
    """The director's download: the report read as the page and the API read it, then its
    XLSX; (computing seconds, XLSX seconds, the report, the file)."""
    started = time.perf_counter()
    report = current_parking_report(desk, director, month, store)
    computed = time.perf_counter()
    xlsx = report_xlsx(report)
    return computed - started, time.perf_counter() - computed, report, xlsx


def baseline(store_file: Path, lanes: tuple[str, ...], since: float, until: float,
             shape: Shape) -> tuple[float, int]:
    """The physical limit of the same work: one SQL pass over the month's granted taps and
    plate reads of the lanes (the rows the report needs, per lane in time order) from the
    same store file, and an XLSX of the report's lines with the same library; (seconds,
    rows read)."""
    started = time.perf_counter()
    conn = sqlite3.connect(store_file)
    try:
        rows = conn.execute(
            f"SELECT device, uid, kind, wall, clock_trusted FROM events "
            f"WHERE device IN ({', '.join('?' * len(lanes))}) AND wall >= ? AND wall < ? "
            "AND granted = 1 AND kind IN ('tap', 'plate') AND uid IS NOT NULL "
            "ORDER BY device, wall", (*lanes, since, until)).fetchall()
    finally:
        conn.close()
    workbook = Workbook()
    for index, (lines, width) in enumerate(shape.sheets):
        sheet = workbook.active if index == 0 else workbook.create_sheet()
        assert sheet is not None
        for n in range(lines):
            device, uid, kind, wall, _trusted = rows[n % len(rows)] if rows else ("", "", "",
                                                                               0.0, 1)
            sheet.append([uid, device, kind, n, wall, "", "", "", "", "", ""][:width])
    workbook.save(io.BytesIO())
    return time.perf_counter() - started, len(rows)


def _line(name: str, values: list[float]) -> str:
    return (f"  {name:<34} median {statistics.median(values):7.3f} s   "
            f"max {max(values):7.3f} s")


def main() -> None:
    """Run the benchmark and print its figures; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cards", type=int, default=2000, help="monthly parking cards")
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="gate events in the month")
    parser.add_argument("--households", type=int, default=5000)
    parser.add_argument("--desk-cards", type=int, default=20000,
                        help="cards the populated site holds before the parking cards")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where the desk keeps its data (default /var/lib/menwei-bench)")
    args = parser.parse_args()

    print(f"site: {args.households} households, {args.desk_cards} cards", flush=True)
    base, base_s = site_database(args.households, args.desk_cards, args.seed)
    print(f"  built in {base_s:.1f} s" if base_s is not None else f"  cached: {base}",
          flush=True)
    print(f"parking: {args.cards} monthly parking cards", flush=True)
    month = report_month(base)
    site_db, site_s = parking_site(base, month, args.cards, args.seed)
    print(f"  built in {site_s:.1f} s" if site_s is not None else f"  cached: {site_db}",
          flush=True)
    print(f"gate events: {args.events} in the month", flush=True)
    events_db, events_s = event_store(site_db, month, args.events, args.seed)
    print(f"  built in {events_s:.1f} s" if events_s is not None else f"  cached: {events_db}",
          flush=True)

    with data_folder(args.data_dir, "report-") as (folder, fs):
        desk_file = folder / "desk.db"
        shutil.copyfile(site_db, desk_file)
        engine = make_engine(f"sqlite:///{desk_file}")
        probe = Desk(engine)
        team = Team.read(probe)
        gates = SiteGates.read(probe, month)
        probe.close()
        store_file = folder / f"sync-{gates.site}.db"
        shutil.copyfile(events_db, store_file)
        tz = zone(gates.timezone)
        # P4's steps on the desk's clock: fees by the 10th, use by the 15th, read on the 16th.
        clock = FixedClock(datetime.combine(next_month(month).replace(day=3), clock_time(10),
                                            tz).astimezone(UTC))
        desk = Desk(engine, clock)
        store = CentralStore(store_file, gates.site)
        try:
            stored = store.count_events()
            total_parking_fees(desk, team.clerk, month)
            clock.set(datetime.combine(next_month(month).replace(day=12), clock_time(10),
                                       tz).astimezone(UTC))
            started = time.perf_counter()
            add_parking_usage(desk, team.guard, month, store)
            usage_step_s = time.perf_counter() - started
            clock.set(datetime.combine(next_month(month).replace(day=16), clock_time(10),
                                       tz).astimezone(UTC))
            _c, _x, first, _file = the_report(desk, team.director, month, store)
            shape = Shape.of(first)
            since = datetime.combine(month, clock_time(0), tz).timestamp()
            until = datetime.combine(next_month(month), clock_time(0), tz).timestamp()
            lanes = gates.entries + gates.exits
            computing, xlsx, totals, base_times = [], [], [], []
            base_rows = 0
            for _ in range(args.rounds):
                c, x, report, _file = the_report(desk, team.director, month, store)
                computing.append(c)
                xlsx.append(x)
                totals.append(c + x)
                b, base_rows = baseline(store_file, lanes, since, until, shape)
                base_times.append(b)
        finally:
            store.close()
            desk.close()
            engine.dispose()

    seconds, base_s_median = statistics.median(totals), statistics.median(base_times)
    ratio = seconds / base_s_median
    print(f"{month:%Y-%m}: {stored} gate events stored ({report.entries_total} entries, "
          f"{report.exits_total} exits of {len(report.usage or ())} cards counted from "
          f"{base_rows} granted taps and plate reads at {len(lanes)} lanes), "
          f"{report.fees_count} fees, {len(report.paid_not_used)} paid never used, "
          f"{len(report.used_without_paying)} used without paying")
    print(f"security adds the use (P4 step 2, once): {usage_step_s:.3f} s")
    print(f"{args.rounds} rounds, interleaved:")
    print(_line("report + XLSX (director's download)", totals))
    print(_line("  computing", computing))
    print(_line("  XLSX", xlsx))
    print(_line("baseline: SQL pass + same XLSX", base_times))
    verdict = "ok" if seconds <= GOAL_S else "OVER GOAL"
    print(f"report {seconds:.3f} s (goal <= {GOAL_S:g} s: {verdict}), "
          f"{ratio:.2f}x the baseline")
    print(json.dumps({
        "seconds": round(seconds, 3), "seconds_max": round(max(totals), 3),
        "compute_seconds": round(statistics.median(computing), 3),
        "xlsx_seconds": round(statistics.median(xlsx), 3),
        "baseline_seconds": round(base_s_median, 3),
        "baseline_seconds_max": round(max(base_times), 3), "ratio": round(ratio, 2),
        "usage_step_seconds": round(usage_step_s, 3), "events": stored,
        "cards": len(gates.parking),
        "lane_rows": base_rows, "rounds": args.rounds, "filesystem": fs,
        "site_build_s": None if site_s is None else round(site_s, 1),
        "events_build_s": None if events_s is None else round(events_s, 1)}))


if __name__ == "__main__":
    main()
