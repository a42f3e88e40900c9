"""The authorisation log: the outbox from the desk to the gates.

Every change that affects a gate's decision appends, in the same transaction, the card's
full effective record (state, not command) in its wire form (edge/card_record.py
``wire_text``), relayed to the gates as it is. The sync library publishes from this table;
re-applying an entry is harmless and the newest sequence number wins.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from central.models.base import AppendOnly, Base

# On PostgreSQL a transaction that appends tells the desk workers on this channel (the
# payload is the site's code) as it commits: the one relaying that site relays at once,
# whichever worker the clerk's request reached.
AUTH_LOG_CHANNEL = "menwei_auth_log"


class AuthLogEntry(AppendOnly, Base):
    """One effective card record, in publication order."""

    __tablename__ = "auth_log"
    # AUTOINCREMENT on SQLite: a sequence number is never reused, even after the newest row
    # of a failed transaction; on PostgreSQL the column is an identity/serial.
    __table_args__ = (Index("ix_auth_log_site_uid", "site", "uid"),
                      Index("ux_auth_log_site_site_seq", "site", "site_seq", unique=True),
                      {"sqlite_autoincrement": True})

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The site's code, as on the wire.
    site: Mapped[str] = mapped_column(String(64))
    # The site's own number of the entry: gap-free and in commit order, taken from
    # Site.auth_log_head under the site row's lock (gate_record.append_entry). The relay to
    # the gates follows it; ``seq`` orders the whole desk only as the entries were begun.
    site_seq: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[str] = mapped_column(String(20))
    # The wire form of the record (edge.card_record.wire_text).
    card: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
