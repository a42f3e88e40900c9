"""Input pieces shared by several actions: sign-offs, person details, confirmations.

Each is a frozen dataclass with a ``read`` from a FormReader; whole-action inputs (in their
service modules) are built from these by ``from_form``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from central.forms import FormReader
from central.models import ConfirmationMethod


@dataclass(frozen=True)
class SignOff:
    """A signature on the register or for a card handed over (rules I1, I5, L2).

    ``signer_name`` is who signed as the clerk saw it; ``reference`` says where the signature
    is (page and line of the paper register, or a signature-pad image id).
    """

    signer_name: str
    reference: str = ""

    @staticmethod
    def read(r: FormReader) -> SignOff:
        """From ``{"signer_name": ..., "reference": ...}``."""
        return SignOff(r.text("signer_name", 100), r.opt_text("reference") or "")


@dataclass(frozen=True)
class PersonDetails:
    """A person the desk has no record of yet."""

    name: str
    id_number: str | None = None
    phone: str | None = None
    organisation: str = ""

    @staticmethod
    def read(r: FormReader) -> PersonDetails:
        """From ``{"name", "id_number", "phone", "organisation"}``."""
        return PersonDetails(r.text("name", 100), r.opt_text("id_number", 32),
                             r.opt_text("phone", 32), r.opt_text("organisation") or "")


@dataclass(frozen=True)
class OwnerConfirmation:
    """Rule H1: a family member with no record is confirmed by the owner — who confirmed
    (an owner of the household), how (by phone, usually) and when."""

    owner_person_id: int
    method: ConfirmationMethod
    confirmed_at: datetime
    note: str = ""

    @staticmethod
    def read(r: FormReader) -> OwnerConfirmation:
        """From ``{"owner_person_id", "method", "confirmed_at", "note"}``."""
        return OwnerConfirmation(r.integer("owner_person_id", 1),
                                 r.enum("method", ConfirmationMethod),
                                 r.instant("confirmed_at"), r.opt_text("note") or "")


@dataclass(frozen=True)
class Countersign:
    """A named person outside the system who checked or approved something (a shop
    manager, a department head), and where their signature is."""

    name: str
    reference: str = ""

    @staticmethod
    def read(r: FormReader) -> Countersign:
        """From ``{"name", "reference"}``."""
        return Countersign(r.text("name", 100), r.opt_text("reference") or "")
