"""The monthly parking report (停车费收取情况月统计表), rule P4, built from the desk's own
records and the gates' logs.

Part one, the desk's: every parking fee taken in the month (top-ups and their receipts).
Part two, security's: each card's actual use — granted taps at the car-park barriers, and
granted plate reads (issue 12: a camera's plate matched to the card, the event's ``uid``),
read from the sync library's event store through ``GateEventSource`` (``CentralStore`` is
one) in one pass per lane. A card tapped and its plate read for the same car (a
card-and-plate lane, or a driver tapping at a card-or-plate lane already opened by the
camera) is one use, not two.
The reconciliation sets them side by side: cards paid for the month that never used the car
park, and cards that used it on days nothing was paid for. Months and days are the site's
(site-local), as every rule counts them. The stamps and the director's signature are in
central/services/parking_report_signoff.py; CSV and XLSX in parking_report_export.py.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Protocol

from sqlalchemy import select

from central.clock import zone
from central.models import (
    Card,
    Device,
    Gate,
    GateRole,
    ParkingSpace,
    ParkingSubscription,
    ParkingTopUp,
    Person,
    Receipt,
    ReceiptLine,
    Site,
    SpaceKind,
    Vehicle,
)
from central.services.context import Action
from central.services.parking_space import BARRIER_ROLES
from edge.uid import normalize_uid

# The gate events that are a card's use of the car park: a tap, or its car's plate read.
USE_KINDS = frozenset({"tap", "plate"})
# A tap and a plate read of one card at one lane this close are the same car passing once
# (the lane's pair window is seconds; a second real entry takes the arm's whole cycle).
SAME_CAR_SECONDS = 30.0


class GateEventSource(Protocol):
    """Where the gates' events are: ``sync.hub.store.CentralStore`` has this method."""

    def granted_card_events(self, devices: Collection[str], since: float, until: float,
                            kinds: Collection[str]) -> Iterable[tuple[str, str, str, float, int]]:
        """The granted events of ``kinds`` naming a card at ``devices``, since <= wall <
        until, as (device, uid, kind, wall, clock_trusted): device by device, each in
        wall-clock order."""
        ...


@dataclass(frozen=True)
class FeeLine:
    """One parking fee taken in the month."""

    receipt_number: int
    paid_on: date
    card_uid: str
    holder_name: str
    plate: str
    space: str
    months: int
    paid_from: date
    paid_until: date
    amount_fen: int
    void: bool


@dataclass(frozen=True)
class UsageLine:
    """One card's use of the car park in the month; ``unpaid_days`` are days it was used
    with no paid period covering them."""

    card_uid: str
    holder_name: str
    plate: str
    entries: int
    exits: int
    days_used: int
    unpaid_days: tuple[date, ...]


@dataclass(frozen=True)
class PaidNotUsed:
    """A subscription paid for (part of) the month whose card never used the car park."""

    card_uid: str
    holder_name: str
    plate: str
    paid_days: int


@dataclass(frozen=True)
class ReportStamps:
    """Who did each step and when (rule P4), with the deadlines."""

    fees_totalled_by: str
    fees_totalled_on: date
    fees_due_on: date
    usage_added_by: str | None
    usage_added_on: date | None
    usage_due_on: date
    signed_by: str | None
    signed_on: date | None
    content_sha256: str | None
    director_note: str

    @property
    def fees_late(self) -> bool:
        """Whether the desk totalled the fees after the 10th."""
        return self.fees_totalled_on > self.fees_due_on

    @property
    def usage_late(self) -> bool:
        """Whether security added the use after the 15th."""
        return self.usage_added_on is not None and self.usage_added_on > self.usage_due_on


@dataclass(frozen=True)
class ParkingReport:
    """The whole report of one site and month. ``usage`` is None until the gates' events
    are read in (then the reconciliation is filled too)."""

    site_code: str
    site_name: str
    month: date
    fees: tuple[FeeLine, ...]
    fees_total_fen: int
    usage: tuple[UsageLine, ...] | None
    paid_not_used: tuple[PaidNotUsed, ...] = ()
    untrusted_clock_events: int = 0
    stamps: ReportStamps | None = None

    @property
    def fees_count(self) -> int:
        """How many fees (not voided) the total is made of."""
        return sum(1 for fee in self.fees if not fee.void)

    @property
    def entries_total(self) -> int:
        """Granted entries of every card."""
        return sum(u.entries for u in self.usage or ())

    @property
    def exits_total(self) -> int:
        """Granted exits of every card."""
        return sum(u.exits for u in self.usage or ())

    @property
    def used_without_paying(self) -> tuple[UsageLine, ...]:
        """Cards that used the car park on days nothing was paid for."""
        return tuple(u for u in self.usage or () if u.unpaid_days)


def next_month(month: date) -> date:
    """The first day of the month after ``month``'s."""
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def due_dates(month: date) -> tuple[date, date]:
    """Rule P4's deadlines for ``month``'s report: the 10th (fees) and the 15th (use) of
    the month after."""
    following = next_month(month)
    return following.replace(day=10), following.replace(day=15)


@dataclass
class _Subscription:
    """What the report needs of one subscription: its cards, holder, plate, paid days."""

    uid: str
    uids: set[str]
    holder: str
    plate: str
    paid_days: set[date] = field(default_factory=set)


@dataclass(frozen=True)
class _Sub:
    """One subscription's columns the report shows (read in one query, not per line)."""

    card_id: int
    card_uid: str
    holder: str | None
    plate: str
    space: str
    ended_on: date | None


def _subscriptions(act: Action, site: Site) -> dict[int, _Sub]:
    """Every subscription of the site by id, with its card, holder, plate and space."""
    rows = act.session.execute(
        select(ParkingSubscription.id, ParkingSubscription.card_id, Card.uid, Person.name,
               Vehicle.plate, ParkingSubscription.space_kind, ParkingSpace.number,
               ParkingSubscription.ended_on)
        .join(Card, Card.id == ParkingSubscription.card_id)
        .outerjoin(Person, Person.id == Card.holder_person_id)
        .join(Vehicle, Vehicle.id == ParkingSubscription.vehicle_id)
        .outerjoin(ParkingSpace, ParkingSpace.id == ParkingSubscription.space_id)
        .where(ParkingSubscription.site_id == site.id))
    return {sub_id: _Sub(card_id, uid, holder, plate, _space(kind, number), ended_on)
            for sub_id, card_id, uid, holder, plate, kind, number, ended_on in rows}


def _card_uids(card_id: int, cards: dict[int, tuple[str, int | None]]) -> set[str]:
    # The card and every card it replaced (rule L2 moves the subscription to the new card):
    # taps of the old card before the replacement were paid for too.
    uids: set[str] = set()
    seen: set[int] = set()
    current: int | None = card_id
    while current is not None and current in cards and current not in seen:
        seen.add(current)
        uid, current = cards[current]
        uids.add(uid)
    return uids


def _space(kind: SpaceKind, number: str | None) -> str:
    return f"{kind.value} {number}" if number else kind.value


def _fees(act: Action, site: Site, month: date, subs: dict[int, _Sub]) -> tuple[FeeLine, ...]:
    in_month = (Receipt.site_id == site.id, Receipt.issued_on >= month,
                Receipt.issued_on < next_month(month))
    # The receipt names the card paid on (it may since have been replaced): its first line.
    named: dict[int, str | None] = {}
    for receipt_id, uid in act.session.execute(
            select(ReceiptLine.receipt_id, ReceiptLine.card_uid)
            .join(Receipt, Receipt.id == ReceiptLine.receipt_id).where(*in_month)
            .order_by(ReceiptLine.id)):
        named.setdefault(receipt_id, uid)
    lines = []
    for (sub_id, months, paid_from, paid_until, amount, receipt_id, number, issued_on, payer,
         voided_at) in act.session.execute(
            select(ParkingTopUp.subscription_id, ParkingTopUp.months, ParkingTopUp.paid_from,
                   ParkingTopUp.paid_until, ParkingTopUp.amount_fen, Receipt.id, Receipt.number,
                   Receipt.issued_on, Receipt.payer_name, Receipt.voided_at)
            .join(Receipt, Receipt.id == ParkingTopUp.receipt_id).where(*in_month)
            .order_by(Receipt.number, ParkingTopUp.id)):
        sub = subs[sub_id]
        lines.append(FeeLine(number, issued_on, named.get(receipt_id) or sub.card_uid,
                             sub.holder if sub.holder is not None else payer, sub.plate,
                             sub.space, months, paid_from, paid_until, amount,
                             voided_at is not None))
    return tuple(lines)


def _coverage(act: Action, site: Site, month: date,
              subs: dict[int, _Sub]) -> list[_Subscription]:
    """Each subscription's paid days within the month (voided receipts pay nothing; an
    ended subscription covers no day from its end)."""
    cards: dict[int, tuple[str, int | None]] = {
        card_id: (uid, replaces) for card_id, uid, replaces in act.session.execute(
            select(Card.id, Card.uid, Card.replaces_card_id).where(Card.site_id == site.id))}
    last_day = next_month(month) - timedelta(days=1)
    found: dict[int, _Subscription] = {}
    for sub_id, paid_from, paid_until in act.session.execute(
            select(ParkingTopUp.subscription_id, ParkingTopUp.paid_from,
                   ParkingTopUp.paid_until)
            .join(Receipt, Receipt.id == ParkingTopUp.receipt_id)
            .where(Receipt.site_id == site.id, Receipt.voided_at.is_(None),
                   ParkingTopUp.paid_from <= last_day, ParkingTopUp.paid_until >= month)
            .order_by(ParkingTopUp.id)):
        sub = subs[sub_id]
        entry = found.get(sub_id)
        if entry is None:
            entry = found[sub_id] = _Subscription(sub.card_uid, _card_uids(sub.card_id, cards),
                                                  sub.holder or "", sub.plate)
        day = max(paid_from, month)
        stop = min(paid_until, last_day)
        if sub.ended_on is not None:
            stop = min(stop, sub.ended_on - timedelta(days=1))
        while day <= stop:
            entry.paid_days.add(day)
            day += timedelta(days=1)
    return [entry for entry in found.values() if entry.paid_days]


@cache
def _card_uid(text: str) -> str | None:
    """An event's ``uid`` as the desk writes UIDs; None for one that is not a UID."""
    try:
        return normalize_uid(text)
    except ValueError:
        return None


def _lanes(act: Action, site: Site) -> list[tuple[str, GateRole]]:
    """The site's car-park lanes by device id: a lane controller's device name is its gate's
    code (as every gate view takes it), and a device the desk registered for a lane is read
    too."""
    lanes: dict[str, GateRole] = {}
    for gate_id, code, role in act.session.execute(
            select(Gate.id, Gate.code, Gate.role).where(
                Gate.site_id == site.id, Gate.role.in_(BARRIER_ROLES)).order_by(Gate.id)):
        lanes[str(code)] = role
        for device in act.session.scalars(select(Device.device_id).where(
                Device.site_id == site.id, Device.gate_id == gate_id)):
            lanes.setdefault(str(device), role)
    return sorted(lanes.items())


def build_report(act: Action, month: date, events: GateEventSource | None) -> ParkingReport:
    """Rule P4's report of ``month`` (its first day) for the action's site: the fees, and —
    when ``events`` is given — each card's use and the reconciliation."""
    site = act.site
    subs = _subscriptions(act, site)
    fees = _fees(act, site, month, subs)
    total = sum(fee.amount_fen for fee in fees if not fee.void)
    if events is None:
        return ParkingReport(site.code, site.name, month, fees, total, None)
    tz = zone(site.timezone)
    # Local midnights of the month's days and the next month's first: an event's day is
    # found by bisection, not a time-zone conversion per event.
    days = [month + timedelta(days=n) for n in range((next_month(month) - month).days + 1)]
    midnights = [datetime.combine(day, time(0), tz).timestamp() for day in days]
    since, until = midnights[0], midnights[-1]
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    used_on: dict[str, set[int]] = defaultdict(set)
    untrusted = 0
    lanes = dict(_lanes(act, site))
    device, side = None, 0
    # Per card at the lane being read: the wall time and kind of the use last counted.
    last: dict[str, tuple[float, str]] = {}
    for at_device, raw_uid, kind, at, trusted in events.granted_card_events(
            lanes, since, until, USE_KINDS):
        if at_device != device:
            device, last = at_device, {}
            side = 0 if lanes.get(at_device) is GateRole.BARRIER_ENTRY else 1
        uid = _card_uid(raw_uid)
        if uid is None:
            continue
        before = last.get(uid)
        if before is not None and before[1] != kind and at - before[0] < SAME_CAR_SECONDS:
            continue  # the other credential of the same car
        last[uid] = (at, kind)
        counts[uid][side] += 1
        used_on[uid].add(bisect_right(midnights, at) - 1)
        untrusted += 0 if trusted else 1
    days_used = {uid: {days[n] for n in indexes} for uid, indexes in used_on.items()}
    coverage = _coverage(act, site, month, subs)
    paid_by_uid: dict[str, set[date]] = defaultdict(set)
    for entry in coverage:
        for uid in entry.uids:
            paid_by_uid[uid] |= entry.paid_days
    known = {e.uid: e for e in coverage}
    holders = dict(act.session.execute(
        select(Card.uid, Person.name).join(Person, Person.id == Card.holder_person_id)
        .where(Card.site_id == site.id)).all())
    usage = tuple(
        UsageLine(uid, holders.get(uid) or "", known[uid].plate if uid in known else "",
                  entries, exits, len(days_used[uid]),
                  tuple(sorted(days_used[uid] - paid_by_uid.get(uid, set()))))
        for uid, (entries, exits) in sorted(counts.items()))
    paid_not_used = tuple(
        PaidNotUsed(entry.uid, entry.holder, entry.plate, len(entry.paid_days))
        for entry in sorted(coverage, key=lambda e: e.uid)
        if not any(uid in counts for uid in entry.uids))
    return ParkingReport(site.code, site.name, month, fees, total, usage, paid_not_used,
                         untrusted)
