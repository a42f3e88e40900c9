"""Fees owed by households, and receipts (正式收据) for every yuan the desk takes.

Rule I7: receipts are numbered in sequence per site, their dates never go backwards, and an
amount is never altered — a wrong receipt is voided and a new one written. The frozen
columns below are guarded in the session (central/db.py) and, on SQLite, by triggers.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import ClassVar

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from central.models.base import AppendOnly, Base, FrozenColumns


class FeeKind(enum.StrEnum):
    """What a household owes for."""

    MANAGEMENT = "management"  # 物业服务费
    UTILITIES = "utilities"  # 水电
    PARKING = "parking"
    OTHER = "other"


class Fee(Base):
    """An amount a household owes; settled by a receipt (rules H8 and G4 look for unsettled
    ones)."""

    __tablename__ = "fees"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    kind: Mapped[FeeKind]
    description: Mapped[str] = mapped_column(String(200), default="")
    due_on: Mapped[date]
    amount_fen: Mapped[int]
    created_by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime]
    settled_by_receipt_id: Mapped[int | None] = mapped_column(ForeignKey("receipts.id"))


class PaymentMethod(enum.StrEnum):
    """How the money came (written in the receipt's remarks)."""

    CASH = "cash"  # 现金
    BANK_TRANSFER = "bank_transfer"  # 转账
    BANK_COLLECTION = "bank_collection"  # 银行托收
    MOBILE = "mobile"


class ReceiptItem(enum.StrEnum):
    """What a receipt line is for."""

    CARD_FEE = "card_fee"  # 工本费, rule I2
    REPLACEMENT_FEE = "replacement_fee"  # rules I3, L2
    STAFF_CARD_COMPENSATION = "staff_card_compensation"  # rule L3
    FEE_SETTLEMENT = "fee_settlement"
    PARKING = "parking"  # rule P2 top-ups
    RENOVATION_DEPOSIT = "renovation_deposit"  # rule G6
    STORED_VALUE = "stored_value"  # money put on a card (充值), central/services/stored_value.py
    OTHER = "other"


class Receipt(FrozenColumns, Base):
    """One official receipt. Only the void columns may ever change."""

    __tablename__ = "receipts"
    __table_args__ = (UniqueConstraint("site_id", "number"),)
    __frozen__: ClassVar[frozenset[str]] = frozenset({
        "id", "site_id", "number", "issued_on", "issued_at", "payer_name", "household_id",
        "person_id", "amount_fen", "method", "issued_by_staff_id", "replaces_receipt_id",
    })

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    number: Mapped[int]
    # Site-local date; never earlier than the previous receipt's (rule I7).
    issued_on: Mapped[date]
    issued_at: Mapped[datetime]
    payer_name: Mapped[str] = mapped_column(String(100))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    amount_fen: Mapped[int]
    method: Mapped[PaymentMethod]
    issued_by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    replaces_receipt_id: Mapped[int | None] = mapped_column(ForeignKey("receipts.id"))
    voided_at: Mapped[datetime | None]
    voided_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    void_reason: Mapped[str | None] = mapped_column(String(200))

    lines: Mapped[list[ReceiptLine]] = relationship(back_populates="receipt",
                                                    order_by="ReceiptLine.id")

    @property
    def is_void(self) -> bool:
        """Whether the receipt was voided."""
        return self.voided_at is not None


class ReceiptLine(AppendOnly, Base):
    """One item of a receipt; a card fee names the card (rule I2)."""

    __tablename__ = "receipt_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipts.id"), index=True)
    item: Mapped[ReceiptItem]
    description: Mapped[str] = mapped_column(String(200), default="")
    card_uid: Mapped[str | None] = mapped_column(String(20))
    fee_id: Mapped[int | None] = mapped_column(ForeignKey("fees.id"))
    amount_fen: Mapped[int]

    receipt: Mapped[Receipt] = relationship(back_populates="lines")
