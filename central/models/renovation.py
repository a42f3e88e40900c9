"""Renovation filings (装修备案), their extensions, deposits and workers' cards (H6, G6)."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from central.models.base import AppendOnly, Base


class RenovationFiling(Base):
    """A filing lasts at most three months (a site setting); ``ends_on`` moves with each
    extension, and the workers' cards follow it (rule H6, "延期至 DATE")."""

    __tablename__ = "renovation_filings"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"))
    self_renovation: Mapped[bool] = mapped_column(default=False)
    contractor_name: Mapped[str] = mapped_column(String(200), default="")
    contractor_lead_name: Mapped[str] = mapped_column(String(100), default="")
    contractor_lead_phone: Mapped[str] = mapped_column(String(32), default="")
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    approved_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    approved_at: Mapped[datetime | None]
    completed_on: Mapped[date | None]
    inspection_passed_on: Mapped[date | None]
    created_at: Mapped[datetime]


class RenovationExtension(AppendOnly, Base):
    """One extension of a filing, each at most three months."""

    __tablename__ = "renovation_extensions"

    id: Mapped[int] = mapped_column(primary_key=True)
    filing_id: Mapped[int] = mapped_column(ForeignKey("renovation_filings.id"), index=True)
    previous_end: Mapped[date]
    new_end: Mapped[date]
    approved_by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime]


class DepositPayer(enum.StrEnum):
    """Rule G6: 1000 from the owner and 1000 from the contractor, or 2000 when the owner
    renovates alone."""

    OWNER = "owner"
    CONTRACTOR = "contractor"
    SELF_RENOVATING_OWNER = "self_renovating_owner"


class RenovationDeposit(Base):
    """A deposit taken (with its receipt) and, once every worker card is back, refunded."""

    __tablename__ = "renovation_deposits"

    id: Mapped[int] = mapped_column(primary_key=True)
    filing_id: Mapped[int] = mapped_column(ForeignKey("renovation_filings.id"), index=True)
    payer: Mapped[DepositPayer]
    amount_fen: Mapped[int]
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipts.id"))
    refunded_at: Mapped[datetime | None]
    refunded_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    refund_signed_by: Mapped[str | None] = mapped_column(String(100))


class RenovationWorker(Base):
    """A worker on a filing and the temporary card lent to them (returned before G6's
    refund)."""

    __tablename__ = "renovation_workers"

    id: Mapped[int] = mapped_column(primary_key=True)
    filing_id: Mapped[int] = mapped_column(ForeignKey("renovation_filings.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"))
    card_returned_at: Mapped[datetime | None]
