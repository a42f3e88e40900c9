"""Input pieces shared by several actions: sign-offs, person details, confirmations.

Each is a desk input declared once (central/form_input.py); whole-action inputs, in their
service modules, nest them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Self

from central.form_fields import Id, Instant, Text
from central.form_input import FormInput
from central.forms import FormReader
from central.models import ConfirmationMethod


@dataclass(frozen=True)
class SignOff(FormInput):
    """A signature on the register or for a card handed over (rules I1, I5, L2).

    ``signer_name`` is who signed as the clerk saw it; ``reference`` says where the signature
    is (page and line of the paper register, or a signature-pad image id).
    """

    signer_name: Annotated[str, Text(max=100, doc="who signed, as the clerk saw it")]
    reference: Annotated[str, Text(doc="where the signature is (register page, image)")] = ""


@dataclass(frozen=True)
class PersonDetails(FormInput):
    """A person the desk has no record of yet."""

    name: Annotated[str, Text(max=100)]
    id_number: Annotated[str | None, Text(max=32)] = None
    phone: Annotated[str | None, Text(max=32)] = None
    organisation: Annotated[str, Text()] = ""


@dataclass(frozen=True)
class OwnerConfirmation(FormInput):
    """Rule H1: a family member with no record is confirmed by the owner — who confirmed
    (an owner of the household), how (by phone, usually) and when."""

    owner_person_id: Id
    method: ConfirmationMethod
    confirmed_at: Annotated[datetime, Instant(
        doc="with its UTC offset, `2026-06-09T09:50:00+08:00`")]
    note: Annotated[str, Text()] = ""


@dataclass(frozen=True)
class Countersign(FormInput):
    """A named person outside the system who checked or approved something (a shop
    manager, a department head), and where their signature is."""

    name: Annotated[str, Text(max=100)]
    reference: Annotated[str, Text()] = ""


class OneHolder(FormInput):
    """An input naming a card's holder: on record (``holder_person_id``) or new
    (``new_holder``), never both nor neither. Subclasses declare the two fields."""

    holder_person_id: int | None
    new_holder: PersonDetails | None

    def cross_check(self, form: FormReader) -> Self:
        """One holder, on record or new."""
        if (self.holder_person_id is None) == (self.new_holder is None):
            form.fail("holder_person_id", "请选择已登记的持卡人，或填写新持卡人资料（二选一）",
                      "give either holder_person_id (on record) or new_holder (no record)")
        return self
