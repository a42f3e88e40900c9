"""The ledger of a card's stored value (消费余额): every movement of a balance goes through
here — a top-up or spend (central/services/stored_value.py), the carry-over to a
replacement (L2), a top-up taken back when its receipt is voided (I7).

The ledger (``card_balance_entries``) is append-only and this module is its only writer:
``post`` appends a movement and sets ``Card.balance_fen`` to the ledger's new sum in the
same transaction, so the balance the desk shows (L1) is always the sum of the movements.
A balance never goes below zero: spending more than the card holds is refused (rule V1 of
docs/central.md, the desk's stored-value rule).
"""

from __future__ import annotations

from sqlalchemy import func, select

from central.amounts import yuan
from central.models import (
    BalanceEntry,
    BalanceMovement,
    Card,
    CardState,
    Receipt,
    ReceiptItem,
    ReceiptLine,
)
from central.refusals import ConflictError, RuleRefused
from central.services.card_activation import STATE_ZH, get_card
from central.services.context import Action

# Refusals below cite rule V1, the desk's stored-value rule (docs/central.md): a balance
# never goes below zero. Written out at each refusal, as every other rule id is, so that
# tests/central/test_refusals.py can check each one against the rules.


def ledger_balance(act: Action, card: Card) -> int:
    """The card's balance: the sum of its movements."""
    total = act.session.scalar(select(func.coalesce(func.sum(BalanceEntry.amount_fen), 0))
                               .where(BalanceEntry.card_id == card.id))
    return int(total or 0)


def post(act: Action, card: Card, movement: BalanceMovement, amount_fen: int, *,
         purpose: str = "", receipt: Receipt | None = None, related: Card | None = None,
         reverses: BalanceEntry | None = None) -> BalanceEntry:
    """Append one movement (signed: in > 0, out < 0) and keep ``card.balance_fen`` equal to
    the ledger's sum. Refused under V1 if the balance would go below zero."""
    before = ledger_balance(act, card)
    after = before + amount_fen
    if after < 0:
        raise RuleRefused(
            "V1", f"卡 {card.uid} 余额 {yuan(before)} 元，不足 {yuan(-amount_fen)} 元",
            f"card {card.uid} holds {yuan(before)} yuan, less than {yuan(-amount_fen)}",
            "amount_yuan")
    entry = BalanceEntry(site_id=act.site.id, card_id=card.id, movement=movement,
                         amount_fen=amount_fen, balance_after_fen=after, purpose=purpose,
                         receipt_id=receipt.id if receipt is not None else None,
                         related_card_id=related.id if related is not None else None,
                         reverses_entry_id=reverses.id if reverses is not None else None,
                         staff_id=act.staff.id, created_at=act.now)
    act.session.add(entry)
    act.session.flush()
    card.balance_fen = after
    act.session.flush()
    return entry


def carry_balance(act: Action, old: Card, new: Card) -> int:
    """Rule L2: the new card gets the old card's balance; the old keeps nothing. Returns
    the amount carried."""
    amount = ledger_balance(act, old)
    if amount:
        post(act, old, BalanceMovement.CARRIED_OUT, -amount, purpose=f"补卡转出至 {new.uid}",
             related=new)
        post(act, new, BalanceMovement.CARRIED_IN, amount, purpose=f"补卡转入自 {old.uid}",
             related=old)
    return amount


def reverse_top_ups(act: Action, voided: Receipt) -> None:
    """Rule I7: a voided receipt's top-ups are taken back off their cards (a corrected
    receipt puts the right amount on again, ``top_up_from_receipt``). Refused under V1 when
    a card has already spent the money."""
    entries = act.session.scalars(select(BalanceEntry).where(
        BalanceEntry.receipt_id == voided.id,
        BalanceEntry.movement == BalanceMovement.TOP_UP)).all()
    for entry in entries:
        card = act.session.get_one(Card, entry.card_id)
        if ledger_balance(act, card) < entry.amount_fen:
            raise RuleRefused(
                "V1",
                f"第 {voided.number} 号收据充值的 {yuan(entry.amount_fen)} 元已有部分从卡 "
                f"{card.uid} 消费，不能作废", f"card {card.uid} has already spent part of the "
                f"{yuan(entry.amount_fen)} yuan put on by receipt {voided.number}: it cannot "
                "be voided", "number")
        post(act, card, BalanceMovement.TOP_UP_VOIDED, -entry.amount_fen,
             purpose=f"第 {voided.number} 号收据作废", receipt=voided, reverses=entry)


def top_up_from_receipt(act: Action, receipt: Receipt) -> None:
    """Put each stored-value line of ``receipt`` on the card it names."""
    lines = act.session.scalars(select(ReceiptLine).where(
        ReceiptLine.receipt_id == receipt.id, ReceiptLine.item == ReceiptItem.STORED_VALUE))
    for line in lines.all():
        card = usable_card(act, line.card_uid or "", "card_uid")
        post(act, card, BalanceMovement.TOP_UP, line.amount_fen, purpose=line.description,
             receipt=receipt)


def usable_card(act: Action, uid: str, field: str) -> Card:
    """A card that may take or give money: active. A lost card has stopped every use (L1:
    停止该卡的一切用途); any other state is the card's state forbidding it."""
    card = get_card(act, uid, field)
    if card.state is CardState.LOST:
        raise RuleRefused("L1", f"卡 {uid} 已挂失，停止一切用途",
                          f"card {uid} is reported lost: every use of it has stopped", field)
    if card.state is not CardState.ACTIVE:
        raise ConflictError(f"卡 {uid} {STATE_ZH[card.state]}，不能充值或消费",
                            f"card {uid} is {card.state.value}: no money moves on it", field)
    return card
