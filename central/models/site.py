"""Sites, their settings, buildings and units (with their area, which sets rule I4's quota)."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Connection,
    ForeignKey,
    String,
    UniqueConstraint,
    event,
    inspect,
    select,
    true,
    update,
)
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship

from central.models.base import Base
from central.models.people import HolderKind
from central.search_keys import unit_search_key

if TYPE_CHECKING:
    from central.models.gates import AccessGroup
    from central.models.people import Household

DEFAULT_TIMEZONE = "Asia/Shanghai"


class ReaderUidOrder(enum.StrEnum):
    """How the desk's USB reader turns a 4-byte UID into its 10-digit decimal (central/uids.py):
    least-significant byte first (the UID reversed, the common default) or in card order."""

    LSB_FIRST = "lsb_first"
    MSB_FIRST = "msb_first"


class Site(Base):
    """One residential compound. ``code`` is the short name used on the wire and in topics."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Every "date" of every rule is a calendar date here (domain-rules.md conventions).
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIMEZONE)
    created_at: Mapped[datetime]
    # The last per-site number given to an auth_log entry (AuthLogEntry.site_seq).
    auth_log_head: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    settings: Mapped[SiteSettings] = relationship(back_populates="site", uselist=False)
    buildings: Mapped[list[Building]] = relationship(back_populates="site")


class SiteSettings(Base):
    """The per-site choices the rules leave open, with the seeds' defaults.

    A validity of NULL months means "no expiry" (rule H5: some sites make resident cards
    permanent). Rows are always written with explicit values, so NULL never means "unset".
    """

    __tablename__ = "site_settings"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    # Rules I2, I3, L3: 20 yuan per card.
    card_fee_fen: Mapped[int] = mapped_column(default=2000)
    # Rules H1–H5: validity per holder kind, in months from the day of issue.
    validity_owner_months: Mapped[int | None] = mapped_column(default=24)
    validity_family_months: Mapped[int | None] = mapped_column(default=24)
    validity_tenant_months: Mapped[int | None] = mapped_column(default=12)
    validity_merchant_months: Mapped[int | None] = mapped_column(default=12)
    # The seeds are silent on staff cards; a year keeps forgotten cards from living forever.
    validity_staff_months: Mapped[int | None] = mapped_column(default=12)
    # Rule I4: household quota when any cardholder is not a direct relative.
    quota_area_threshold_m2: Mapped[Decimal] = mapped_column(default=Decimal("130"))
    quota_small_home: Mapped[int] = mapped_column(default=4)
    quota_large_home: Mapped[int] = mapped_column(default=5)
    # Rule I3: a card failing within this many months (not the holder's fault) is replaced free.
    free_replacement_months: Mapped[int] = mapped_column(default=1)
    # Rule H6: renovation filings and their extensions, and the workers' hours.
    renovation_max_months: Mapped[int] = mapped_column(default=3)
    renovation_schedule: Mapped[str] = mapped_column(
        String(200), default="Mon-Sat 08:00-12:00 14:00-18:00")
    # Rule G6: deposits.
    renovation_deposit_owner_fen: Mapped[int] = mapped_column(default=100_000)
    renovation_deposit_contractor_fen: Mapped[int] = mapped_column(default=100_000)
    renovation_deposit_self_fen: Mapped[int] = mapped_column(default=200_000)
    # Rule H7.
    visitor_pass_max_days: Mapped[int] = mapped_column(default=3)
    temp_parking_max_days: Mapped[int] = mapped_column(default=7)
    # Rule G4: long-term goods pass, and the time slips are filed by the next day.
    goods_pass_months: Mapped[int] = mapped_column(default=12)
    goods_slip_filing_time: Mapped[str] = mapped_column(String(5), default="08:30")
    # The desk reader's decimal UIDs (central/uids.py); not a rule, the hardware's choice.
    desk_reader_uid_order: Mapped[ReaderUidOrder] = mapped_column(
        default=ReaderUidOrder.LSB_FIRST, server_default=ReaderUidOrder.LSB_FIRST.value)
    # Approval steps the seeds name (on by default; a site may leave one out):
    # seed 003 4.3 — 经办人签字后,交由管家部负责人审批确认签名: a goods slip is approved
    # before the exit lets the goods out (rule G4);
    goods_slip_approval: Mapped[bool] = mapped_column(default=True, server_default=true())
    # seed 001 3.5 / 6.1.7 — 服務中心經理負責裝修申請的審批: the manager approves a
    # renovation filing before its workers' cards are lent (rule H6);
    renovation_manager_approval: Mapped[bool] = mapped_column(default=True,
                                                              server_default=true())
    # seed 000 4.1.1 — 《車位使用申請表》送業主單位及管理處主任審批: the owner unit signs a
    # monthly card's application as well as the director, before any month is paid (P3).
    parking_owner_unit_approval: Mapped[bool] = mapped_column(default=True,
                                                              server_default=true())

    # Rule P6: the temporary-parking tariff the booths charge (sync/wire/booth_list.py
    # ParkingTariff): free minutes, then each started hour at the day or the night rate
    # (night from ``parking_night_start`` to ``parking_night_end``, site-local), capped per
    # calendar day (0: no cap).
    parking_free_minutes: Mapped[int] = mapped_column(default=15, server_default="15")
    parking_day_per_hour_fen: Mapped[int] = mapped_column(default=500, server_default="500")
    parking_night_per_hour_fen: Mapped[int] = mapped_column(default=200, server_default="200")
    parking_night_start: Mapped[str] = mapped_column(String(5), default="22:00",
                                                     server_default="22:00")
    parking_night_end: Mapped[str] = mapped_column(String(5), default="07:00",
                                                   server_default="07:00")
    parking_daily_cap_fen: Mapped[int] = mapped_column(default=4000, server_default="4000")
    # Rule P6: a booth's cash float over this is paid in to the desk.
    booth_float_limit_fen: Mapped[int] = mapped_column(default=60_000, server_default="60000")

    site: Mapped[Site] = relationship(back_populates="settings")

    def validity_months(self, kind: HolderKind) -> int | None:
        """Months of validity for a card of ``kind`` (None: no expiry, rule H5).

        Renovation workers and visitors are not here: their cards follow the filing or the
        pass (rules H6, H7).
        """
        by_kind = {
            HolderKind.OWNER: self.validity_owner_months,
            HolderKind.FAMILY: self.validity_family_months,
            HolderKind.TENANT: self.validity_tenant_months,
            HolderKind.MERCHANT: self.validity_merchant_months,
            HolderKind.STAFF: self.validity_staff_months,
        }
        if kind not in by_kind:
            raise ValueError(f"{kind} cards follow their filing or pass, not a site validity")
        return by_kind[kind]


class Building(Base):
    """A building (楼栋) of a site."""

    __tablename__ = "buildings"
    __table_args__ = (UniqueConstraint("site_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))

    site: Mapped[Site] = relationship(back_populates="buildings")
    units: Mapped[list[Unit]] = relationship(back_populates="building")
    # The groups a resident card of this building gets when the desk names none.
    default_access_groups: Mapped[list[AccessGroup]] = relationship(
        secondary="building_access_groups")


class UnitKind(enum.StrEnum):
    """What a unit is used for."""

    RESIDENCE = "residence"
    SHOP = "shop"
    OFFICE = "office"


class Unit(Base):
    """A home, shop or office. ``area_m2`` decides rule I4's quota (4 under 130 m², else 5)."""

    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("building_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"), index=True)
    number: Mapped[str] = mapped_column(String(32))
    kind: Mapped[UnitKind] = mapped_column(default=UnitKind.RESIDENCE)
    area_m2: Mapped[Decimal]
    # The search box's key for the unit (central/search_keys.py, ``-1-2-301-``), kept from
    # the building's code and the number whenever the row is written.
    search_key: Mapped[str] = mapped_column(String(80), default="", index=True)

    building: Mapped[Building] = relationship(back_populates="units")
    households: Mapped[list[Household]] = relationship(back_populates="unit")

    @property
    def label(self) -> str:
        """How the desk writes it: building-number, e.g. ``3-1201``."""
        return f"{self.building.code}-{self.number}"


@event.listens_for(Unit, "before_insert")
@event.listens_for(Unit, "before_update")
def _key_unit(_mapper: Mapper[Unit], connection: Connection, unit: Unit) -> None:
    # Every writer of a unit goes through here, so no service has to remember the key. The
    # building may be new in the same flush (only the relationship set) or not loaded.
    building = unit.__dict__.get("building")
    code = building.code if building is not None else connection.scalar(
        select(Building.code).where(Building.id == unit.building_id))
    unit.search_key = unit_search_key(code or "", unit.number)


@event.listens_for(Building, "after_update")
def _rekey_units(_mapper: Mapper[Building], connection: Connection, building: Building) -> None:
    # A building's code is part of its units' keys.
    if not inspect(building).attrs.code.history.has_changes():
        return
    for unit_id, number in connection.execute(
            select(Unit.id, Unit.number).where(Unit.building_id == building.id)).all():
        connection.execute(update(Unit).where(Unit.id == unit_id)
                           .values(search_key=unit_search_key(building.code, number)))
