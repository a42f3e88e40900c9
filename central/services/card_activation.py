"""Card mechanics shared by the actions: finding a card, making sure it is blank before it
is authorised (rule I6), activating it for a holder, and granting or clearing groups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from central.models import (
    AccessGroup,
    Card,
    CardState,
    Grant,
    HolderKind,
    Person,
    Relationship,
    Schedule,
)
from central.refusals import FieldError, InvalidInputError, NotFoundError, RuleRefused
from central.services.context import Action

STATE_ZH = {CardState.ACTIVE: "使用中", CardState.LOST: "已挂失", CardState.REVOKED: "已停用",
            CardState.FORMATTED: "已格式化"}


def find_card(act: Action, uid: str) -> Card | None:
    """The card with canonical ``uid`` at the action's site, if the desk has seen it."""
    return act.session.scalars(
        select(Card).where(Card.site_id == act.site.id, Card.uid == uid)).one_or_none()


def get_card(act: Action, uid: str, field: str = "uid") -> Card:
    """The card with ``uid``, or NotFoundError naming the field."""
    card = find_card(act, uid)
    if card is None:
        raise NotFoundError(f"本小区没有卡号 {uid}", f"no card {uid} at this site", field)
    return card


def blank_card(act: Action, uid: str, field: str = "uid") -> Card:
    """A card ready for new authorisation: new to the desk, or formatted (rule I6: a card
    being re-used must be formatted first, every grant it held cleared)."""
    card = find_card(act, uid)
    if card is None:
        # New to the desk, it holds no grant and no parking right: said here, so that
        # activating it and publishing its gate record do not ask the database.
        card = Card(site_id=act.site.id, uid=uid, state=CardState.FORMATTED,
                    created_at=act.now, updated_at=act.now, grants=[],
                    parking_subscriptions=[])
        act.session.add(card)
        act.session.flush()
        return card
    if card.state is not CardState.FORMATTED:
        raise RuleRefused(
            "I6", f"卡 {uid} 目前{STATE_ZH[card.state]}：重新使用前须先格式化，清除其全部授权",
            f"card {uid} is {card.state.value}: a card is formatted (every grant cleared) "
            "before it is authorised again", field)
    return card


def access_groups(act: Action, names: Sequence[str], field: str) -> list[AccessGroup]:
    """The site's access groups named ``names``; unknown names are an input error."""
    if not names:
        return []
    found = {g.name: g for g in act.session.scalars(
        select(AccessGroup).where(AccessGroup.site_id == act.site.id,
                                  AccessGroup.name.in_(names)))}
    unknown = [n for n in names if n not in found]
    if unknown:
        raise InvalidInputError([FieldError(
            field, f"本小区没有门禁组：{', '.join(unknown)}",
            f"no such access group at this site: {', '.join(unknown)}")])
    return [found[n] for n in names]


def schedule_for(act: Action, spec: str | None) -> Schedule | None:
    """The site's Schedule row for an already-validated ``spec`` (created on first use)."""
    if spec is None:
        return None
    schedule = act.session.scalars(select(Schedule).where(
        Schedule.site_id == act.site.id, Schedule.spec == spec)).one_or_none()
    if schedule is None:
        schedule = Schedule(site_id=act.site.id, spec=spec)
        act.session.add(schedule)
    return schedule


def activate(act: Action, card: Card, *, holder: Person, kind: HolderKind,
             valid_until: date | None, groups: Sequence[AccessGroup],
             schedule: Schedule | None = None, relation: Relationship | None = None,
             application_id: int | None = None) -> None:
    """Issue a blank card to ``holder``: active from today, with ``groups`` granted."""
    if card.state is not CardState.FORMATTED or card.active_grants:
        raise RuntimeError(f"card {card.uid} is not blank (rule I6 is checked first)")
    card.state = CardState.ACTIVE
    card.holder = holder
    card.holder_kind = kind
    card.relation_to_applicant = relation
    card.application_id = application_id
    card.issued_on = card.valid_from = act.today
    card.valid_until = valid_until
    card.schedule = schedule
    card.replaces_card_id = None
    card.updated_at = act.now
    for group in groups:
        card.grants.append(Grant(access_group=group, granted_at=act.now,
                                 granted_by_staff_id=act.staff.id))


def clear_grants(act: Action, card: Card, reason: str) -> list[str]:
    """Clear every grant of ``card`` (kept on record, cleared); return the group names."""
    names = []
    for grant in card.active_grants:
        grant.cleared_at = act.now
        grant.cleared_by_staff_id = act.staff.id
        grant.clear_reason = reason
        names.append(grant.access_group.name)
    card.updated_at = act.now
    return names


def set_grants(act: Action, card: Card, groups: Sequence[AccessGroup]) -> tuple[list[str],
                                                                                list[str]]:
    """Make ``card``'s grants exactly ``groups``; return (added, removed) names."""
    wanted = {g.id: g for g in groups}
    held = {g.access_group_id: g for g in card.active_grants}
    removed = []
    for group_id, grant in held.items():
        if group_id not in wanted:
            grant.cleared_at, grant.cleared_by_staff_id = act.now, act.staff.id
            grant.clear_reason = "changed"
            removed.append(grant.access_group.name)
    added = []
    for group_id, group in wanted.items():
        if group_id not in held:
            card.grants.append(Grant(access_group=group, granted_at=act.now,
                                     granted_by_staff_id=act.staff.id))
            added.append(group.name)
    card.updated_at = act.now
    return added, removed


@dataclass(frozen=True)
class IssuedCard:
    """One card handed over."""

    uid: str
    holder_person_id: int
    holder_name: str
    holder_kind: HolderKind
    valid_until: date | None
    fee_fen: int


@dataclass(frozen=True)
class IssueResult:
    """What an issuing action did: the cards, and the receipt if money was taken."""

    application_id: int
    cards: tuple[IssuedCard, ...]
    receipt_number: int | None
    total_fen: int


def same_name(a: str, b: str) -> bool:
    """Whether two written names are the same person's (spacing and case aside)."""
    return "".join(a.split()).casefold() == "".join(b.split()).casefold()
