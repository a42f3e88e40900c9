"""The stored value on a card (消费余额) as an append-only ledger of movements.

Seed 002 has the desk look up "the spending balance on the lost smart card" (查询所遗失智能卡内
的消费余额, 3.1.3) and the holder "check the new card's balance" (持卡人核实新卡余额, 3.1.9):
rules L1 and L2. A card's balance is the sum of its movements; ``Card.balance_fen`` is kept
equal to that sum in the same transaction by the ledger's only writer
(central/services/stored_value.py), and on SQLite a trigger refuses any other value.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from central.models.base import AppendOnly, Base


class BalanceMovement(enum.StrEnum):
    """Why a card's balance moved."""

    TOP_UP = "top_up"  # money put on the card, against a receipt (I7)
    SPEND = "spend"  # taken off for a service, e.g. temporary parking at the booth (P6)
    CARRIED_OUT = "carried_out"  # moved to the card replacing it (L2)
    CARRIED_IN = "carried_in"  # received from the card it replaces (L2)
    TOP_UP_VOIDED = "top_up_voided"  # the top-up's receipt was voided (I7): taken back off


class BalanceEntry(AppendOnly, Base):
    """One movement of one card's balance: signed (in > 0, out < 0), never changed."""

    __tablename__ = "card_balance_entries"
    __table_args__ = (CheckConstraint("amount_fen <> 0", name="moves"),
                      CheckConstraint("balance_after_fen >= 0", name="never_negative"))

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    movement: Mapped[BalanceMovement]
    amount_fen: Mapped[int]
    # The card's balance once this entry is counted: what the holder is shown.
    balance_after_fen: Mapped[int]
    # What it was for (a spend: "临时停车 2 小时"), as the staff member wrote it.
    purpose: Mapped[str] = mapped_column(String(200), default="")
    receipt_id: Mapped[int | None] = mapped_column(ForeignKey("receipts.id"))
    # L2: the other card of a carry-over. A voided top-up: the entry it takes back.
    related_card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"))
    reverses_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("card_balance_entries.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime]
