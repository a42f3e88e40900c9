"""A card after issue: looking it up, changing its grants, renewing it, revoking it, and
formatting it for re-use (rule I6). Each writes the register (rule I1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated

from sqlalchemy import select

from central.amounts import yuan
from central.form_fields import CardUid, Names, Nested, Text
from central.form_input import FormInput
from central.models import AccessGroup, CardState, HolderKind, HouseholdKind, RegisterAction, Role
from central.refusals import ConflictError, RuleRefused
from central.services.card_activation import (
    STATE_ZH,
    access_groups,
    clear_grants,
    get_card,
    set_grants,
)
from central.services.context import DESK_ROLES, Actor, Desk, action, reading
from central.services.inputs import SignOff
from central.services.other_cards import require_lead_for_staff_card
from central.services.register import write_register
from central.services.validity import valid_until


@dataclass(frozen=True)
class CardSummary:
    """What the desk sees of a card, including its balance (rule L1)."""

    uid: str
    state: CardState
    holder_person_id: int | None
    holder_name: str
    holder_kind: HolderKind | None
    valid_until: date | None
    balance_fen: int
    access_groups: tuple[str, ...]


def card_summary(desk: Desk, actor: Actor, uid: str) -> CardSummary:
    """Look a card up (any desk role or guard); a read, writing nothing."""
    with reading(desk, actor, DESK_ROLES | {Role.GUARD}) as act:
        card = get_card(act, uid)
        return CardSummary(card.uid, card.state, card.holder_person_id,
                           card.holder.name if card.holder is not None else "",
                           card.holder_kind, card.valid_until, card.balance_fen,
                           tuple(sorted(g.access_group.name for g in card.active_grants)))


@dataclass(frozen=True)
class CardAction(FormInput):
    """An action on one card: its UID, why, and the signature on the register (I1)."""

    uid: CardUid
    reason: Annotated[str, Text()] = ""
    signoff: Annotated[SignOff | None, Nested(
        doc="who signed the register for this; missing is refused by rule I1")] = None


def _signoff(inp: CardAction) -> SignOff:
    if inp.signoff is None:
        raise RuleRefused("I1", "须在《IC卡发行/异常情况登记表》上签名",
                          "the IC card register is signed for this", "signoff")
    return inp.signoff


def format_card(desk: Desk, actor: Actor, inp: CardAction) -> None:
    """Rule I6: format a card for re-use — every grant cleared, holder and validity
    removed; the gates then refuse it everywhere. Refused while it holds a balance or a
    running parking subscription (they would be lost with it)."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        signoff = _signoff(inp)
        card = get_card(act, inp.uid)
        if card.state is CardState.FORMATTED:
            raise ConflictError(f"卡 {card.uid} 已是格式化状态", f"card {card.uid} is already "
                                "formatted", "uid")
        if card.balance_fen:
            raise ConflictError(f"卡内尚有余额 {yuan(card.balance_fen)} 元，须先处理",
                                f"the card still holds {yuan(card.balance_fen)} yuan; "
                                "settle it first", "uid")
        if any(s.ended_on is None for s in card.parking_subscriptions):
            raise ConflictError("卡上仍有停车月卡，须先结束", "the card still carries a parking "
                                "subscription; end it first", "uid")
        cleared = clear_grants(act, card, "formatted")
        write_register(act, card, RegisterAction.FORMAT, signoff,
                       detail=f"cleared: {', '.join(cleared) or 'none'}; {inp.reason}")
        card.state = CardState.FORMATTED
        card.holder = None
        card.holder_kind = None
        card.relation_to_applicant = None
        card.application_id = None
        card.issued_on = card.valid_from = card.valid_until = None
        card.schedule = None


def revoke_card(desk: Desk, actor: Actor, inp: CardAction) -> None:
    """Withdraw a card at every gate (kept on record with its grants; rule I6 still asks
    for a format before it is re-used)."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        signoff = _signoff(inp)
        card = get_card(act, inp.uid)
        if card.state not in (CardState.ACTIVE, CardState.LOST):
            raise ConflictError(f"卡 {card.uid} {STATE_ZH[card.state]}，无需停用",
                                f"card {card.uid} is {card.state.value}", "uid")
        card.state = CardState.REVOKED
        card.updated_at = act.now
        write_register(act, card, RegisterAction.REVOKE, signoff, detail=inp.reason)


def renew_card(desk: Desk, actor: Actor, inp: CardAction) -> date | None:
    """Extend a card by its holder kind's validity (rules H1–H5), counted from the day after
    its current end (or from today if it has lapsed), never past a tenancy's lease end
    (H2). Staff cards: the leads only (H4). Returns the new last valid day."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        signoff = _signoff(inp)
        card = get_card(act, inp.uid)
        if card.state is not CardState.ACTIVE or card.holder_kind is None:
            raise ConflictError(f"卡 {card.uid} {STATE_ZH[card.state]}，不能延期",
                                f"card {card.uid} is {card.state.value}", "uid")
        if card.holder_kind is HolderKind.STAFF:
            require_lead_for_staff_card(act, "延期", "renew")
        if card.valid_until is None:
            raise ConflictError("此卡无有效期限制，无需延期", "this card does not expire", "uid")
        start = max(act.today, card.valid_until + timedelta(days=1))
        household = card.holder.household if card.holder is not None else None
        tenancy = household is not None and household.kind is HouseholdKind.TENANCY
        new_until = valid_until(act.site.settings, card.holder_kind, start,
                                household.lease_end if household is not None else None,
                                tenancy=tenancy)
        if tenancy and new_until is not None and new_until <= card.valid_until:
            raise RuleRefused("H2", "租约到期日之后不能延期，请先更新租赁合同",
                              "the card already runs to the lease end; renew the lease first",
                              "uid")
        old = card.valid_until
        card.valid_until = new_until
        card.updated_at = act.now
        write_register(act, card, RegisterAction.RENEW, signoff,
                       detail=f"valid until {old} -> {new_until or 'no expiry'}")
        return new_until


@dataclass(frozen=True)
class SetCardGrants(FormInput):
    """Make a card's access groups exactly these."""

    uid: CardUid
    access_groups: Annotated[tuple[str, ...], Names(
        doc="the access groups the card shall open; absent or empty: none")] = ()


def set_card_grants(desk: Desk, actor: Actor, inp: SetCardGrants) -> tuple[list[str], list[str]]:
    """Change an active card's grants (staff cards: the leads only, rule H4); return the
    (added, removed) group names."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        card = get_card(act, inp.uid)
        if card.state is not CardState.ACTIVE:
            raise ConflictError(f"卡 {card.uid} {STATE_ZH[card.state]}，不能授权",
                                f"card {card.uid} is {card.state.value}", "uid")
        if card.holder_kind is HolderKind.STAFF:
            require_lead_for_staff_card(act, "授权", "change the grants of")
        added, removed = set_grants(act, card, access_groups(act, inp.access_groups,
                                                             "access_groups"))
        write_register(act, card, RegisterAction.GRANTS_CHANGED, None,
                       detail=f"added: {', '.join(added) or '-'}; "
                              f"removed: {', '.join(removed) or '-'}")
        return added, removed



@dataclass(frozen=True)
class GroupChoice:
    """An access group of the site, as a card's grants form offers it."""

    name: str
    description: str


def site_access_groups(desk: Desk, actor: Actor) -> list[GroupChoice]:
    """The site's access groups by name."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES | {Role.GUARD})
        groups = act.session.scalars(select(AccessGroup).where(
            AccessGroup.site_id == act.site.id).order_by(AccessGroup.name))
        return [GroupChoice(g.name, g.description) for g in groups]
