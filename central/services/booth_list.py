"""A booth's list from the desk's records (issue 11; the contract is sync/wire/booth_list.py):
what the guard's booth needs to work with the network down.

- the guards allowed at the booth (active accounts, role guard, the booth among their
  booths), with the desk account's argon2id hash, so one password works at both;
- goods release slips still of interest (G4): valid today or later, valid in the last
  ``RECENT_DAYS`` (so the booth refuses them as expired, not unknown), or out of the
  compound in the last ``RECENT_DAYS`` (so a second use is refused as used, through any
  exit);
- long-term goods passes valid today, a revoked one marked revoked (so the booth says why);
- visitor passes (H7) valid today or later, with the temporary parking permit's plate;
- the site's temporary-parking tariff and float limit (P6) in fen, and its time zone;
- the booth's gates (``booth_gates``) with their names, so the guard reads 小区大门
  rather than ``main-gate``.

Read-only, in one read session. The publisher (sync/hub/booth_lists.py) numbers and signs
the list; here ``version`` is 1 and ``issued_at`` 0. A list that would not fit one message
(sync/wire/payload.MAX_MESSAGE_BYTES, signed) loses its oldest slips first, logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from central.clock import local_date, utc_now
from central.models import (
    Booth,
    GoodsPass,
    GoodsReleaseSlip,
    Household,
    Person,
    Role,
    Site,
    Staff,
    StaffSiteRole,
    TemporaryParkingPermit,
    VisitorPass,
)
from central.models.booths import staff_booths
from central.services.context import Desk
from central.services.privacy import mask_name
from sync.wire.booth_list import (
    BoothGate,
    BoothGoodsPass,
    BoothGuard,
    BoothList,
    BoothSlip,
    BoothVisitorPass,
    ParkingTariff,
)
from sync.wire.payload import MAX_MESSAGE_BYTES
from sync.wire.signing import sign

log = logging.getLogger("menwei.desk.booth_list")

# How long a used or expired slip stays on the list: long enough for a booth that was
# offline over a weekend to learn that the goods left through another exit.
RECENT_DAYS = 2
# Room for what the publisher fills in (a version of 13 digits, issued_at with its
# fraction) over the placeholders measured here.
_NUMBERING_ROOM = 64
# Only the signature's length matters when measuring: Ed25519's is fixed.
_MEASURING_KEY = Ed25519PrivateKey.generate()


def signed_size(booth_list: BoothList) -> int:
    """The bytes the list takes on the wire, signed (sync/wire/signing.py escapes the
    payload text into its envelope, so the signed message is larger than the payload)."""
    return len(sign(_MEASURING_KEY, booth_list.dump()))


def booth_lists(desk: Desk, site_code: str) -> list[BoothList]:
    """The list of every booth of the site, by booth code (none for an unknown site)."""
    with desk.sessions() as session:
        site = session.scalars(select(Site).where(Site.code == site_code)).one_or_none()
        if site is None:
            return []
        booths = session.scalars(select(Booth).where(Booth.site_id == site.id)
                                 .order_by(Booth.code)).all()
        shared = _SiteRecords.read(session, site, utc_now(desk.clock))
        return [_fit(shared.for_booth(session, booth)) for booth in booths]


def booth_list(desk: Desk, site_code: str, booth_code: str) -> BoothList | None:
    """One booth's list; None when the site has no such booth."""
    return next((b for b in booth_lists(desk, site_code) if b.booth == booth_code), None)


@dataclass(frozen=True)
class _SiteRecords:
    """What every booth of a site gets alike, read once."""

    site: Site
    tariff: ParkingTariff
    float_limit_fen: int
    slips: tuple[BoothSlip, ...]
    goods_passes: tuple[BoothGoodsPass, ...]
    visitor_passes: tuple[BoothVisitorPass, ...]

    @classmethod
    def read(cls, session: Session, site: Site, now: datetime) -> _SiteRecords:
        settings = site.settings
        today = local_date(now, site.timezone)
        tariff = ParkingTariff(settings.parking_free_minutes, settings.parking_day_per_hour_fen,
                               settings.parking_night_per_hour_fen,
                               settings.parking_night_start, settings.parking_night_end,
                               settings.parking_daily_cap_fen)
        return cls(site, tariff, settings.booth_float_limit_fen,
                   _slips(session, site, now, today), _goods_passes(session, site, today),
                   _visitor_passes(session, site, today))

    def for_booth(self, session: Session, booth: Booth) -> BoothList:
        return BoothList(self.site.code, booth.code, 1, 0.0, self.site.timezone,
                         self.float_limit_fen, self.tariff, _guards(session, booth),
                         self.slips, self.goods_passes, self.visitor_passes,
                         _gates(booth))


def _gates(booth: Booth) -> tuple[BoothGate, ...]:
    # Booth.gates is ordered by code, so the same gates give the same list (and version).
    return tuple(BoothGate(g.code, g.name) for g in booth.gates)


def _guards(session: Session, booth: Booth) -> tuple[BoothGuard, ...]:
    # A guard at the booth's site: by a role given there, else by the account's own role at
    # a site it serves (an account lent elsewhere keeps no booths where it is not a guard).
    # (central/models/staff.py role_at_site, in SQL.)
    given = StaffSiteRole.role
    own_site = or_(Staff.site_id.is_(None), Staff.site_id == booth.site_id)
    rows = session.scalars(
        select(Staff).join(staff_booths, staff_booths.c.staff_id == Staff.id)
        .outerjoin(StaffSiteRole, and_(StaffSiteRole.staff_id == Staff.id,
                                       StaffSiteRole.site_id == booth.site_id))
        .where(staff_booths.c.booth_id == booth.id, Staff.active.is_(True),
               or_(given == Role.GUARD,
                   and_(given.is_(None), own_site, Staff.role == Role.GUARD)))
        .order_by(Staff.username))
    return tuple(BoothGuard(s.username.lower(), s.display_name, s.password_hash) for s in rows)


def _unit_labels(session: Session, household_ids: set[int]) -> dict[int, str]:
    if not household_ids:
        return {}
    return {h.id: h.unit.label for h in session.scalars(
        select(Household).where(Household.id.in_(household_ids)))}


def _slips(session: Session, site: Site, now: datetime, today: date) -> tuple[BoothSlip, ...]:
    recent = now - timedelta(days=RECENT_DAYS)
    rows = session.scalars(select(GoodsReleaseSlip).where(
        GoodsReleaseSlip.site_id == site.id,
        or_(GoodsReleaseSlip.valid_on >= today - timedelta(days=RECENT_DAYS),
            GoodsReleaseSlip.left_at >= recent))
        .order_by(GoodsReleaseSlip.valid_on, GoodsReleaseSlip.number)).all()
    units = _unit_labels(session, {r.household_id for r in rows})
    needs_approval = site.settings.goods_slip_approval
    # The desk has no revoked slip yet: "revoked" is the contract's for when it does.
    return tuple(BoothSlip(r.number, units.get(r.household_id, ""), r.carrier_name, r.items,
                           r.valid_on, r.approved_at is not None or not needs_approval,
                           "used" if r.left_at is not None else "open")
                 for r in rows)


def _goods_passes(session: Session, site: Site, today: date) -> tuple[BoothGoodsPass, ...]:
    rows = session.execute(
        select(GoodsPass, Person).join(Person, Person.id == GoodsPass.person_id)
        .where(GoodsPass.site_id == site.id, GoodsPass.valid_from <= today,
               GoodsPass.valid_until >= today)
        .order_by(GoodsPass.id)).all()
    units = _unit_labels(session, {p.household_id for _g, p in rows
                                   if p.household_id is not None})
    return tuple(BoothGoodsPass(
        g.id, mask_name(p.name),
        units.get(p.household_id, "") if p.household_id is not None else p.organisation,
        g.valid_from, g.valid_until, g.revoked_at is not None) for g, p in rows)


def _visitor_passes(session: Session, site: Site,
                    today: date) -> tuple[BoothVisitorPass, ...]:
    rows = session.scalars(select(VisitorPass).where(
        VisitorPass.site_id == site.id, VisitorPass.valid_until >= today)
        .order_by(VisitorPass.id)).all()
    if not rows:
        return ()
    people = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(
        {r.visitor_person_id for r in rows}
        | {r.invited_by_person_id for r in rows if r.invited_by_person_id is not None})))}
    units = _unit_labels(session, {p.household_id for p in people.values()
                                   if p.household_id is not None})
    plates = {permit.visitor_pass_id: permit.plate for permit in session.scalars(
        select(TemporaryParkingPermit).where(
            TemporaryParkingPermit.visitor_pass_id.in_({r.id for r in rows}),
            TemporaryParkingPermit.returned_at.is_(None))
        .order_by(TemporaryParkingPermit.id))}
    out = []
    for r in rows:
        visitor = people.get(r.visitor_person_id)
        inviter = people.get(r.invited_by_person_id) \
            if r.invited_by_person_id is not None else None
        host_unit = units.get(inviter.household_id, "") \
            if inviter is not None and inviter.household_id is not None else ""
        out.append(BoothVisitorPass(r.id, visitor.name if visitor is not None else "",
                                    host_unit, r.valid_from, r.valid_until,
                                    r.confirmed_at is not None, plates.get(r.id)))
    return tuple(out)


def _fit(booth_list: BoothList) -> BoothList:
    """The list cut to one message: the oldest slips go first (they are the least likely to
    come to the exit), a few at a time in proportion to the excess."""
    budget = MAX_MESSAGE_BYTES - _NUMBERING_ROOM
    size = signed_size(booth_list)
    dropped = 0
    while size > budget and booth_list.slips:
        slips = booth_list.slips
        each = max(1, (signed_size(booth_list) - signed_size(replace(booth_list, slips=())))
                   // len(slips))
        cut = min(len(slips), max(1, -(-(size - budget) // each)))
        booth_list = replace(booth_list, slips=slips[cut:])
        dropped += cut
        size = signed_size(booth_list)
    if dropped:
        log.warning("booth %s/%s: the list would not fit one message; the %d oldest goods "
                    "slips were left out", booth_list.site, booth_list.booth, dropped)
    if size > budget:
        log.error("booth %s/%s: the list is %d bytes without any slip, over %d; the booth "
                  "cannot be sent it", booth_list.site, booth_list.booth, size, budget)
    return booth_list
