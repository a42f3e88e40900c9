"""Stored value on a card (消费余额): money put on it at the desk with a receipt (I7), and
spent — the booth's temporary parking (rule P6) will call ``spend_from_card``. Every
movement goes through the ledger (central/services/balance_ledger.py); the balance shown on
every card view is its sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from sqlalchemy import select
from sqlalchemy.orm import aliased

from central.form_fields import CardUid, Choice, Text, Yuan
from central.form_input import FormInput
from central.models import (
    BalanceEntry,
    BalanceMovement,
    Card,
    PaymentMethod,
    Receipt,
    ReceiptItem,
    Role,
)
from central.services.balance_ledger import ledger_balance, post, usable_card
from central.services.card_activation import get_card
from central.services.context import DESK_ROLES, Action, Actor, Desk, action, reading
from central.services.receipts import Charge, write_receipt

# The booth's guards spend (P6); the desk both tops up and spends.
SPENDERS = DESK_ROLES | {Role.GUARD}


# ---------------------------------------------------------------- top-up


@dataclass(frozen=True)
class TopUpCard(FormInput):
    """Money put on a card at the desk, with a receipt that names the card (I7)."""

    uid: CardUid
    amount_fen: Annotated[int, Yuan(key="amount_yuan", positive=True)]
    payer_name: Annotated[str, Text(max=100)]
    method: Annotated[PaymentMethod, Choice(doc="default cash")] = PaymentMethod.CASH


@dataclass(frozen=True)
class MoneyMoved:
    """A movement done: the card, the amount, the balance after it, and its receipt or
    ledger entry."""

    uid: str
    amount_fen: int
    balance_fen: int
    entry_id: int
    receipt_number: int | None


def top_up_card(desk: Desk, actor: Actor, inp: TopUpCard) -> MoneyMoved:
    """Put money on an active card: a receipt naming the card, then the ledger entry."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        card = usable_card(act, inp.uid, "uid")
        charge = Charge(ReceiptItem.STORED_VALUE, inp.amount_fen, f"卡 {card.uid} 充值 top-up",
                        card.uid)
        holder = card.holder
        receipt = write_receipt(act, payer_name=inp.payer_name, charges=[charge],
                                method=inp.method,
                                household_id=holder.household_id if holder else None,
                                person_id=holder.id if holder else None)
        entry = post(act, card, BalanceMovement.TOP_UP, inp.amount_fen,
                     purpose=charge.description, receipt=receipt)
        return MoneyMoved(card.uid, inp.amount_fen, entry.balance_after_fen, entry.id,
                          receipt.number)


# ---------------------------------------------------------------- spending


@dataclass(frozen=True)
class SpendFromCard(FormInput):
    """Money taken off a card for a service: how much and what for (who: the caller)."""

    uid: CardUid
    amount_fen: Annotated[int, Yuan(key="amount_yuan", positive=True)]
    purpose: Annotated[str, Text(doc="what for, e.g. `临时停车 2 小时` (P6)")]


def spend_from_card(desk: Desk, actor: Actor, inp: SpendFromCard) -> MoneyMoved:
    """Take money off an active card (a guard at the booth, or the desk). Refused under V1
    beyond the balance; nothing is written then."""
    with action(desk) as act:
        act.authorise(actor, SPENDERS)
        card = usable_card(act, inp.uid, "uid")
        entry = post(act, card, BalanceMovement.SPEND, -inp.amount_fen, purpose=inp.purpose)
        return MoneyMoved(card.uid, inp.amount_fen, entry.balance_after_fen, entry.id, None)


# ---------------------------------------------------------------- preview


@dataclass(frozen=True)
class TopUpPreview:
    """What a top-up would do, before the money is taken: the card, its holder, its balance
    now and after."""

    uid: str
    holder_name: str
    balance_fen: int
    amount_fen: int

    @property
    def new_balance_fen(self) -> int:
        """The balance once the top-up is done."""
        return self.balance_fen + self.amount_fen


def top_up_preview(desk: Desk, actor: Actor, uid: str, amount_fen: int = 0) -> TopUpPreview:
    """The card's balance now and after ``amount_fen`` more; refused as the top-up itself
    would be for a card that takes no money (lost: L1; not active). Writes nothing."""
    with desk.sessions() as session:
        act = Action(desk, session)
        act.authorise(actor, DESK_ROLES)
        card = usable_card(act, uid, "uid")
        holder = card.holder
        return TopUpPreview(card.uid, holder.name if holder is not None else "",
                            ledger_balance(act, card), amount_fen)


# ---------------------------------------------------------------- ledger


@dataclass(frozen=True)
class LedgerLine:
    """One movement of a card's balance, as the ledger keeps it (never changed)."""

    id: int
    movement: BalanceMovement
    amount_fen: int  # signed: money on the card is positive
    balance_after_fen: int
    purpose: str
    receipt_number: int | None
    related_card_uid: str | None  # the other card of an L2 carry-over
    staff_id: int
    at: datetime


def card_ledger(desk: Desk, actor: Actor, uid: str) -> list[LedgerLine]:
    """Card ``uid``'s stored-value ledger, oldest first: its balance is their sum (read by
    those who spend from it too, the booth's guards)."""
    with reading(desk, actor, SPENDERS) as act:
        card = get_card(act, uid)
        other = aliased(Card)
        rows = act.session.execute(
            select(BalanceEntry, Receipt.number, other.uid)
            .outerjoin(Receipt, Receipt.id == BalanceEntry.receipt_id)
            .outerjoin(other, other.id == BalanceEntry.related_card_id)
            .where(BalanceEntry.card_id == card.id).order_by(BalanceEntry.id))
        return [LedgerLine(e.id, e.movement, e.amount_fen, e.balance_after_fen, e.purpose,
                           number, related, e.staff_id, e.created_at)
                for e, number, related in rows]
