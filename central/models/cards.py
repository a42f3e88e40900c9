"""Cards, their grants (which access groups they open) and weekly schedules.

A Card row is the physical card of one site, keyed by its UID. It passes through
active → lost / revoked → formatted (rule I6: every grant cleared) → active again for a new
holder. What the gates see of it is computed by central/services/gate_record.py.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from central.models.base import Base
from central.models.people import HolderKind, Relationship

if TYPE_CHECKING:
    from central.models.gates import AccessGroup
    from central.models.parking import ParkingSubscription
    from central.models.people import Person
    from central.models.site import Site


class CardState(enum.StrEnum):
    """Where a card stands at the desk. Gates see lost as ``lost``; revoked and formatted as
    ``revoked`` (a formatted card has no grants either)."""

    ACTIVE = "active"
    LOST = "lost"  # rule L1
    REVOKED = "revoked"  # taken back damaged (L2), withdrawn, or its household left (H8)
    FORMATTED = "formatted"  # blank, ready to be re-used (I6)


class Schedule(Base):
    """A weekly schedule as the gates parse it: ``Mon-Sat 08:00-12:00 14:00-18:00``."""

    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("site_id", "spec"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    spec: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(100), default="")


class Card(Base):
    """One physical card of a site and, while it is issued, its holder and validity."""

    __tablename__ = "cards"
    __table_args__ = (UniqueConstraint("site_id", "uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    # Canonical: upper-case hex without separators (edge/uid.py normalize_uid).
    uid: Mapped[str] = mapped_column(String(20))
    state: Mapped[CardState]
    holder_person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), index=True)
    holder_kind: Mapped[HolderKind | None]
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"))
    # As the applicant stated it (rule I5); rule I4 counts the non-direct ones.
    relation_to_applicant: Mapped[Relationship | None]
    issued_on: Mapped[date | None]
    valid_from: Mapped[date | None]
    # Inclusive, site-local; None means no expiry (rule H5).
    valid_until: Mapped[date | None]
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id"))
    # The stored value on the card (消费余额): shown at a loss (L1), moved to the
    # replacement (L2). Always the sum of its ledger (models/stored_value.py).
    balance_fen: Mapped[int] = mapped_column(default=0)
    replaces_card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    site: Mapped[Site] = relationship()
    holder: Mapped[Person | None] = relationship()
    schedule: Mapped[Schedule | None] = relationship()
    grants: Mapped[list[Grant]] = relationship(back_populates="card", order_by="Grant.id")
    parking_subscriptions: Mapped[list[ParkingSubscription]] = relationship(
        back_populates="card")

    @property
    def active_grants(self) -> list[Grant]:
        """Grants not cleared."""
        return [g for g in self.grants if g.cleared_at is None]


class Grant(Base):
    """A card may open the gates of one access group. Cleared, never deleted, so the history
    of who could open what stays on record."""

    __tablename__ = "grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    access_group_id: Mapped[int] = mapped_column(ForeignKey("access_groups.id"))
    granted_at: Mapped[datetime]
    granted_by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    cleared_at: Mapped[datetime | None]
    cleared_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    clear_reason: Mapped[str] = mapped_column(String(100), default="")

    card: Mapped[Card] = relationship(back_populates="grants")
    access_group: Mapped[AccessGroup] = relationship()
