"""Applications made at the desk and the evidence each needs.

Rules H1–H4, H8, P1 and G4 are about what must be shown, checked or signed before the desk
acts. Each such thing is an Evidence row on the application: what it was, its reference
(document number, page of the register), who confirmed it, how and when, and which desk
staff member recorded it.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from central.models.base import Base


class ApplicationKind(enum.StrEnum):
    """What was applied for."""

    RESIDENT_CARDS = "resident_cards"  # H1, H2, I4, I5
    MERCHANT_CARD = "merchant_card"  # H3
    STAFF_CARD = "staff_card"  # H4
    RENOVATION = "renovation"  # H6, G6
    VISITOR = "visitor"  # H7
    PARKING = "parking"  # P1, P3
    GOODS_RELEASE = "goods_release"  # G4
    OWNERSHIP_TRANSFER = "ownership_transfer"  # H8


class Application(Base):
    """One application at the desk (申请), with its applicant and handling staff."""

    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    kind: Mapped[ApplicationKind]
    applicant_person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    # Rule I5 (and L1): resident cards are applied for by the resident in person.
    in_person: Mapped[bool] = mapped_column(default=False)
    handled_by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(String(500), default="")

    evidence: Mapped[list[Evidence]] = relationship(back_populates="application")


class EvidenceKind(enum.StrEnum):
    """Documents checked and confirmations obtained."""

    ID_CHECKED = "id_checked"  # H1: identity checked against the record
    OWNER_CONFIRMATION = "owner_confirmation"  # H1: family with no record, owner confirms
    LEASE_CONTRACT = "lease_contract"  # H2
    ID_COPY = "id_copy"  # H2, P1
    COMPANY_SEAL_APPLICATION = "company_seal_application"  # H3
    SHOP_MANAGER_VERIFICATION = "shop_manager_verification"  # H3
    DEPARTMENT_HEAD_SIGNOFF = "department_head_signoff"  # H3, H4
    WRITTEN_APPLICATION = "written_application"  # H4
    PURCHASE_CONTRACT = "purchase_contract"  # H8
    DRIVING_LICENCE = "driving_licence"  # P1
    VEHICLE_LICENCE = "vehicle_licence"  # P1
    PARKING_AGREEMENT = "parking_agreement"  # P1
    OWNER_CONSENT = "owner_consent"  # G4 goods slip, H6 renovation: a non-owner's, written


class ConfirmationMethod(enum.StrEnum):
    """How a confirmation was obtained."""

    PHONE = "phone"
    IN_PERSON = "in_person"
    DOCUMENT = "document"  # written and signed (签字)
    SEALED = "sealed"  # written under the signer's seal (盖章)


class Evidence(Base):
    """One thing shown, checked or confirmed for an application."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    kind: Mapped[EvidenceKind]
    # The document's number, the register page, or a short description.
    reference: Mapped[str] = mapped_column(String(200), default="")
    # Who confirmed it: a person on record (the owner, rule H1) or a name (a department head).
    confirmed_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    confirmed_by_name: Mapped[str | None] = mapped_column(String(100))
    method: Mapped[ConfirmationMethod | None]
    confirmed_at: Mapped[datetime | None]
    recorded_by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    recorded_at: Mapped[datetime]

    application: Mapped[Application] = relationship(back_populates="evidence")
