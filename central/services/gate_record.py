"""Closing the loop: a card's effective gate record, and its append to ``auth_log``.

The gate decides from a CardRow (edge/card_record.py). Here the desk computes that record from
its own state and appends it in its wire form — encoded once, here: the hub and the gates
receive this very text — inside the transaction of every change that may alter it. Which
cards changed is collected by a session hook rather than by each service remembering to say
so: a forgotten call cannot leave a gate stale.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session, UOWTransaction

from central.db import DeskSession
from central.models import (
    AUTH_LOG_CHANNEL,
    AccessGroup,
    AuthLogEntry,
    Card,
    CardState,
    Grant,
    ParkingSubscription,
    Schedule,
    Site,
)
from edge.card_record import CardRow, wire_text
from edge.cards import CardStatus, ParkingRight

_TOUCHED = "menwei_gate_touched"
# Cards inserted in this transaction: new to the desk, so no auth_log entry names them yet.
_NEW = "menwei_gate_new_cards"
# (transaction, site) pairs this session has notified the relay of (append_entry).
_TOLD = "menwei_gate_told"
_WATCHED = (Card, Grant, ParkingSubscription, Schedule, AccessGroup)

# What the gates are told of each desk state. A formatted card is simply not usable.
GATE_STATUS = {
    CardState.ACTIVE: CardStatus.ACTIVE,
    CardState.LOST: CardStatus.LOST,
    CardState.REVOKED: CardStatus.REVOKED,
    CardState.FORMATTED: CardStatus.REVOKED,
}


def effective_record(card: Card) -> CardRow:
    """The card as every gate of its site must see it.

    An active card carries its grants' access groups and, for each parking subscription not
    ended with a paid period (rule P1: one card, doors and barriers), a ParkingRight with its
    paid-until date: the lane judges the paid month itself (rule P2, edge.parking_validity),
    so the record does not change with the date and a lapse needs no message from the desk.
    ``plate`` is the first right's plate (subscriptions in id order). Any other state carries
    no group and no right at all: lost or revoked, its permissions are withdrawn at every
    gate (rule L1), formatted, it holds nothing (rule I6).
    """
    status = GATE_STATUS[card.state]
    groups: set[str] = set()
    parking: list[ParkingRight] = []
    if status is CardStatus.ACTIVE:
        groups = {grant.access_group.name for grant in card.active_grants}
        for sub in sorted(card.parking_subscriptions, key=lambda s: s.id):
            if sub.ended_on is not None or sub.starts_on is None or sub.paid_until is None:
                continue
            parking.append(ParkingRight(
                group=sub.access_group.name, space_kind=sub.space_kind.value,
                space_no=sub.space.number if sub.space is not None else None,
                plate=sub.vehicle.plate, starts_on=sub.starts_on, paid_until=sub.paid_until))
    return CardRow(
        uid=card.uid,
        status=status,
        valid_from=card.valid_from,
        valid_until=card.valid_until,
        access_groups=tuple(sorted(groups)),
        schedule=card.schedule.spec if card.schedule is not None else None,
        holder_kind=card.holder_kind.value if card.holder_kind is not None else "",
        plate=next((right.plate for right in parking), None),
        parking=tuple(parking),
    )


@event.listens_for(DeskSession, "before_flush")
def _collect(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    touched: list[object] = session.info.setdefault(_TOUCHED, [])
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, _WATCHED) and (obj in session.new or session.is_modified(obj)):
            touched.append(obj)
        if isinstance(obj, Card) and obj in session.new:
            session.info.setdefault(_NEW, set()).add(id(obj))


def _cards_of(session: Session, touched: list[object]) -> dict[int, Card]:
    cards: dict[int, Card] = {}
    for obj in touched:
        found: list[Card] = []
        if isinstance(obj, Card):
            found = [obj]
        elif isinstance(obj, Grant | ParkingSubscription):
            card = session.get(Card, obj.card_id)
            found = [card] if card is not None else []
        elif isinstance(obj, Schedule):
            found = list(session.scalars(select(Card).where(Card.schedule_id == obj.id)))
        elif isinstance(obj, AccessGroup):
            found = list(session.scalars(
                select(Card).join(Grant).where(Grant.access_group_id == obj.id,
                                               Grant.cleared_at.is_(None))))
        cards.update((card.id, card) for card in found)
    return cards


def append_if_changed(session: Session, site: Site, card: Card, now: datetime, *,
                      new: bool = False) -> bool:
    """Append ``card``'s effective record to ``auth_log`` unless it is
    identical to the card's last entry; whether it was appended. ``new``: the card was
    inserted in this transaction, so it has no entry yet (card rows are never deleted, and
    only this function writes ``auth_log``). The caller holds the site row locked (see
    publish_changed_cards)."""
    text = wire_text(effective_record(card))
    last = None if new else session.scalars(
        select(AuthLogEntry.card).where(AuthLogEntry.site == site.code,
                                        AuthLogEntry.uid == card.uid)
        .order_by(AuthLogEntry.seq.desc()).limit(1)).first()
    if last == text:
        return False
    append_entry(session, site, card.uid, text, now)
    return True


def append_entry(session: Session, site: Site, uid: str, text: str, now: datetime) -> None:
    """Append one wire record to ``auth_log`` with its site's next number. The caller holds
    the site row locked until commit (publish_changed_cards), so the site's numbers commit
    in the order they are taken, with no gap: what the relay to the gates follows."""
    # In SQL, not through the ORM: the site object may have been read before the lock.
    site_seq = session.execute(
        update(Site).where(Site.id == site.id).values(auth_log_head=Site.auth_log_head + 1)
        .returning(Site.auth_log_head)).scalar_one()
    session.add(AuthLogEntry(site=site.code, site_seq=site_seq, uid=uid, card=text,
                             created_at=now))
    told: set[tuple[int, str]] = session.info.setdefault(_TOLD, set())
    here = (id(session.get_transaction()), site.code)
    if _serial(session) or here in told:
        return
    # Delivered when the transaction commits, once per site however many entries.
    session.execute(select(func.pg_notify(AUTH_LOG_CHANNEL, site.code)))
    told.add(here)


def _serial(session: Session) -> bool:
    """Whether the session's writers take the database one at a time (SQLite)."""
    return session.get_bind().dialect.name == "sqlite"


def publish_changed_cards(session: Session, now: datetime) -> int:
    """Append the effective record of every card touched in this transaction to
    ``auth_log`` (skipping any identical to the card's last entry); return how many."""
    session.flush()
    touched: list[object] = session.info.pop(_TOUCHED, [])
    new: set[int] = session.info.pop(_NEW, set())
    cards = _cards_of(session, touched)
    if not cards:
        return 0
    written = 0
    sites: dict[int, Site] = {}
    for card in sorted(cards.values(), key=lambda c: c.id):
        if card.site_id not in sites:
            # Lock the site row until commit, so on PostgreSQL a site's numbers
            # (append_entry) commit in the order they are taken. SQLite's IMMEDIATE
            # transactions are already serial and it has no row lock: the row as the
            # session holds it (no statement when the action has read it already).
            sites[card.site_id] = (
                session.get_one(Site, card.site_id) if _serial(session) else
                session.scalars(select(Site).where(Site.id == card.site_id)
                                .with_for_update()).one())
        site = sites[card.site_id]
        written += append_if_changed(session, site, card, now, new=id(card) in new)
    session.flush()
    session.info.pop(_TOUCHED, None)
    session.info.pop(_NEW, None)
    return written
