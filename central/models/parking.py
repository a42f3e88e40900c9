"""Vehicles, parking spaces, monthly parking subscriptions and their top-ups (P1–P5).

A subscription rides on a card (rule P1: the holder's access card may be the parking card),
so one card may open both doors and barriers. Billing months follow rule P2
(central/calendar.py).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from central.models.base import AppendOnly, Base

if TYPE_CHECKING:
    from central.models.cards import Card
    from central.models.gates import AccessGroup


class Vehicle(Base):
    """A vehicle known to the desk; ``plate`` is upper-case without spaces (粤B12345)."""

    __tablename__ = "vehicles"
    __table_args__ = (UniqueConstraint("site_id", "plate"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    plate: Mapped[str] = mapped_column(String(16))
    owner_person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    vehicle_licence_ref: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime]


class SpaceKind(enum.StrEnum):
    """What a space is for."""

    FIXED = "fixed"  # a numbered space of one subscriber (P3)
    FLOATING = "floating"  # any free space, monthly
    EMERGENCY_RESERVE = "emergency_reserve"  # only named vehicles (P5)
    VISITOR = "visitor"


class ParkingSpace(Base):
    """A parking space with its number as painted on the ground."""

    __tablename__ = "parking_spaces"
    __table_args__ = (UniqueConstraint("site_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    number: Mapped[str] = mapped_column(String(32))
    kind: Mapped[SpaceKind]
    note: Mapped[str] = mapped_column(String(200), default="")


class ParkingSubscription(Base):
    """A monthly parking subscription on a card (月卡).

    ``paid_until`` is inclusive and site-local; the card opens the barriers of
    ``access_group`` for ``vehicle`` while today is within starts_on..paid_until.
    """

    __tablename__ = "parking_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"))
    access_group_id: Mapped[int] = mapped_column(ForeignKey("access_groups.id"))
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"))
    space_kind: Mapped[SpaceKind]
    # Rule P3: a fixed space's number is recorded.
    space_id: Mapped[int | None] = mapped_column(ForeignKey("parking_spaces.id"))
    # Rule P3: the director's approval sets the fee standard and the space type.
    fee_per_month_fen: Mapped[int]
    approved_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    approved_at: Mapped[datetime | None]
    # Seed 000 4.1.1: the owner unit (业主单位) signs the application too — who signed there,
    # when, where the signed form is, and which staff member recorded it (site setting
    # ``parking_owner_unit_approval``).
    owner_unit_signer: Mapped[str | None] = mapped_column(String(100))
    owner_unit_signed_at: Mapped[datetime | None]
    owner_unit_reference: Mapped[str | None] = mapped_column(String(200))
    owner_unit_recorded_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    starts_on: Mapped[date | None]
    paid_until: Mapped[date | None]
    ended_on: Mapped[date | None]
    created_at: Mapped[datetime]

    card: Mapped[Card] = relationship(back_populates="parking_subscriptions")
    vehicle: Mapped[Vehicle] = relationship()
    access_group: Mapped[AccessGroup] = relationship()
    space: Mapped[ParkingSpace | None] = relationship()

    def covers(self, day: date) -> bool:
        """Whether the subscription is paid and running on ``day``."""
        return (self.ended_on is None and self.starts_on is not None
                and self.paid_until is not None and self.starts_on <= day <= self.paid_until)


class ParkingTopUp(AppendOnly, Base):
    """Months paid on a subscription (rule P2), with the receipt that took the money."""

    __tablename__ = "parking_top_ups"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("parking_subscriptions.id"),
                                                 index=True)
    months: Mapped[int]
    paid_from: Mapped[date]
    paid_until: Mapped[date]
    amount_fen: Mapped[int]
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipts.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime]


class NamedBy(enum.StrEnum):
    """Who may name a vehicle for an emergency reserve space (rule P5)."""

    OWNER_UNIT = "owner_unit"  # 业主单位
    MANAGEMENT_OFFICE = "management_office"  # 管理处


class ReservedSpaceVehicle(Base):
    """A vehicle named in advance for the emergency reserve spaces (rule P5)."""

    __tablename__ = "reserved_space_vehicles"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    plate: Mapped[str] = mapped_column(String(16))
    named_by: Mapped[NamedBy]
    named_by_name: Mapped[str] = mapped_column(String(100))
    valid_from: Mapped[date]
    valid_until: Mapped[date | None]
    created_by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime]


class ParkingMonthlyReport(Base):
    """The monthly parking report (停车费收取情况月统计表) of one site and month, rule P4.

    The desk totals last month's fees by the 10th, security adds each card's actual use by the
    15th, and the office director signs the reconciled report. Each step is stamped here with
    the figures it saw; the signature also keeps the SHA-256 of the report's content, so the
    file the director signed can be told from any later rebuild.
    """

    __tablename__ = "parking_monthly_reports"
    __table_args__ = (UniqueConstraint("site_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    # The first day of the reported month (site-local).
    month: Mapped[date]
    fees_total_fen: Mapped[int]
    fees_count: Mapped[int]
    fees_totalled_by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    fees_totalled_at: Mapped[datetime]
    usage_entries: Mapped[int | None]
    usage_exits: Mapped[int | None]
    usage_added_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    usage_added_at: Mapped[datetime | None]
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    signed_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    signed_at: Mapped[datetime | None]
    director_note: Mapped[str] = mapped_column(String(500), default="")
