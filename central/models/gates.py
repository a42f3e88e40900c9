"""Gates, the access groups they accept, and the devices (Raspberry Pis) that run them.

A card opens a gate when one of the card's access groups is one of the gate's (rule G1);
the edge device's config names its groups, and this table mirrors them for the desk.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from central.models.base import AppendOnly, Base


class AccessGroup(Base):
    """A named set of gates, e.g. ``b3`` (building 3's doors) or ``carpark``."""

    __tablename__ = "access_groups"
    __table_args__ = (UniqueConstraint("site_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    # The name travels to the gates in every card record: keep it short and stable.
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(200), default="")

    gates: Mapped[list[Gate]] = relationship(secondary="gate_access_groups",
                                             back_populates="access_groups")


gate_access_groups = Table(
    "gate_access_groups", Base.metadata,
    Column("gate_id", ForeignKey("gates.id"), primary_key=True),
    Column("access_group_id", ForeignKey("access_groups.id"), primary_key=True),
)

building_access_groups = Table(
    "building_access_groups", Base.metadata,
    Column("building_id", ForeignKey("buildings.id"), primary_key=True),
    Column("access_group_id", ForeignKey("access_groups.id"), primary_key=True),
)


class GateRole(enum.StrEnum):
    """The same roles as the edge's device config (firmware_config.schema.Role)."""

    DOOR = "door"
    BARRIER_ENTRY = "barrier_entry"
    BARRIER_EXIT = "barrier_exit"


class Gate(Base):
    """A door or a barrier lane."""

    __tablename__ = "gates"
    __table_args__ = (UniqueConstraint("site_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[GateRole]

    access_groups: Mapped[list[AccessGroup]] = relationship(secondary="gate_access_groups",
                                                            back_populates="gates")


class Device(Base):
    """An edge controller: its MQTT identity, pinned key and last reported status."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("site_id", "device_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    gate_id: Mapped[int | None] = mapped_column(ForeignKey("gates.id"))
    # The MQTT user name and topic segment of the device (sync/wire/topics.py).
    device_id: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)
    # From the retained status message (sync/wire/device_messages.py DeviceStatus).
    applied_seq: Mapped[int | None]
    journal_backlog: Mapped[int | None]
    clock_trusted: Mapped[bool | None]
    online: Mapped[bool | None]
    last_seen_at: Mapped[datetime | None]
    # The highest gate-event sequence stored from this device (events are stored
    # idempotently on (device, seq), architecture principle 4).
    events_stored_seq: Mapped[int] = mapped_column(default=0)


class GateCommandKind(enum.StrEnum):
    """A remote command the desk sends a gate (sync/wire/command.py COMMANDS)."""

    OPEN_ONCE = "open_once"
    HOLD_OPEN = "hold_open"
    LOCKDOWN = "lockdown"
    RELEASE = "release"


class GateCommand(AppendOnly, Base):
    """A remote command sent from the desk: who asked, why, to which gate. The gate journals
    the same command with ``issued_by`` and ``nonce`` (rule G3's "every manual open is
    logged with the guard and the reason"); this row keeps the reason, which the signed
    command does not carry."""

    __tablename__ = "gate_commands"
    __table_args__ = (Index("ix_gate_commands_site_issued", "site_id", "issued_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    device: Mapped[str] = mapped_column(String(64))
    command: Mapped[GateCommandKind]
    reason: Mapped[str] = mapped_column(String(200))
    # A hold-open or lockdown that ends by itself then; None: until released.
    until: Mapped[datetime | None]
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    issued_by: Mapped[str] = mapped_column(String(100))
    nonce: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime]
