"""Loss and damage reports (智能卡挂失/报损申请书 and 操作记录), reviewed by the office
director before a replacement is issued (rules L1, L2, L3)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from central.models.base import Base

if TYPE_CHECKING:
    from central.models.cards import Card


class LossKind(enum.StrEnum):
    """Lost, or damaged (the damaged card is taken back, rule L2)."""

    LOST = "lost"
    DAMAGED = "damaged"


class LossReport(Base):
    """A holder's report that a card was lost or damaged, and its review."""

    __tablename__ = "loss_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    kind: Mapped[LossKind]
    reported_by_person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    reported_on: Mapped[date]
    reported_at: Mapped[datetime]
    handled_by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    # Rule L1: the balance the desk showed the holder, who agreed before the card was stopped.
    balance_shown_fen: Mapped[int]
    # Rules I3, L3: lost, or damaged by the holder, is the holder's fault.
    holder_fault: Mapped[bool]
    # Rule L2: a damaged card is taken back.
    card_taken_back: Mapped[bool] = mapped_column(default=False)
    # Rule L3: what the holder of a staff card paid (receipt), 0 otherwise.
    compensation_fen: Mapped[int] = mapped_column(default=0)
    compensation_receipt_id: Mapped[int | None] = mapped_column(ForeignKey("receipts.id"))
    # Rule L2: the office director reviews the application and operation record.
    reviewed_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    reviewed_at: Mapped[datetime | None]
    review_approved: Mapped[bool | None]
    review_note: Mapped[str] = mapped_column(String(500), default="")
    replacement_card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"))

    card: Mapped[Card] = relationship(foreign_keys=[card_id])
