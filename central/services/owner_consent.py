"""The written consent of a unit's current owner, which anyone but an owner needs

- for a goods release slip (rule G4): seed 002 — 若为租户搬出必需经业主签确同意; seed 001 —
  请业户出示盖有业主签章的同意搬离的书面资料; seed 003 — 非业主搬出大件物品需经业主认可方可放行;
- for a renovation filing (rule H6): seed 004 — 非业主使用人装修需提供业主同意装修的书面证明,
  并与业主确认.

Written means signed (``document``) or under the owner's seal (``sealed``); a telephone call
or a word at the desk is not enough. Who consented, how, when and where the paper is are kept
as evidence on the application.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from central.form_fields import Choice, Id, Instant, Text
from central.form_input import FormInput
from central.models import (
    Application,
    ConfirmationMethod,
    EvidenceKind,
    HolderKind,
    HouseholdKind,
    Person,
)
from central.refusals import FieldError, InvalidInputError, RuleRefused
from central.services.applications import add_evidence
from central.services.context import Action

WRITTEN = frozenset({ConfirmationMethod.DOCUMENT, ConfirmationMethod.SEALED})


@dataclass(frozen=True)
class OwnerConsent(FormInput):
    """The unit's current owner consents in writing (rules G4, H6): which owner, signed or
    sealed, when, and which paper."""

    owner_person_id: Id
    method: Annotated[ConfirmationMethod, Choice(
        doc="`document` (signed) or `sealed`; `phone` and `in_person` are refused")]
    confirmed_at: Annotated[datetime, Instant(doc="with its UTC offset")]
    reference: Annotated[str, Text(doc="the consent's number or where the paper is kept "
                                       "(required)")] = ""


def consenting_owner(act: Action, unit_id: int, consent: OwnerConsent | None, rule: str, *,
                     what_zh: str, what_en: str) -> Person:
    """The unit's current owner whose written consent ``consent`` records; refused under
    ``rule`` when it is missing, not written, names no document, or comes from anyone but a
    current owner of the unit."""
    if consent is None:
        raise RuleRefused(rule, f"非业主{what_zh}须经本房屋现业主书面同意（签字或盖章）",
                          f"anyone but an owner needs the written consent (signed or sealed) "
                          f"of the unit's current owner for {what_en}", "owner_consent")
    if consent.method not in WRITTEN:
        raise RuleRefused(rule, "业主同意须为书面（签字或盖章），电话或口头同意不足",
                          "the owner's consent is written — signed (document) or sealed; "
                          f"{consent.method.value} is not enough", "owner_consent.method")
    if not consent.reference.strip():
        raise RuleRefused(rule, "须注明业主书面同意的文件（编号或存放位置）",
                          "name the owner's written consent (its number or where it is kept)",
                          "owner_consent.reference")
    owner = act.session.get(Person, consent.owner_person_id)
    household = owner.household if owner is not None else None
    if (owner is None or household is None or owner.holder_kind is not HolderKind.OWNER
            or household.unit_id != unit_id or household.kind is not HouseholdKind.OWNERSHIP
            or not household.is_current):
        raise RuleRefused(rule, "同意人须为该房屋的现业主", "the consent comes from the unit's "
                          "current owner", "owner_consent.owner_person_id")
    if consent.confirmed_at > act.now + timedelta(minutes=5):
        raise InvalidInputError([FieldError("owner_consent.confirmed_at", "不能晚于现在",
                                            "cannot be in the future")])
    return owner


def record_consent(act: Action, application: Application, owner: Person,
                   consent: OwnerConsent) -> None:
    """Keep the consent on the application: who, how (signed or sealed), when, the paper."""
    add_evidence(act, application, EvidenceKind.OWNER_CONSENT, person=owner,
                 method=consent.method, at=consent.confirmed_at, reference=consent.reference)
