"""Which sites' signed full-state lists — each booth's list (central/services/booth_list.py)
and the site's rules (central/services/site_rules.py) — a committed desk transaction may
have changed, told to the hubs that publish them (sync/hub/booth_lists.py,
sync/hub/site_rules_publisher.py). A company's hub rebuilds a site's lists when the desk
changes what they hold, not every few seconds for every site: at 100 sites those rebuilds
were half of a desk worker's time (bench/company.py).

Any session's flush that writes a row of a model the lists are built from (``WATCHED``)
notes the row's site; a row of no site (an account serving every site) notes every site.
On PostgreSQL the transaction also announces each such site once, ``pg_notify(
LISTS_CHANNEL, site id)``, which PostgreSQL delivers at commit to every desk worker; on
SQLite the one desk process's committed desk sessions tell its ``ListChangeWatch``. The
publishers still rebuild at a slow interval, so what cannot be seen here — a write in raw
SQL, a day passing (which moves what a booth list holds) — reaches the devices within it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping

from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, UOWTransaction

from central.db import DeskSession
from central.models import (
    Booth,
    Gate,
    GoodsPass,
    GoodsReleaseSlip,
    Holiday,
    Household,
    Lot,
    ParkingPolicySetting,
    Person,
    Site,
    SiteRulesVersion,
    Staff,
    StaffSiteRole,
    TemporaryParkingPermit,
    TimedMode,
    VisitorPass,
)
from central.pg_listen import listen_until

log = logging.getLogger("menwei.desk.list_changes")

LISTS_CHANNEL = "menwei_lists"
# A notification's payload for a change of every site's lists.
EVERY_SITE = "*"
# What a booth list or the site rules are read from (their builders' queries).
WATCHED: tuple[type, ...] = (
    Booth, Gate, GoodsPass, GoodsReleaseSlip, Household, Person, Site, Staff, StaffSiteRole,
    TemporaryParkingPermit, VisitorPass,  # a booth's list
    Holiday, Lot, ParkingPolicySetting, SiteRulesVersion, TimedMode)  # the site rules
# Read by a list only through a row of another watched model (a pass's holder, a unit's
# household): a new one changes no list until such a row names it, which is noted itself;
# issuing a card to a new resident announces nothing.
NAMED_ONLY: tuple[type, ...] = (Household, Person)
# session.info: the sites (their ids, or EVERY_SITE) the open transaction changed.
_NOTED = "menwei.list_changes.noted"

def _sites_of(session: Session, obj: object) -> set[int | str]:
    if isinstance(obj, Site):
        return {obj.id}
    site_id = getattr(obj, "site_id", None)
    if site_id is None:
        return {EVERY_SITE}
    if isinstance(obj, Staff) and obj.id is not None:
        # An account given a role at other sites is on their booths' lists too: a lent
        # guard deactivated, or its password reset, must leave them as soon as its own.
        lent = session.connection().execute(
            select(StaffSiteRole.site_id).where(StaffSiteRole.staff_id == obj.id)).scalars()
        return {int(site_id), *lent}
    return {int(site_id)}


def _changes_a_list(session: Session, obj: object) -> bool:
    if not isinstance(obj, WATCHED):
        return False
    if obj in session.new:
        return not isinstance(obj, NAMED_ONLY)
    return obj in session.deleted or session.is_modified(obj)


@event.listens_for(Session, "after_flush")
def _note(session: Session, _flush: UOWTransaction) -> None:
    """Note the sites of the watched rows this flush wrote (``new``, ``dirty`` and
    ``deleted`` are still as before the flush) and announce new ones on PostgreSQL."""
    note_sites(session, {site for obj in (*session.new, *session.dirty, *session.deleted)
                         if _changes_a_list(session, obj) for site in _sites_of(session, obj)})


def note_sites(session: Session, sites: Iterable[int | str]) -> None:
    """Note that the open transaction changed these sites' lists (ids, or ``EVERY_SITE``):
    what a flush cannot see, a table written by a plain statement (a guard's booths)."""
    noted: set[int | str] = session.info.setdefault(_NOTED, set())
    fresh = set(sites) - noted
    if not fresh:
        return
    noted |= fresh
    if session.get_bind().dialect.name == "postgresql":
        connection = session.connection()
        for site in sorted(fresh, key=str):
            connection.execute(select(func.pg_notify(LISTS_CHANNEL, str(site))))


@event.listens_for(Session, "after_begin")
def _fresh(session: Session, _transaction: object, _connection: object) -> None:
    # The sites noted are those of the transaction that begins now.
    session.info.pop(_NOTED, None)


@event.listens_for(Session, "after_soft_rollback")
def _forget_noted(session: Session, _previous: object) -> None:
    # A rolled-back savepoint takes its notifications with it: note afresh (telling a site
    # twice only costs a rebuild).
    session.info.pop(_NOTED, None)


class ListChangeWatch:
    """Tells this desk worker's hubs when the desk may have changed their lists: on
    PostgreSQL every worker's commits, its own among them (LISTEN; telling its own commits
    directly as well rebuilt each changed list twice); on SQLite, the one desk process's
    own commits as they happen."""

    def __init__(self, engine: Engine, tell: Mapping[str, Callable[[], None]]) -> None:
        self.engine = engine
        self.tell = dict(tell)  # site code -> that site's hub, told to rebuild
        self._codes: dict[int, str] = {}
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None

    def start(self) -> None:
        """Start telling (until ``stop``)."""
        try:
            with self.engine.connect() as conn:
                self._codes = {int(i): str(c)
                               for i, c in conn.execute(select(Site.id, Site.code))}
        except SQLAlchemyError as exc:
            # Not a reason to keep the gate link down: a change of a site not known here
            # rebuilds every site's lists (_changed).
            log.warning("list changes: the desk's sites could not be read (%s); every "
                        "change rebuilds every site's lists", exc)
        if self.engine.dialect.name != "postgresql":
            event.listen(DeskSession, "after_commit", self._committed)
        else:
            self._stop.clear()
            self._listener = threading.Thread(
                target=listen_until, name="desk-list-changes", daemon=True,
                args=(self._stop, self.engine, LISTS_CHANNEL, self._announced,
                      lambda: self._changed(None)))
            self._listener.start()

    def stop(self) -> None:
        """Stop telling."""
        if event.contains(DeskSession, "after_commit", self._committed):
            event.remove(DeskSession, "after_commit", self._committed)
        self._stop.set()
        if self._listener is not None:
            self._listener.join(5)
            self._listener = None

    def _committed(self, session: Session) -> None:
        noted: set[int | str] = session.info.get(_NOTED, set())
        for site in noted:
            self._changed(None if site == EVERY_SITE else int(site))

    def _announced(self, payload: str) -> None:
        self._changed(None if payload == EVERY_SITE or not payload.isdigit()
                      else int(payload))

    def _changed(self, site_id: int | None) -> None:
        # A site unknown here (created after the start) may be one of ours: rebuilding
        # every site's lists once costs less than missing a change.
        code = None if site_id is None else self._codes.get(site_id)
        for site, tell in self.tell.items():
            if code is None or site == code:
                tell()
