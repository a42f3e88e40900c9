"""The daily sweep: gate records that change with the date alone.

Every action publishes the records it changes (central/services/gate_record.py), computed
for the action's day. A parking subscription, though, adds the car-park group only for the
days paid: when a paid period lapses at midnight (or a period paid ahead begins) nothing is
written, yet what the gates must hold has changed. Run this once a day, shortly after
midnight in the site's time zone, to append those records. Validity dates need no sweep:
they travel in the record and every gate checks them itself.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from central.clock import local_date, utc_now
from central.models import Card, ParkingSubscription, Site
from central.services.context import Desk
from central.services.gate_record import append_if_changed


def sweep_date_changes(desk: Desk, today: date | None = None, *,
                       site: str | None = None) -> int:
    """Append to ``auth_log`` the effective record, as of ``today`` (site-local), of every
    card whose record differs from its last entry; return how many were appended.

    Only cards that carry (or carried) a parking subscription can change with the date, so
    only they are looked at. ``site`` limits the sweep to one site's code. Without
    ``today`` each site's own local date is used (sites may sit in different time zones).
    Running it twice on the same day appends nothing the second time.
    """
    session = desk.write_sessions()
    written = 0
    try:
        with session.begin():
            query = select(Site).order_by(Site.id)
            if site is not None:
                query = query.where(Site.code == site)
            now = utc_now(desk.clock)
            for site_row in session.scalars(query).all():
                # Lock the site row as publish_changed_cards does, so sequence numbers of
                # one site commit in order on PostgreSQL.
                session.scalars(select(Site).where(Site.id == site_row.id)
                                .with_for_update()).one()
                cards = session.scalars(
                    select(Card).where(Card.site_id == site_row.id, Card.id.in_(
                        select(ParkingSubscription.card_id)))
                    .order_by(Card.id)).all()
                day = today if today is not None else local_date(now, site_row.timezone)
                for card in cards:
                    written += append_if_changed(session, site_row, card, day, now)
    finally:
        session.close()
    return written
