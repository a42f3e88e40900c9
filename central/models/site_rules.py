"""The site's rules every gate applies offline (issue 12), as the desk keeps them: the
expired-monthly-card policy per space kind (rule P2 at the lane), the car parks with their
lanes and spaces per class, the holiday calendar, and the gates' timed modes.

They travel as one signed, versioned, full-state message (edge/site_rules.py is the payload;
central/services/site_rules.py builds it). ``site_rules_versions`` holds each site's version:
a session hook raises it in the transaction of any write to a row here, so the publisher always
sees a change (a forgotten call cannot leave the gates on old rules).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import BigInteger, Column, ForeignKey, String, Table, UniqueConstraint, event
from sqlalchemy.orm import Mapped, Session, UOWTransaction, mapped_column, relationship

from central.models.base import Base
from central.models.gates import Gate
from central.models.parking import SpaceKind
from edge.site_rules import DayKind, ExpiredPolicy, TimedModeKind

lot_gates = Table(
    "lot_gates", Base.metadata,
    Column("lot_id", ForeignKey("lots.id"), primary_key=True),
    Column("gate_id", ForeignKey("gates.id"), primary_key=True),
)


class ParkingPolicySetting(Base):
    """What a lane does with a monthly card of ``space_kind`` once its paid month has run
    out; a kind without a row follows edge.site_rules.DEFAULT_POLICY."""

    __tablename__ = "parking_policies"
    __table_args__ = (UniqueConstraint("site_id", "space_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    space_kind: Mapped[SpaceKind]
    expired: Mapped[ExpiredPolicy]
    grace_days: Mapped[int]
    remind_days: Mapped[int]


class Lot(Base):
    """A car park: the lanes that count its entries and exits, and its spaces per class."""

    __tablename__ = "lots"
    __table_args__ = (UniqueConstraint("site_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    # The lot's id on the wire and in the lanes' counts, e.g. "main".
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    spaces_fixed: Mapped[int] = mapped_column(default=0)
    spaces_monthly: Mapped[int] = mapped_column(default=0)
    spaces_temporary: Mapped[int] = mapped_column(default=0)

    gates: Mapped[list[Gate]] = relationship(secondary=lot_gates, order_by=Gate.code)


class Holiday(Base):
    """A date of the site's holiday calendar: a holiday (the schedules' ``Hol`` windows) or
    a weekend day worked (调休上班: the Monday–Friday windows); ``note`` says which (国庆节)."""

    __tablename__ = "holidays"
    __table_args__ = (UniqueConstraint("site_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    day: Mapped[date]
    kind: Mapped[DayKind]
    note: Mapped[str] = mapped_column(String(100), default="")


class TimedMode(Base):
    """A mode a gate takes on by itself inside the windows of ``schedule`` (site time)."""

    __tablename__ = "timed_modes"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    gate_id: Mapped[int] = mapped_column(ForeignKey("gates.id"))
    schedule: Mapped[str] = mapped_column(String(200))
    mode: Mapped[TimedModeKind]
    note: Mapped[str] = mapped_column(String(100), default="")

    gate: Mapped[Gate] = relationship()


class SiteRulesVersion(Base):
    """The version of a site's rules: raised by every change (never lowered), so a gate
    keeping only newer versions takes each change once."""

    __tablename__ = "site_rules_versions"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    # Milliseconds of the wall clock (next_version): 64 bits.
    version: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[datetime]


_RULES_MODELS = (ParkingPolicySetting, Lot, Holiday, TimedMode)


def next_version(last: int, now: datetime) -> int:
    """The version after ``last``: the wall clock in milliseconds — so a desk restored from
    a backup still gives versions newer than the gates hold — or ``last + 1`` when the clock
    is behind it (set back, or two changes within a millisecond)."""
    return max(last + 1, int(now.timestamp() * 1000))


# On every session (the desk's write sessions, load-site's, a test's): only the rules' rows
# are looked at.
@event.listens_for(Session, "before_flush")
def _raise_versions(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    sites = {obj.site_id for obj in (*session.new, *session.dirty, *session.deleted)
             if isinstance(obj, _RULES_MODELS)
             and (obj in session.new or obj in session.deleted or session.is_modified(obj))}
    if not sites:
        return
    now = datetime.now(UTC)
    for site_id in sorted(sites):
        row = session.get(SiteRulesVersion, site_id)
        if row is None:
            session.add(SiteRulesVersion(site_id=site_id, version=next_version(0, now),
                                         changed_at=now))
        else:
            row.version, row.changed_at = next_version(row.version, now), now
