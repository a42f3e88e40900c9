"""The guards' booth records as the desk keeps them (issue 11): each booth journals its
records as events of its own device, the hub stores them in the site's central store, and
central/services/booth_records.py projects them into these tables (and into the visitor
register and the goods slips) exactly once.

Every projected event leaves one ``booth_records_applied`` row, unique on (site, device,
journal, seq): replaying an event finds its row and changes nothing. The domain rows carry
the event that made them and a unique key of the booth's own (shift id, charge, ticket,
visit), so not even a replay without the ledger could write one twice."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from central.models.base import Base


class BoothRecordOutcome(enum.StrEnum):
    """What projecting one booth record did."""

    APPLIED = "applied"
    CONFLICT = "conflict"  # kept, but the desk already held another record of the same thing
    SKIPPED = "skipped"  # could not be read (unknown kind, malformed data): left in the store


class BoothCursor(Base):
    """How far one journal of a booth device is projected: every booth record up to
    ``last_seq`` is applied (moved in the same transaction as the record it passes)."""

    __tablename__ = "booth_cursors"
    __table_args__ = (UniqueConstraint("site_id", "device", "journal_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    device: Mapped[str] = mapped_column(String(64))
    journal_id: Mapped[str] = mapped_column(String(64))
    last_seq: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime]


class BoothRecordApplied(Base):
    """One booth record projected (or skipped, with why): the ledger that makes a replay
    harmless and shows the desk what could not be read."""

    __tablename__ = "booth_records_applied"
    __table_args__ = (UniqueConstraint("site_id", "device", "journal_id", "seq"),
                      Index("ix_booth_records_applied_device_outcome", "site_id", "device",
                            "outcome"))

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    device: Mapped[str] = mapped_column(String(64))
    journal_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[BoothRecordOutcome]
    note: Mapped[str] = mapped_column(String(300), default="")
    applied_at: Mapped[datetime]


class BoothShift(Base):
    """A guard's shift at a booth (rule P6): its start, the handover report (cash counted,
    the float handed over, invoices, open issues), the float over the limit and what was
    paid in to the desk."""

    __tablename__ = "booth_shifts"
    __table_args__ = (UniqueConstraint("site_id", "booth", "shift_id"),
                      UniqueConstraint("site_id", "booth", "journal_id", "seq"),
                      Index("ix_booth_shifts_booth_started", "site_id", "booth", "started_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    booth: Mapped[str] = mapped_column(String(64))
    shift_id: Mapped[str] = mapped_column(String(64))
    # The booth record that made the row.
    journal_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int]
    guard: Mapped[str] = mapped_column(String(64))
    guard_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    started_at: Mapped[datetime | None]
    opening_float_fen: Mapped[int | None]
    handed_over_at: Mapped[datetime | None]
    to_guard: Mapped[str | None] = mapped_column(String(64))
    next_shift_id: Mapped[str | None] = mapped_column(String(64))
    cash_fen: Mapped[int | None]
    charges: Mapped[int | None]  # how many parking charges the shift took
    float_fen: Mapped[int | None]
    invoices: Mapped[str] = mapped_column(String(200), default="")
    notes: Mapped[str] = mapped_column(String(1000), default="")
    over_limit: Mapped[bool] = mapped_column(default=False)
    over_limit_float_fen: Mapped[int | None]
    limit_fen: Mapped[int | None]
    paid_in_fen: Mapped[int] = mapped_column(default=0)
    paid_in_at: Mapped[datetime | None]


class BoothParkingCharge(Base):
    """A temporary car at a booth (rule P6): its entry, and at the exit the fee, what was
    paid, a waiver's reason or a lost ticket, the receipt and the shift whose float holds it."""

    __tablename__ = "booth_parking_charges"
    __table_args__ = (UniqueConstraint("site_id", "booth", "ticket_id"),
                      UniqueConstraint("site_id", "booth", "charge_id"),
                      UniqueConstraint("site_id", "booth", "journal_id", "seq"),
                      Index("ix_booth_parking_charges_booth_exited", "site_id", "booth",
                            "exited_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    booth: Mapped[str] = mapped_column(String(64))
    journal_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int]
    ticket_id: Mapped[str | None] = mapped_column(String(64))
    charge_id: Mapped[str | None] = mapped_column(String(64))
    plate: Mapped[str] = mapped_column(String(16), default="")
    temp_card: Mapped[str | None] = mapped_column(String(32))
    entry_gate: Mapped[str | None] = mapped_column(String(64))
    entry_guard: Mapped[str | None] = mapped_column(String(64))
    forced_reason: Mapped[str | None] = mapped_column(String(200))
    entered_at: Mapped[datetime | None]
    exited_at: Mapped[datetime | None]
    fee_fen: Mapped[int | None]
    paid_fen: Mapped[int | None]
    waived_reason: Mapped[str | None] = mapped_column(String(200))
    lost_ticket: Mapped[bool] = mapped_column(default=False)
    receipt_no: Mapped[str | None] = mapped_column(String(32))
    shift_id: Mapped[str | None] = mapped_column(String(64))
    guard: Mapped[str | None] = mapped_column(String(64))


class BoothVisit(Base):
    """A visitor registered at a booth: the line it made in the desk's visitor register
    (the register holds the name and ID number; G5), found again by the booth's visit id
    when the visitor leaves."""

    __tablename__ = "booth_visits"
    __table_args__ = (UniqueConstraint("site_id", "booth", "visit_id"),
                      UniqueConstraint("site_id", "booth", "journal_id", "seq"))

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    booth: Mapped[str] = mapped_column(String(64))
    journal_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int]
    visit_id: Mapped[str] = mapped_column(String(64))
    registration_id: Mapped[int] = mapped_column(ForeignKey("visitor_registrations.id"))
    guard: Mapped[str] = mapped_column(String(64))
    host_unit: Mapped[str] = mapped_column(String(32), default="")


class BoothSlipExit(Base):
    """A goods slip a booth let out (rule G4). ``outcome`` CONFLICT: the desk already had
    the slip leaving (by another record): the first stays on the slip, this one is kept
    here to be looked at."""

    __tablename__ = "booth_slip_exits"
    __table_args__ = (UniqueConstraint("site_id", "booth", "journal_id", "seq"),
                      Index("ix_booth_slip_exits_booth_left", "site_id", "booth", "left_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    booth: Mapped[str] = mapped_column(String(64))
    journal_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int]
    number: Mapped[int]
    slip_id: Mapped[int | None] = mapped_column(ForeignKey("goods_release_slips.id"))
    gate: Mapped[str | None] = mapped_column(String(64))
    left_at: Mapped[datetime]
    guard: Mapped[str] = mapped_column(String(64))
    items_match: Mapped[bool | None]
    carrier_matches: Mapped[bool | None]
    outcome: Mapped[BoothRecordOutcome]
    note: Mapped[str] = mapped_column(String(300), default="")
