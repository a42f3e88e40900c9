"""The sweep: the gates' records brought back in line with what the desk holds.

Every action publishes the records it changes (central/services/gate_record.py), and no
record changes with the date any more: a parking subscription travels with its paid-until
date and the lane judges a lapsed month itself at midnight (rule P2, edge.parking_validity),
as it judges validity dates. What only the desk can see is a card whose published record is
no longer the record the desk computes for it: after an upgrade that changed how records are
made (issue 12: the car-park group became parking rights carrying paid-until), or after a
change that reached the database without the session hook. The sweep appends those records,
so it stays on the hourly timer; on a desk where every record is current it appends nothing.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from central.clock import utc_now
from central.models import Card, Site
from central.services.context import Desk
from central.services.gate_record import append_if_changed


def sweep_date_changes(desk: Desk, today: date | None = None, *,
                       site: str | None = None) -> int:
    """Append to ``auth_log`` the effective record of every card whose record differs from
    its last entry; return how many were appended.

    ``site`` limits the sweep to one site's code. ``today`` is accepted for the command
    line's ``--date`` but changes nothing: records no longer depend on the date, so a paid
    period lapsing or starting appends nothing. Running it twice appends nothing the second
    time.
    """
    del today  # records are the same on every date (see the module docstring)
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
                    select(Card).where(Card.site_id == site_row.id).order_by(Card.id)).all()
                for card in cards:
                    written += append_if_changed(session, site_row, card, now)
    finally:
        session.close()
    return written
