"""The monthly parking report (停车费收取情况月统计表), rule P4, built from the desk's own
records and the gates' logs.

Part one, the desk's: every parking fee taken in the month (top-ups and their receipts).
Part two, security's: each card's actual use — granted taps at the car-park barriers, and
granted plate reads (issue 12: a camera's plate matched to the card, the event's ``uid``),
read from the sync library's event store through ``GateEventSource`` (``CentralStore`` is
one). A card tapped and its plate read for the same car (a card-and-plate lane, or a driver
tapping at a card-or-plate lane already opened by the camera) is one use, not two.
The reconciliation sets them side by side: cards paid for the month that never used the car
park, and cards that used it on days nothing was paid for. Months and days are the site's
(site-local), as every rule counts them. The stamps and the director's signature are in
central/services/parking_report_signoff.py; CSV and XLSX in parking_report_export.py.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol

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
    Receipt,
    ReceiptLine,
    Site,
)
from central.services.context import Action
from central.services.parking_space import BARRIER_ROLES
from edge.uid import normalize_uid

# Events are read this many at a time (CentralStore.events_for has a limit, no cursor).
EVENT_PAGE = 1000
# The gate events that are a card's use of the car park: a tap, or its car's plate read.
USE_KINDS = frozenset({"tap", "plate"})
# A tap and a plate read of one card at one lane this close are the same car passing once
# (the lane's pair window is seconds; a second real entry takes the arm's whole cycle).
SAME_CAR_SECONDS = 30.0


class GateEventSource(Protocol):
    """Where the gates' events are: ``sync.hub.store.CentralStore`` has this method."""

    def events_for(self, device: str | None = None, *, uid: str | None = None,
                   since: float | None = None, until: float | None = None,
                   granted: bool | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Stored events matching every filter (since <= wall < until), oldest first."""
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


def _card_uids(card: Card, cards_by_id: dict[int, Card]) -> set[str]:
    # The card and every card it replaced (rule L2 moves the subscription to the new card):
    # taps of the old card before the replacement were paid for too.
    uids: set[str] = set()
    seen: set[int] = set()
    current: Card | None = card
    while current is not None and current.id not in seen:
        seen.add(current.id)
        uids.add(current.uid)
        previous = current.replaces_card_id
        current = cards_by_id.get(previous) if previous is not None else None
    return uids


def _space(sub: ParkingSubscription, spaces: dict[int, str]) -> str:
    number = spaces.get(sub.space_id) if sub.space_id is not None else None
    return f"{sub.space_kind.value} {number}" if number else sub.space_kind.value


def _fees(act: Action, site: Site, month: date,
          subs: dict[int, ParkingSubscription]) -> tuple[FeeLine, ...]:
    spaces = dict(act.session.execute(select(ParkingSpace.id, ParkingSpace.number).where(
        ParkingSpace.site_id == site.id)).all())
    lines = []
    for top_up, receipt in act.session.execute(
            select(ParkingTopUp, Receipt).join(Receipt, Receipt.id == ParkingTopUp.receipt_id)
            .where(Receipt.site_id == site.id, Receipt.issued_on >= month,
                   Receipt.issued_on < next_month(month))
            .order_by(Receipt.number, ParkingTopUp.id)):
        sub = subs[top_up.subscription_id]
        # The receipt names the card paid on (it may since have been replaced).
        named = act.session.scalars(select(ReceiptLine.card_uid).where(
            ReceiptLine.receipt_id == receipt.id)).first()
        holder = sub.card.holder.name if sub.card.holder is not None else receipt.payer_name
        lines.append(FeeLine(receipt.number, receipt.issued_on, named or sub.card.uid, holder,
                             sub.vehicle.plate, _space(sub, spaces), top_up.months,
                             top_up.paid_from, top_up.paid_until, top_up.amount_fen,
                             receipt.is_void))
    return tuple(lines)


def _coverage(act: Action, site: Site, month: date,
              subs: dict[int, ParkingSubscription]) -> list[_Subscription]:
    """Each subscription's paid days within the month (voided receipts pay nothing; an
    ended subscription covers no day from its end)."""
    cards_by_id = {c.id: c for c in act.session.scalars(select(Card).where(
        Card.site_id == site.id))}
    last_day = next_month(month) - timedelta(days=1)
    found: dict[int, _Subscription] = {}
    for top_up, receipt in act.session.execute(
            select(ParkingTopUp, Receipt).join(Receipt, Receipt.id == ParkingTopUp.receipt_id)
            .where(Receipt.site_id == site.id, ParkingTopUp.paid_from <= last_day,
                   ParkingTopUp.paid_until >= month)):
        if receipt.is_void:
            continue
        sub = subs[top_up.subscription_id]
        entry = found.get(sub.id)
        if entry is None:
            holder = sub.card.holder.name if sub.card.holder is not None else ""
            entry = found[sub.id] = _Subscription(sub.card.uid, _card_uids(sub.card, cards_by_id),
                                                  holder, sub.vehicle.plate)
        day = max(top_up.paid_from, month)
        stop = min(top_up.paid_until, last_day)
        if sub.ended_on is not None:
            stop = min(stop, sub.ended_on - timedelta(days=1))
        while day <= stop:
            entry.paid_days.add(day)
            day += timedelta(days=1)
    return [entry for entry in found.values() if entry.paid_days]


def _barrier_events(source: GateEventSource, device: str, since: float,
                    until: float) -> list[dict[str, Any]]:
    """Every granted event of ``device`` in [since, until), paging by wall time."""
    # An event is (journal, seq): a device's replaced journal numbers from 1 again.
    seen: set[tuple[str, int]] = set()
    events: list[dict[str, Any]] = []
    cursor, limit = since, EVENT_PAGE
    while True:
        page = source.events_for(device, since=cursor, until=until, granted=True, limit=limit)
        fresh = [e for e in page if _key(e) not in seen]
        seen.update(_key(e) for e in fresh)
        events += fresh
        if len(page) < limit:
            return events
        if not fresh:
            # A whole page at one wall time: read a bigger page from the same point.
            limit *= 2
            continue
        cursor = float(page[-1]["wall"])


def _key(event: dict[str, Any]) -> tuple[str, int]:
    return str(event.get("journal_id") or ""), int(event["seq"])


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
    subs = {s.id: s for s in act.session.scalars(select(ParkingSubscription).where(
        ParkingSubscription.site_id == site.id))}
    fees = _fees(act, site, month, subs)
    total = sum(fee.amount_fen for fee in fees if not fee.void)
    if events is None:
        return ParkingReport(site.code, site.name, month, fees, total, None)
    tz = zone(site.timezone)
    since = datetime.combine(month, time(0), tz).timestamp()
    until = datetime.combine(next_month(month), time(0), tz).timestamp()
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    days: dict[str, set[date]] = defaultdict(set)
    untrusted = 0
    for device, role in _lanes(act, site):
        # Per card at this lane: the wall time and kind of the use last counted.
        last: dict[str, tuple[float, str]] = {}
        for event in _barrier_events(events, device, since, until):
            kind = event.get("kind")
            if kind not in USE_KINDS or not event.get("uid"):
                continue
            try:
                uid = normalize_uid(str(event["uid"]))
            except ValueError:
                continue
            at = float(event["wall"])
            before = last.get(uid)
            if before is not None and before[1] != kind and at - before[0] < SAME_CAR_SECONDS:
                continue  # the other credential of the same car
            last[uid] = (at, str(kind))
            counts[uid][0 if role is GateRole.BARRIER_ENTRY else 1] += 1
            days[uid].add(datetime.fromtimestamp(at, tz).date())
            untrusted += 0 if event.get("clock_trusted", True) else 1
    coverage = _coverage(act, site, month, subs)
    paid_by_uid: dict[str, set[date]] = defaultdict(set)
    for entry in coverage:
        for uid in entry.uids:
            paid_by_uid[uid] |= entry.paid_days
    known = {e.uid: e for e in coverage}
    holders = {c.uid: c.holder.name if c.holder is not None else "" for c in act.session.scalars(
        select(Card).where(Card.site_id == site.id, Card.uid.in_(counts)))}
    usage = tuple(
        UsageLine(uid, holders.get(uid, ""), known[uid].plate if uid in known else "",
                  entries, exits, len(days[uid]),
                  tuple(sorted(days[uid] - paid_by_uid.get(uid, set()))))
        for uid, (entries, exits) in sorted(counts.items()))
    paid_not_used = tuple(
        PaidNotUsed(entry.uid, entry.holder, entry.plate, len(entry.paid_days))
        for entry in sorted(coverage, key=lambda e: e.uid)
        if not any(uid in counts for uid in entry.uids))
    return ParkingReport(site.code, site.name, month, fees, total, usage, paid_not_used,
                         untrusted)
