"""Renovation deposits (装修保证金), rule G6: 1000 from the owner and 1000 from the
contractor, or 2000 from an owner renovating alone (site settings), each against its own
receipt (rule I7); refunded only after every worker's temporary card is back.

Returning a card formats it (rule I6): every grant cleared, ready to be lent again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from sqlalchemy import select

from central.form_fields import CardUid, Id, Items, Nested
from central.form_input import FormInput
from central.models import (
    Card,
    CardState,
    DepositPayer,
    PaymentMethod,
    Person,
    Receipt,
    ReceiptItem,
    RegisterAction,
    RenovationDeposit,
    RenovationFiling,
    RenovationWorker,
    SiteSettings,
)
from central.refusals import ConflictError, NotFoundError, RuleRefused
from central.services.card_activation import clear_grants, same_name
from central.services.context import DESK_ROLES, Action, Actor, Desk, action
from central.services.inputs import SignOff
from central.services.receipts import Charge, write_receipt
from central.services.register import write_register


def deposit_plan(settings: SiteSettings,
                 self_renovation: bool) -> tuple[tuple[DepositPayer, int], ...]:
    """Rule G6: who pays what, in fen — owner and contractor 1000 each, or the
    self-renovating owner 2000 (site settings)."""
    if self_renovation:
        return ((DepositPayer.SELF_RENOVATING_OWNER, settings.renovation_deposit_self_fen),)
    return ((DepositPayer.OWNER, settings.renovation_deposit_owner_fen),
            (DepositPayer.CONTRACTOR, settings.renovation_deposit_contractor_fen))


@dataclass(frozen=True)
class DepositTaken:
    """One deposit and the receipt that took it."""

    payer: DepositPayer
    payer_name: str
    amount_fen: int
    receipt_number: int
    refunded: bool = False


def take_deposits(act: Action, filing: RenovationFiling, owner: Person,
                  method: PaymentMethod) -> tuple[DepositTaken, ...]:
    """Take the filing's deposits, one receipt per payer (each is refunded to its payer
    against its own receipt)."""
    taken = []
    for payer, amount in deposit_plan(act.site.settings, filing.self_renovation):
        name = filing.contractor_name if payer is DepositPayer.CONTRACTOR else owner.name
        receipt = write_receipt(
            act, payer_name=name, method=method, household_id=filing.household_id,
            person_id=owner.id if payer is not DepositPayer.CONTRACTOR else None,
            charges=[Charge(ReceiptItem.RENOVATION_DEPOSIT, amount,
                            f"装修保证金 renovation deposit ({payer.value}), filing {filing.id}")])
        act.session.add(RenovationDeposit(filing_id=filing.id, payer=payer, amount_fen=amount,
                                          receipt_id=receipt.id))
        taken.append(DepositTaken(payer, name, amount, receipt.number))
    return tuple(taken)


def get_filing(act: Action, filing_id: int) -> RenovationFiling:
    """A filing of the action's site, or NotFoundError."""
    filing = act.session.get(RenovationFiling, filing_id)
    if filing is None or filing.site_id != act.site.id:
        raise NotFoundError("没有此装修备案", f"no renovation filing {filing_id}", "filing_id")
    return filing


def cards_out(act: Action, filing: RenovationFiling) -> list[Card]:
    """The cards of ``filing``'s workers not yet returned, in the order lent."""
    return list(act.session.scalars(
        select(Card).join(RenovationWorker, RenovationWorker.card_id == Card.id).where(
            RenovationWorker.filing_id == filing.id,
            RenovationWorker.card_returned_at.is_(None)).order_by(RenovationWorker.id)))


@dataclass(frozen=True)
class ReturnWorkerCards(FormInput):
    """Workers' cards handed back at the desk, and who handed them back (signs)."""

    filing_id: Id
    uids: Annotated[tuple[CardUid, ...], Items(min=1, max=100)]
    signoff: Annotated[SignOff | None, Nested(doc="missing is refused by rule I1")] = None


def return_worker_cards(desk: Desk, actor: Actor, inp: ReturnWorkerCards) -> int:
    """Take back workers' cards (counted against the filing, rule G6) and format each for
    re-use (rule I6); return how many of the filing's cards are still out."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        filing = get_filing(act, inp.filing_id)
        if inp.signoff is None:
            raise RuleRefused("I1", "交还临时出入卡须在登记表上签名",
                              "whoever hands the cards back signs the register", "signoff")
        out = {card.uid: card for card in cards_out(act, filing)}
        unknown = [uid for uid in inp.uids if uid not in out]
        if unknown:
            raise ConflictError(f"卡 {', '.join(unknown)} 不是本备案尚未交还的临时出入卡",
                                f"{', '.join(unknown)}: not a card of this filing still out",
                                "uids")
        for uid in inp.uids:
            card = out[uid]
            worker = act.session.scalars(select(RenovationWorker).where(
                RenovationWorker.filing_id == filing.id,
                RenovationWorker.card_id == card.id)).one()
            worker.card_returned_at = act.now
            cleared = clear_grants(act, card, "returned")
            write_register(act, card, RegisterAction.FORMAT, inp.signoff,
                           detail=f"returned: renovation filing {filing.id}; cleared "
                                  f"{', '.join(cleared) or 'none'}")
            card.state = CardState.FORMATTED
            card.holder = None
            card.holder_kind = None
            card.application_id = None
            card.issued_on = card.valid_from = card.valid_until = None
            card.schedule = None
        return len(out) - len(inp.uids)


@dataclass(frozen=True)
class RefundDeposit(FormInput):
    """A deposit refunded against its receipt (红色一联), the payer signing for it (G6)."""

    filing_id: Id
    receipt_number: Id
    signoff: Annotated[SignOff | None, Nested(
        doc="the receipt's payer; anyone else is refused by rule G6")] = None


def refund_deposit(desk: Desk, actor: Actor, inp: RefundDeposit) -> DepositTaken:
    """Refund one deposit of a filing (rule G6).

    Refused under G6 while any worker's temporary card is still out (the refused message
    lists them), or when the person signing for the refund is not the receipt's payer.
    A voided receipt refunds nothing (rule I7: its correction is another receipt).
    """
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        filing = get_filing(act, inp.filing_id)
        found = act.session.execute(
            select(RenovationDeposit, Receipt).join(
                Receipt, Receipt.id == RenovationDeposit.receipt_id).where(
                RenovationDeposit.filing_id == filing.id,
                Receipt.number == inp.receipt_number)).one_or_none()
        if found is None:
            raise NotFoundError(f"第 {inp.receipt_number} 号收据不是本备案的装修保证金",
                                f"receipt {inp.receipt_number} is not a deposit of this filing",
                                "receipt_number")
        deposit, receipt = found
        if deposit.refunded_at is not None:
            raise ConflictError("此保证金已退还", "this deposit has been refunded",
                                "receipt_number")
        if receipt.is_void:
            raise ConflictError(f"第 {receipt.number} 号收据已作废",
                                f"receipt {receipt.number} is void", "receipt_number")
        out = [card.uid for card in cards_out(act, filing)]
        if out:
            raise RuleRefused("G6", f"尚有 {len(out)} 张施工人员临时出入卡未交还（"
                              f"{', '.join(out)}），须全部交还后方可退装修保证金",
                              f"{len(out)} worker card(s) not yet returned ({', '.join(out)}): "
                              "the deposit is refunded only after every card is back",
                              "filing_id")
        if inp.signoff is None or not same_name(inp.signoff.signer_name, receipt.payer_name):
            raise RuleRefused("G6", f"须由交款人 {receipt.payer_name} 在收据上签收退款",
                              f"the payer, {receipt.payer_name}, signs the receipt for the "
                              "refund", "signoff")
        deposit.refunded_at = act.now
        deposit.refunded_by_staff_id = act.staff.id
        deposit.refund_signed_by = inp.signoff.signer_name
        return DepositTaken(deposit.payer, receipt.payer_name, deposit.amount_fen,
                            receipt.number, refunded=True)
