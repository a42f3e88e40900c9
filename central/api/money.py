"""Households' fees and the receipts for every yuan taken (I7): charge a fee, take payment
with a receipt, list and read receipts, void one (a lead or the director) with its
corrected replacement. A card's stored value: top it up (with a receipt), spend from it,
read its ledger."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Query, Request
from pydantic import BaseModel, Field

from central.api.body import path_integer, path_uid, query_input, query_reader
from central.api.body_schema import Body
from central.api.errors import error_responses
from central.api.routing import BodyDep, protected_router
from central.api.security import ActorDep
from central.api.shapes import (
    INTEGER_DOC,
    FeeOut,
    IdPath,
    Money,
    UidPath,
    fee_out,
)
from central.api.state import api_state
from central.models import (
    BalanceMovement,
    PaymentMethod,
    ReceiptItem,
)
from central.services import fees, receipt_book, receipts, stored_value

router = protected_router("money")
MONEY_ERRORS = error_responses(404, 409, 413, 415)
LIST_LIMIT = 500
CHARGE_FEE_BODY = Body(fees.ChargeFee)
PAY_FEES_BODY = Body(fees.PayFees)
VOID_BODY = Body(receipts.VoidReceipt, path=("number",), name="VoidBody")
TOP_UP_CARD_BODY = Body(stored_value.TopUpCard, path=("uid",))
SPEND_FROM_CARD_BODY = Body(stored_value.SpendFromCard, path=("uid",))


class FeeCharged(BaseModel):
    """The fee recorded."""

    fee_id: int


class PaymentOut(BaseModel):
    """The receipt written for the payment."""

    receipt_number: int


class VoidOut(BaseModel):
    """The voided receipt and its replacement, if one was written."""

    voided: int
    replacement: int | None


class ReceiptLineOut(BaseModel):
    """One item of a receipt."""

    item: ReceiptItem
    description: str
    card_uid: str | None
    fee_id: int | None
    amount: Money


class ReceiptOut(BaseModel):
    """An official receipt (numbers per site, in sequence; a void one keeps its lines)."""

    number: int
    issued_on: date
    issued_at: datetime
    payer_name: str
    household_id: int | None
    person_id: int | None
    amount: Money
    method: PaymentMethod
    void: bool
    voided_at: datetime | None
    void_reason: str | None
    replaces: int | None = Field(description="the number of the receipt this one corrects")
    lines: list[ReceiptLineOut]


@router.get("/fees")
def list_fees(
        request: Request, actor: ActorDep,
        household_id: Annotated[str | None, Query(json_schema_extra=INTEGER_DOC)] = None,
        unpaid: Annotated[str | None, Query(json_schema_extra={"type": "boolean"})] = None,
) -> list[FeeOut]:
    """Fees of the site (of one household), oldest due first (at most 500)."""
    q = query_reader({"household_id": household_id, "unpaid": unpaid})
    household, only_unpaid = q.opt_integer("household_id", 1), q.flag("unpaid")
    q.finish()
    return [fee_out(f) for f in fees.site_fees(api_state(request).desk, actor,
                                               household_id=household,
                                               unpaid_only=only_unpaid, limit=LIST_LIMIT)]


@router.post("/fees", status_code=201, responses=MONEY_ERRORS,
             openapi_extra=CHARGE_FEE_BODY.openapi)
def charge_fee(request: Request, actor: ActorDep, body: BodyDep) -> FeeCharged:
    """Record a fee a household owes (rules H8 and G4 look for unpaid ones)."""
    inp = CHARGE_FEE_BODY.read(body)
    return FeeCharged(fee_id=fees.charge_fee(api_state(request).desk, actor, inp))


@router.post("/fees/payments", status_code=201, responses=MONEY_ERRORS,
             openapi_extra=PAY_FEES_BODY.openapi)
def pay_fees(request: Request, actor: ActorDep, body: BodyDep) -> PaymentOut:
    """Take the money for some of a household's fees and write the receipt (I7)."""
    inp = PAY_FEES_BODY.read(body)
    return PaymentOut(receipt_number=fees.pay_fees(api_state(request).desk, actor, inp))


def _receipt(r: receipt_book.ReceiptView) -> ReceiptOut:
    return ReceiptOut(
        number=r.number, issued_on=r.issued_on, issued_at=r.issued_at, payer_name=r.payer_name,
        household_id=r.household_id, person_id=r.person_id, amount=Money.of(r.amount_fen),
        method=r.method, void=r.is_void, voided_at=r.voided_at,
        void_reason=r.void_reason or None, replaces=r.replaces,
        lines=[ReceiptLineOut(item=ln.item, description=ln.description, card_uid=ln.card_uid,
                              fee_id=ln.fee_id, amount=Money.of(ln.amount_fen))
               for ln in r.lines])


@router.get("/receipts")
def list_receipts(
        request: Request, actor: ActorDep,
        household_id: Annotated[str | None, Query(json_schema_extra=INTEGER_DOC)] = None,
        since: Annotated[str | None, Query(json_schema_extra={"format": "date"},
                                           description="issued on or after")] = None,
        until: Annotated[str | None, Query(json_schema_extra={"format": "date"},
                                           description="issued on or before")] = None,
) -> list[ReceiptOut]:
    """Receipts of the site, newest first (at most 500)."""
    wanted = query_input(receipt_book.ReceiptFilter,
                         {"household_id": household_id, "since": since, "until": until})
    found = receipt_book.find_receipts(api_state(request).desk, actor, wanted, LIST_LIMIT)
    return [_receipt(r) for r in found]


@router.get("/receipts/{number}", responses=error_responses(404))
def get_receipt(request: Request, actor: ActorDep, number: IdPath) -> ReceiptOut:
    """One receipt with its lines."""
    wanted = path_integer("number", number)
    return _receipt(receipt_book.receipt_view(api_state(request).desk, actor, wanted))


@router.post("/receipts/{number}/void", responses=MONEY_ERRORS, openapi_extra=VOID_BODY.openapi)
def void_receipt(request: Request, actor: ActorDep, number: IdPath, body: BodyDep) -> VoidOut:
    """Void a receipt (never altered or deleted) and, given corrected lines, write the new
    one; what it settled moves to the new one (I7). A lead or the director only."""
    inp = VOID_BODY.read(body, number=number)
    result = receipts.void_receipt(api_state(request).desk, actor, inp)
    return VoidOut(voided=result.voided, replacement=result.replacement)


# ---------------------------------------------------------------- stored value


class MoneyMovedOut(BaseModel):
    """The movement done and the card's balance after it."""

    uid: str
    amount: Money
    balance: Money
    entry_id: int
    receipt_number: int | None = Field(description="the top-up's receipt (I7)")


class BalanceEntryOut(BaseModel):
    """One movement of a card's balance, as the ledger keeps it (never changed)."""

    id: int
    movement: BalanceMovement
    amount: Money = Field(description="signed: money on the card is positive")
    balance_after: Money
    purpose: str
    receipt_number: int | None
    related_card_uid: str | None = Field(description="the other card of an L2 carry-over")
    staff_id: int
    at: datetime


def _moved(result: stored_value.MoneyMoved) -> MoneyMovedOut:
    return MoneyMovedOut(uid=result.uid, amount=Money.of(result.amount_fen),
                         balance=Money.of(result.balance_fen), entry_id=result.entry_id,
                         receipt_number=result.receipt_number)


@router.post("/cards/{uid}/top-ups", status_code=201, responses=MONEY_ERRORS,
             openapi_extra=TOP_UP_CARD_BODY.openapi)
def top_up_card(request: Request, actor: ActorDep, uid: UidPath, body: BodyDep) -> MoneyMovedOut:
    """Put money on an active card, with a receipt naming it (I7); the balance is the sum of
    the card's ledger."""
    inp = TOP_UP_CARD_BODY.read(body, uid=uid)
    return _moved(stored_value.top_up_card(api_state(request).desk, actor, inp))


@router.post("/cards/{uid}/spends", status_code=201, responses=MONEY_ERRORS,
             openapi_extra=SPEND_FROM_CARD_BODY.openapi)
def spend_from_card(request: Request, actor: ActorDep, uid: UidPath,
                    body: BodyDep) -> MoneyMovedOut:
    """Take money off an active card for a service (the booth's temporary parking, P6);
    never more than its balance (V1)."""
    inp = SPEND_FROM_CARD_BODY.read(body, uid=uid)
    return _moved(stored_value.spend_from_card(api_state(request).desk, actor, inp))


@router.get("/cards/{uid}/balance-entries", responses=error_responses(404))
def list_balance_entries(request: Request, actor: ActorDep,
                         uid: UidPath) -> list[BalanceEntryOut]:
    """A card's stored-value ledger, oldest first: its balance is their sum."""
    found = stored_value.card_ledger(api_state(request).desk, actor, path_uid("uid", uid))
    return [BalanceEntryOut(id=e.id, movement=e.movement, amount=Money.of(e.amount_fen),
                            balance_after=Money.of(e.balance_after_fen), purpose=e.purpose,
                            receipt_number=e.receipt_number,
                            related_card_uid=e.related_card_uid, staff_id=e.staff_id, at=e.at)
            for e in found]
