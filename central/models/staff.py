"""Desk staff accounts, their roles, login attempts (for throttling) and sessions."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from central.models.base import AppendOnly, Base

if TYPE_CHECKING:
    from central.models.site import Site


# A site by its id (the desk's rows) or by its code (a session): the same on both sides.
SiteKey = TypeVar("SiteKey", int, str)


class Role(enum.StrEnum):
    """What a staff member may do; the rules name some roles (H4, L2, P3)."""

    CLERK = "clerk"  # 客服人员
    FRONT_DESK_LEAD = "front_desk_lead"  # 前台负责人
    CUSTOMER_SERVICE_LEAD = "customer_service_lead"  # 客服负责人
    DIRECTOR = "director"  # 管理处主任
    GUARD = "guard"  # 安管员 / 门岗
    ADMIN = "admin"  # accounts, sites and devices; no desk work


class Staff(Base):
    """A person who logs in. ``site_id`` None means every site of the company. ``role`` is
    the account's role at the sites it serves, except where a ``StaffSiteRole`` gives it
    another role at one site (a company's staff who work at several compounds)."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[Role]
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    # argon2id encoded hash (argon2-cffi); never the password.
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    # The desk pages' language for this account (``zh_CN``, ``en``); None: the default, zh_CN.
    locale: Mapped[str | None] = mapped_column(String(16))

    site: Mapped[Site | None] = relationship()
    # Loaded only where shown (the admin's pages and API): authorising an action reads the
    # one role of the site acted at with the site itself (central/services/context.py).
    site_roles: Mapped[list[StaffSiteRole]] = relationship(
        order_by="StaffSiteRole.site_id", cascade="all, delete-orphan")

    def role_at(self, site_id: int, granted: Role | None) -> Role | None:
        """The account's role at a site, given the role a ``StaffSiteRole`` grants it there
        (None: none does); None when the account does not serve that site."""
        return role_at_site(self.role, self.site_id, site_id, granted)


def role_at_site(role: Role, own_site: SiteKey | None, site: SiteKey,
                 granted: Role | None) -> Role | None:
    """An account's role at ``site``: the role given it there, else its own role at its own
    site (``own_site``; None: every site), else None (it does not serve that site)."""
    if granted is not None:
        return granted
    if own_site is None or own_site == site:
        return role
    return None


class StaffSiteRole(Base):
    """An account's role at one site other than its own, or a company-wide account's role at
    one site instead of its usual one: a director of three compounds who is a clerk at a
    fourth, a guard lent to another compound's car park."""

    __tablename__ = "staff_site_roles"

    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), primary_key=True,
                                         index=True)
    role: Mapped[Role]

    site: Mapped[Site] = relationship()


class LoginAttempt(Base):
    """Every login attempt, successful or not; failures in a window throttle the account."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_username_at", "username", "at"),
                      Index("ix_login_attempts_remote_at", "remote", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    # As typed (lower-cased), so attempts on unknown names are throttled too.
    username: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    succeeded: Mapped[bool]
    # True when refused by the throttle without checking the password; not counted.
    throttled: Mapped[bool] = mapped_column(default=False)
    remote: Mapped[str] = mapped_column(String(64), default="")


class StaffSession(Base):
    """A logged-in session of the desk UI or API (token stored hashed)."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # A browser session ends after this long without a request (an unattended counter);
    # None: no idle limit (an API token, which ends at expires_at).
    idle_timeout_s: Mapped[int | None]
    last_seen_at: Mapped[datetime | None]


class IdCheckFailure(AppendOnly, Base):
    """An ID number presented at the desk that did not pass the check against a person's
    record (central/services/id_checks.py): the alarm the director reads, and the count that
    suspends further checks of that person, or by that staff member."""

    __tablename__ = "id_check_failures"
    __table_args__ = (Index("ix_id_check_failures_person_at", "person_id", "at"),
                      Index("ix_id_check_failures_staff_at", "staff_id", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    at: Mapped[datetime]
    operation: Mapped[str] = mapped_column(String(64))
    # True when refused because checks were already suspended: recorded, not counted, so a
    # suspension ends on time however often it is tried.
    while_suspended: Mapped[bool] = mapped_column(default=False)
