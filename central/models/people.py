"""Households (who lives in or owns a unit) and persons (who may hold a card)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from central.models.base import Base
from central.search_keys import phone_digits

if TYPE_CHECKING:
    from central.models.site import Unit


class HolderKind(enum.StrEnum):
    """Who a card is for; each kind has its own issuing rule (H1–H7)."""

    OWNER = "owner"  # 业主 (H1)
    FAMILY = "family"  # 家属 (H1)
    TENANT = "tenant"  # 租户 (H2)
    MERCHANT = "merchant"  # 商户 (H3)
    STAFF = "staff"  # 内部员工 (H4)
    RENOVATION_WORKER = "renovation_worker"  # 装修施工人员 (H6)
    VISITOR = "visitor"  # 访客 (H7)


RESIDENT_KINDS = frozenset({HolderKind.OWNER, HolderKind.FAMILY, HolderKind.TENANT})


class Relationship(enum.StrEnum):
    """A cardholder's relationship to the applicant (rule I5: the applicant states it)."""

    SELF = "self"
    SPOUSE = "spouse"
    PARENT = "parent"
    CHILD = "child"
    GRANDPARENT = "grandparent"
    GRANDCHILD = "grandchild"
    SIBLING = "sibling"
    PARENT_IN_LAW = "parent_in_law"
    CHILD_IN_LAW = "child_in_law"
    OTHER_RELATIVE = "other_relative"
    NANNY = "nanny"  # 保姆
    FRIEND = "friend"
    OTHER = "other"


# 直系亲属 for rule I4: lineal relatives up and down, and the spouse (as property desks count
# them). Siblings and in-laws are collateral or by marriage, so they bring the quota.
DIRECT_RELATIVES = frozenset({
    Relationship.SELF, Relationship.SPOUSE, Relationship.PARENT, Relationship.CHILD,
    Relationship.GRANDPARENT, Relationship.GRANDCHILD,
})


class HouseholdKind(enum.StrEnum):
    """Owning a unit, or renting it (a tenancy has a lease end, rule H2)."""

    OWNERSHIP = "ownership"
    TENANCY = "tenancy"


class Household(Base):
    """The people of one unit under one title: the owner's family, or a tenancy.

    A household ends (``ended_on``) when the unit changes hands (rule H8) or the tenancy ends;
    its cards stop working from that day.
    """

    __tablename__ = "households"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    kind: Mapped[HouseholdKind]
    started_on: Mapped[date | None]
    ended_on: Mapped[date | None]
    # Tenancies only (rule H2): the lease's last day and the contract on file.
    lease_end: Mapped[date | None]
    lease_contract_ref: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]

    unit: Mapped[Unit] = relationship(back_populates="households")
    members: Mapped[list[Person]] = relationship(back_populates="household")

    @property
    def is_current(self) -> bool:
        """Whether the household has not ended."""
        return self.ended_on is None


class Person(Base):
    """Someone the desk knows: a resident, merchant, staff member, worker or visitor.

    ``id_number`` is personal data (rule G5: never disclosed); it is used only to check an
    identity presented at the desk against the record.
    """

    __tablename__ = "persons"
    # The search box (central/services/search.py): a name typed whole or by its start, a
    # phone by its start or by its last digits (the start of the digits reversed); the ID
    # number is never searched (rule G5).
    __table_args__ = (Index("ix_persons_site_name", "site_id", "name"),
                      Index("ix_persons_site_phone_digits", "site_id", "phone_digits"),
                      Index("ix_persons_site_phone_digits_reversed", "site_id",
                            "phone_digits_reversed"))

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    holder_kind: Mapped[HolderKind]
    # To the householder (owner or lead tenant), as the record or the applicant states it.
    relation_to_householder: Mapped[Relationship | None]
    id_number: Mapped[str | None] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(32))
    # The phone's digits (central/search_keys.py) and the same backwards, kept by
    # ``_keep_phone_digits``.
    phone_digits: Mapped[str | None] = mapped_column(String(32))
    phone_digits_reversed: Mapped[str | None] = mapped_column(String(32))
    # The company of a merchant or contractor, the department of a staff member.
    organisation: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]

    household: Mapped[Household | None] = relationship(back_populates="members")

    @validates("phone")
    def _keep_phone_digits(self, _key: str, phone: str | None) -> str | None:
        self.phone_digits = phone_digits(phone)
        self.phone_digits_reversed = self.phone_digits[::-1] if self.phone_digits else None
        return phone
