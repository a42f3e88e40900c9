"""Pieces of request and response bodies several routers share.

Request bodies are the desk inputs' own declarations (central/api/body_schema.py); what is
here describes answers, and the path parameters.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Path
from pydantic import BaseModel, Field

from central.amounts import yuan
from central.api.reader_uids import uid_in_path
from central.forms import MAX_INTEGER
from central.models import CardState, FeeKind, HolderKind
from central.services.fees import FeeView
from central.services.household_record import CardLine

# Path parameters are declared as text and read by central.forms like any field (one
# validation path); the document still says what they are.
INTEGER_DOC = {"type": "integer", "minimum": 1, "maximum": MAX_INTEGER}
IdPath = Annotated[str, Path(json_schema_extra=INTEGER_DOC)]
# ``{uid}``: a desk reader's decimal arrives as hex (central/api/reader_uids.py).
UidPath = Annotated[str, Depends(uid_in_path)]


class Money(BaseModel):
    """An amount, exact in fen and shown in yuan."""

    fen: int
    yuan: str

    @staticmethod
    def of(fen: int) -> Money:
        """From integer fen."""
        return Money(fen=fen, yuan=yuan(fen))


class FeeOut(BaseModel):
    """A fee a household owes or owed."""

    id: int
    household_id: int
    kind: FeeKind
    description: str
    due_on: date
    amount: Money
    settled_by_receipt: int | None = Field(description="the receipt number that settled it")


class CardBrief(BaseModel):
    """A card in a list."""

    uid: str
    state: CardState
    holder_person_id: int | None
    holder_kind: HolderKind | None
    valid_until: date | None = Field(description="inclusive, site-local; null: no expiry")
    balance: Money = Field(description="stored value: the sum of the card's ledger (L1)")


def fee_out(fee: FeeView) -> FeeOut:
    """The API's view of a fee."""
    return FeeOut(id=fee.id, household_id=fee.household_id, kind=fee.kind,
                  description=fee.description, due_on=fee.due_on, amount=Money.of(fee.amount_fen),
                  settled_by_receipt=fee.receipt_number)


def card_brief(card: CardLine) -> CardBrief:
    """The API's short view of a card as the desk reads it."""
    return CardBrief(uid=card.uid, state=card.state, holder_person_id=card.holder_person_id,
                     holder_kind=card.holder_kind, valid_until=card.valid_until,
                     balance=Money.of(card.balance_fen))
