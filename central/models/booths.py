"""Guard booths (门岗) and which guards may sign in at each (issue 11).

A booth is a device of its site like a gate: ``code`` is its device id, the topic segment
its signed booth list is published on (sync/wire/topics.py ``booth_list``). It drives some
of the site's gates (``booth_gates``). A guard signs in at a booth only when the booth is
among the account's booths (``staff_booths``): the booth's list carries just those guards.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from central.models.base import Base
from central.models.gates import Gate
from central.models.staff import Staff

booth_gates = Table(
    "booth_gates", Base.metadata,
    Column("booth_id", ForeignKey("booths.id"), primary_key=True),
    Column("gate_id", ForeignKey("gates.id"), primary_key=True),
)

staff_booths = Table(
    "staff_booths", Base.metadata,
    Column("staff_id", ForeignKey("staff.id"), primary_key=True),
    Column("booth_id", ForeignKey("booths.id"), primary_key=True, index=True),
)


class Booth(Base):
    """A guard booth of a site, e.g. ``east-booth`` (东门岗) beside the main gate."""

    __tablename__ = "booths"
    __table_args__ = (UniqueConstraint("site_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    # The booth's device id: stable, it names the booth on the wire.
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))

    gates: Mapped[list[Gate]] = relationship(secondary=booth_gates, order_by=Gate.code)
    guards: Mapped[list[Staff]] = relationship(secondary=staff_booths, order_by=Staff.username)
