"""Visitor passes, temporary parking permits and the gate's visitor register (H7, G5).

Registered personal data (name, ID number, plate) is never disclosed (rule G5): listings
and exports show it masked; only the record itself holds it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from central.models.applications import ConfirmationMethod
from central.models.base import Base


class VisitorPass(Base):
    """A temporary pass, valid at most three days (a site setting); a visitor invited by a
    resident is confirmed by that resident (rule H7)."""

    __tablename__ = "visitor_passes"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    visitor_person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    invited_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    confirmed_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    confirmation_method: Mapped[ConfirmationMethod | None]
    confirmed_at: Mapped[datetime | None]
    card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"))
    valid_from: Mapped[date]
    valid_until: Mapped[date]
    issued_by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime]


class TemporaryParkingPermit(Base):
    """A visitor's temporary parking permit, valid at most seven days (rule H7)."""

    __tablename__ = "temporary_parking_permits"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    plate: Mapped[str] = mapped_column(String(16))
    visitor_pass_id: Mapped[int | None] = mapped_column(ForeignKey("visitor_passes.id"))
    host_person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    valid_from: Mapped[date]
    valid_until: Mapped[date]
    returned_at: Mapped[datetime | None]
    issued_by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime]


class VisitorRegistration(Base):
    """The guard's registration of a visitor at the gate: name, ID number, plate, time in,
    items (rule G5)."""

    __tablename__ = "visitor_registrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    gate_id: Mapped[int | None] = mapped_column(ForeignKey("gates.id"))
    guard_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    name: Mapped[str] = mapped_column(String(100))
    id_number: Mapped[str] = mapped_column(String(32))
    plate: Mapped[str | None] = mapped_column(String(16))
    items: Mapped[str] = mapped_column(String(500), default="")
    time_in: Mapped[datetime]
    time_out: Mapped[datetime | None]
    visitor_pass_id: Mapped[int | None] = mapped_column(ForeignKey("visitor_passes.id"))
