"""The desk, the acting staff member, and the one-transaction-per-action context.

``with action(desk) as act:`` opens a transaction; the body reads and writes through
``act.session``; on leaving, every card whose gate record may have changed gets its new
effective record appended to ``auth_log`` (central/services/gate_record.py), then the
transaction commits. Any exception rolls everything back: a refusal writes nothing.
``with reading(desk, actor, roles) as act:`` is the same, authorised, for a read: a plain
session that writes nothing and takes no write lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime

from argon2 import PasswordHasher
from sqlalchemy import Engine, and_, select
from sqlalchemy.orm import joinedload

from central.clock import local_date, utc_now
from central.db import DeskSession, make_engine, make_sessionmaker, require_current_schema
from central.models import Role, Site, Staff, StaffSiteRole
from central.refusals import DeskError, NotFoundError, PermissionDeniedError, RuleRefused
from central.services.gate_record import publish_changed_cards
from edge.ports import Clock, SystemClock

# Who does desk work (issuing, loss, receipts); guards and admins do not.
DESK_ROLES = frozenset({Role.CLERK, Role.FRONT_DESK_LEAD, Role.CUSTOMER_SERVICE_LEAD,
                        Role.DIRECTOR})
LEADS = frozenset({Role.FRONT_DESK_LEAD, Role.CUSTOMER_SERVICE_LEAD})
# Voiding a receipt undoes money: a lead or the director, never a clerk alone.
RECEIPT_VOIDERS = frozenset({Role.FRONT_DESK_LEAD, Role.CUSTOMER_SERVICE_LEAD,
                             Role.DIRECTOR})


@dataclass
class Desk:
    """The service's handle: where the data is, what time it is, how passwords are hashed."""

    engine: Engine
    clock: Clock = field(default_factory=SystemClock)
    hasher: PasswordHasher = field(default_factory=PasswordHasher)

    def __post_init__(self) -> None:
        # Reads (reports, look-ups, tests); actions use ``action()`` and its write sessions.
        self.sessions = make_sessionmaker(self.engine)
        self.write_sessions = make_sessionmaker(self.engine, writes=True)

    @classmethod
    def open(cls, url: str, *, clock: Clock | None = None,
             hasher: PasswordHasher | None = None) -> Desk:
        """Connect to a database that ``create-db`` has brought up to date."""
        engine = make_engine(url)
        require_current_schema(engine)
        return cls(engine, clock or SystemClock(), hasher or PasswordHasher())

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()


@dataclass(frozen=True)
class Actor:
    """Who is acting and at which site (a company-wide account picks the site per request)."""

    staff_id: int
    site: str


class Action:
    """One action's transaction, its single "now", and the acting staff member."""

    def __init__(self, desk: Desk, session: DeskSession) -> None:
        self.desk = desk
        self.session = session
        self.now: datetime = utc_now(desk.clock)
        self._staff: Staff | None = None
        self._site: Site | None = None
        self._role: Role | None = None

    def authorise(self, actor: Actor, roles: frozenset[Role], rule: str | None = None, *,
                  refusal: Callable[[Role], DeskError] | None = None) -> tuple[Staff, Site]:
        """Load the acting staff member and site; refuse an inactive account, a site the
        account does not serve, or a role at that site (``role``) not in ``roles``: with
        ``refusal(role)`` when the rule that names who may has its own words, else as that
        ``rule``'s refusal, else as a permission refusal."""
        staff = self.session.get(Staff, actor.staff_id)
        if staff is None or not staff.active:
            raise PermissionDeniedError("账户不存在或已停用", "no such active staff account")
        # With its settings, which most actions read (fees, validity, quotas), and the role
        # the account may have been given at this site: one statement.
        found = self.session.execute(
            select(Site, StaffSiteRole.role).where(Site.code == actor.site)
            .outerjoin(StaffSiteRole, and_(StaffSiteRole.site_id == Site.id,
                                           StaffSiteRole.staff_id == staff.id))
            .options(joinedload(Site.settings))).unique().one_or_none()
        if found is None:
            raise NotFoundError(f"没有代码为 {actor.site} 的小区", f"no site {actor.site!r}")
        site, granted = found
        role = staff.role_at(site.id, granted)
        if role is None:
            raise PermissionDeniedError("该账户不属于此小区",
                                        "this account does not serve that site")
        if role not in roles:
            if refusal is not None:
                raise refusal(role)
            allowed = ", ".join(sorted(r.value for r in roles))
            if rule is not None:
                raise RuleRefused(rule, f"角色 {role.value} 无权办理此业务（规则 {rule}；"
                                  f"需要：{allowed}）", f"role {role.value} may not do "
                                  f"this (rule {rule}: needs one of {allowed})")
            raise PermissionDeniedError(f"角色 {role.value} 无权办理此业务"
                                        f"（需要：{allowed}）",
                                        f"role {role.value} may not do this "
                                        f"(needs one of: {allowed})")
        self._role = role
        self._staff, self._site = staff, site
        return staff, site

    @property
    def staff(self) -> Staff:
        """The authorised staff member (after ``authorise``)."""
        if self._staff is None:
            raise RuntimeError("authorise() first")
        return self._staff

    @property
    def role(self) -> Role:
        """The authorised staff member's role at the site acted on (after ``authorise``):
        their account's role, or the one they were given at this site."""
        if self._role is None:
            raise RuntimeError("authorise() first")
        return self._role

    @property
    def site(self) -> Site:
        """The site acted on (after ``authorise``)."""
        if self._site is None:
            raise RuntimeError("authorise() first")
        return self._site

    @property
    def today(self) -> date:
        """The site-local calendar date of this action."""
        return local_date(self.now, self.site.timezone)


@contextmanager
def reading(desk: Desk, actor: Actor, roles: frozenset[Role]) -> Iterator[Action]:
    """A read-only session authorised as an action would be (account active, site served,
    role in ``roles``): a read neither takes the write lock nor waits for a writer."""
    with desk.sessions() as session:
        act = Action(desk, session)
        act.authorise(actor, roles)
        yield act


@contextmanager
def action(desk: Desk) -> Iterator[Action]:
    """One transaction: commit with the gate records published, or roll back everything."""
    session = desk.write_sessions()
    try:
        with session.begin():
            act = Action(desk, session)
            yield act
            publish_changed_cards(session, act.now)
    finally:
        session.close()
