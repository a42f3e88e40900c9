"""Pieces of request and response bodies several routers share.

Request models describe bodies for the OpenAPI document and name the fields that exist;
the values are validated by the services' ``from_form`` (central/api/body.py). They mirror
central/services/inputs.py.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from central.amounts import yuan
from central.api.body import UID_MARK
from central.api.reader_uids import UID_DOC, uid_in_path
from central.forms import MAX_INTEGER
from central.models import Card, CardState, ConfirmationMethod, Fee, FeeKind, HolderKind

YUAN_DOC = 'an amount in yuan as text, e.g. "20.50" (never a float)'

# A record's id, as the forms accept it.
Id = Annotated[int, Field(ge=1, le=MAX_INTEGER)]
# A card UID; the mark lets the API turn a desk reader's decimal into hex (reader_uids.py).
Uid = Annotated[str, Field(max_length=64, description=UID_DOC,
                           json_schema_extra={UID_MARK: True})]
Yuan = Annotated[str, Field(max_length=32, description=YUAN_DOC, examples=["20.00"])]

# Path parameters are declared as text and read by central.forms like any field (one
# validation path); the document still says what they are.
INTEGER_DOC = {"type": "integer", "minimum": 1, "maximum": MAX_INTEGER}
IdPath = Annotated[str, Path(json_schema_extra=INTEGER_DOC)]
# ``{uid}``: a desk reader's decimal arrives as hex (central/api/reader_uids.py).
UidPath = Annotated[str, Depends(uid_in_path)]


class RequestModel(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class SignOffBody(RequestModel):
    """A signature on the register or for a card handed over (I1, I5, L2)."""

    signer_name: str = Field(max_length=100, description="who signed, as the clerk saw it")
    reference: str | None = Field(None, max_length=200,
                                  description="where the signature is (register page, image)")


class PersonDetailsBody(RequestModel):
    """A person the desk has no record of yet."""

    name: str = Field(max_length=100)
    id_number: str | None = Field(None, max_length=32)
    phone: str | None = Field(None, max_length=32)
    organisation: str | None = Field(None, max_length=200)


class CountersignBody(RequestModel):
    """Someone outside the system who checked or approved (shop manager, department head)."""

    name: str = Field(max_length=100)
    reference: str | None = Field(None, max_length=200)


class OwnerConfirmationBody(RequestModel):
    """Rule H1: the owner who confirmed a family member with no record; how and when."""

    owner_person_id: Id
    method: ConfirmationMethod
    confirmed_at: datetime = Field(description="with its UTC offset, "
                                               "`2026-06-09T09:50:00+08:00`")
    note: str | None = Field(None, max_length=200)


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


def fee_out(fee: Fee, receipt_number: int | None) -> FeeOut:
    """The API's view of a fee."""
    return FeeOut(id=fee.id, household_id=fee.household_id, kind=fee.kind,
                  description=fee.description, due_on=fee.due_on, amount=Money.of(fee.amount_fen),
                  settled_by_receipt=receipt_number)


def card_brief(card: Card) -> CardBrief:
    """The API's short view of a card."""
    return CardBrief(uid=card.uid, state=card.state, holder_person_id=card.holder_person_id,
                     holder_kind=card.holder_kind, valid_until=card.valid_until,
                     balance=Money.of(card.balance_fen))
