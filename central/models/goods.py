"""Goods release slips (物品放行条) and long-term goods passes (rule G4)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from central.models.base import Base


class GoodsReleaseSlip(Base):
    """Issued only when the unit has no arrears; anyone but an owner needs the owner's written
    consent (evidence on its application); approved by the customer-service lead. At the exit the
    guard checks it, records when the goods left and signs; slips are filed by 08:30 the next day (a
    site setting)."""

    __tablename__ = "goods_release_slips"
    __table_args__ = (UniqueConstraint("site_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    # Numbered per site like receipts, so a missing slip shows.
    number: Mapped[int]
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"))
    carrier_name: Mapped[str] = mapped_column(String(100))
    items: Mapped[str] = mapped_column(String(1000))
    valid_on: Mapped[date]
    issued_by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    issued_at: Mapped[datetime]
    # Seed 003: the 管家部负责人 (the customer-service lead) approves and signs the slip
    # before the exit lets the goods out (site setting ``goods_slip_approval``).
    approved_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    approved_at: Mapped[datetime | None]
    left_at: Mapped[datetime | None]
    exit_gate_id: Mapped[int | None] = mapped_column(ForeignKey("gates.id"))
    guard_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    guard_signed: Mapped[bool] = mapped_column(default=False)
    filed_at: Mapped[datetime | None]


class GoodsPass(Base):
    """A long-term goods pass (常住物品放行证), valid one year (a site setting)."""

    __tablename__ = "goods_passes"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    valid_from: Mapped[date]
    valid_until: Mapped[date]
    issued_by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
