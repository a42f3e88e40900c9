"""The guards' booth records at the desk (issue 11, rules G3 G4 G5 P6).

A booth journals each record as an event of its own device (docs/booth.md "Booth records");
its sync agent ships them like a gate's events and the hub stores them in the site's central
store, exactly once on (device, journal, seq). Here they are *projected* into the desk's
database: a visitor into the visitor register, a goods slip let out onto the slip, shifts
and temporary parking charges into their own tables (central/models/booth_records.py).

Exactly once, in order, without gaps: per journal of a booth a cursor says how far it is
projected; records are read after it, never past what the store holds without a hole
(``events_upto``), and each is applied in one desk transaction together with the cursor
move and a ledger row unique on (device, journal, seq), so a replay changes nothing. A
record that cannot be read (an unknown kind, malformed data) is logged, left in the store,
noted as skipped and passed: it never stops the ones after it.

Which devices are booths: those whose journals hold booth kinds (not the site file). Gate
controls, alarm acknowledgements and sign-ins stay in the event store; the booths page reads
them there."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from time import monotonic
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.clock import epoch_instant, utc_now, zone
from central.models import (
    Booth,
    BoothCursor,
    BoothParkingCharge,
    BoothRecordApplied,
    BoothRecordOutcome,
    BoothShift,
    BoothSlipExit,
    BoothVisit,
    Gate,
    GoodsReleaseSlip,
    Role,
    Site,
    Staff,
    VisitorPass,
    VisitorRegistration,
)
from central.services.context import Actor, Desk, reading
from central.services.gate_status import GATE_WATCH_ROLES
from central.services.privacy import id_number_for

log = logging.getLogger("menwei.desk.booth_records")

# The records a booth journals (docs/booth.md), by what the desk does with them.
PROJECTED_KINDS = frozenset({
    "visitor_in", "visitor_out", "goods_slip_out", "shift_start", "shift_handover",
    "float_over_limit", "float_paid_in", "parking_entry", "parking_charge"})
# Read where they are stored (the booths page), nothing to project.
CONTROL_KINDS = frozenset({"gate_control", "alarm_ack"})
STORED_ONLY_KINDS = CONTROL_KINDS | frozenset({
    "booth_sign_in", "booth_sign_in_refused", "booth_sign_out", "goods_slip_refused",
    "goods_pass_used"})
BOOTH_KINDS = PROJECTED_KINDS | STORED_ONLY_KINDS
# What any device's journal says of itself (edge/journal.py, sync/agent/journal.py): not a
# booth record, not unknown either.
_JOURNAL_KINDS = frozenset({"boot", "shutdown", "journal_overflow", "journal_unavailable",
                            "clock_trust", "storage_fault", "storage_recovered",
                            "storage_damaged", "security", "security_suppressed"})
# Who reads the booths' records: those who watch the gates (the director among them).
BOOTH_READERS = GATE_WATCH_ROLES
BATCH = 200
INTERVAL_S = 2.0
# How often the journals of devices that are not the site's booths (its gates) are looked
# through for booth records: a booth the desk does not list still has its records projected,
# later. Looking through a company's two thousand gates' journals at every pass cost a desk
# worker more than storing their events.
OTHERS_INTERVAL_S = 30.0


@runtime_checkable
class BoothEventSource(Protocol):
    """A site's central store, as the projection reads it (sync.hub.store.CentralStore)."""

    site: str

    def journals(self) -> list[dict[str, Any]]:
        """Every stored journal: device, journal_id, events_upto, max_seq, gaps."""
        ...

    def journal_events(self, device: str, journal_id: str, after_seq: int, upto_seq: int, *,
                       kinds: Collection[str] | None = None,
                       limit: int = 500) -> list[dict[str, Any]]:
        """One journal's events after ``after_seq`` up to ``upto_seq`` (of ``kinds``)."""
        ...

    def events_for(self, device: str | None = None, *, uid: str | None = None,
                   since: float | None = None, until: float | None = None,
                   granted: bool | None = None, kinds: Collection[str] | None = None,
                   newest_first: bool = False, limit: int = 1000) -> list[dict[str, Any]]:
        """Stored events matching every given filter."""
        ...


class MalformedRecordError(ValueError):
    """A booth record whose data the desk cannot read; the message says what is wrong."""


class _Data:
    """A record's data, read field by field: each reader names the field it refuses."""

    def __init__(self, data: object) -> None:
        if not isinstance(data, Mapping):
            raise MalformedRecordError("data is not an object")
        self.data = data

    def text(self, key: str, max_len: int, *, required: bool = True) -> str | None:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise MalformedRecordError(f"{key}: missing")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise MalformedRecordError(f"{key}: not text")
        text = str(value).strip()
        if len(text) > max_len:
            raise MalformedRecordError(f"{key}: longer than {max_len}")
        return text

    def must_text(self, key: str, max_len: int) -> str:
        value = self.text(key, max_len)
        assert value is not None  # required
        return value

    def whole(self, key: str, *, required: bool = True) -> int | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise MalformedRecordError(f"{key}: missing")
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise MalformedRecordError(f"{key}: not a whole number >= 0")
        return value

    def must_whole(self, key: str) -> int:
        value = self.whole(key)
        assert value is not None  # required
        return value

    def instant(self, key: str, *, required: bool = True) -> datetime | None:
        value = self.data.get(key)
        if value is None and not required:
            return None
        at = epoch_instant(value)
        if at is None:
            raise MalformedRecordError(f"{key}: not a time (seconds since the epoch)")
        return at

    def must_instant(self, key: str) -> datetime:
        value = self.instant(key)
        assert value is not None  # required
        return value

    def flag(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise MalformedRecordError(f"{key}: not true or false")
        return value

    def listing(self, key: str, max_len: int) -> str:
        """Free text, or a list of lines the booth kept as a list (items, invoices)."""
        value = self.data.get(key)
        if isinstance(value, list):
            value = "、".join(str(v) for v in value)
        if isinstance(value, bool) or value is None:
            return ""
        return str(value).strip()[:max_len]


@dataclass
class _Record:
    """One booth record being applied, inside its transaction."""

    session: Session
    site: Site
    device: str
    journal_id: str
    seq: int
    kind: str
    data: _Data
    wall: datetime | None

    def staff(self, username: str | None) -> Staff | None:
        if not username:
            return None
        return self.session.scalars(select(Staff).where(Staff.username == username)
                                    ).one_or_none()

    def gate(self, code: str | None) -> Gate | None:
        if not code:
            return None
        return self.session.scalars(select(Gate).where(
            Gate.site_id == self.site.id, Gate.code == code)).one_or_none()

    def shift(self, shift_id: str, guard: str) -> BoothShift:
        row = self.session.scalars(select(BoothShift).where(
            BoothShift.site_id == self.site.id, BoothShift.booth == self.device,
            BoothShift.shift_id == shift_id)).one_or_none()
        if row is None:
            staff = self.staff(guard)
            row = BoothShift(site_id=self.site.id, booth=self.device, shift_id=shift_id,
                             journal_id=self.journal_id, seq=self.seq, guard=guard,
                             guard_staff_id=staff.id if staff else None, invoices="", notes="",
                             over_limit=False, paid_in_fen=0)
            self.session.add(row)
        return row


Outcome = tuple[BoothRecordOutcome, str]
APPLIED: Outcome = (BoothRecordOutcome.APPLIED, "")


def _visitor_in(r: _Record) -> Outcome:
    d = r.data
    visit_id, guard = d.must_text("visit_id", 64), d.must_text("guard", 64)
    name = d.must_text("name", 100)
    id_number = d.text("id_number", 32, required=False) or ""
    plate = d.text("plate", 16, required=False)
    time_in = d.instant("time_in", required=False) or r.wall
    if time_in is None:
        raise MalformedRecordError("time_in: missing")
    pass_id = d.whole("visitor_pass_id", required=False)
    staff = r.staff(guard)
    if staff is None:
        # The register names the guard who wrote the line; without one the desk cannot
        # keep it. The record stays in the event store (the booths page shows the skip).
        return BoothRecordOutcome.SKIPPED, f"guard {guard!r} has no desk account"
    note = ""
    if pass_id is not None:
        visitor_pass = r.session.get(VisitorPass, pass_id)
        if visitor_pass is None or visitor_pass.site_id != r.site.id:
            pass_id, note = None, "visitor pass not known at the desk"
    if r.session.scalars(select(BoothVisit.id).where(
            BoothVisit.site_id == r.site.id, BoothVisit.booth == r.device,
            BoothVisit.visit_id == visit_id)).first() is not None:
        return BoothRecordOutcome.CONFLICT, f"visit {visit_id} already registered"
    row = VisitorRegistration(site_id=r.site.id, gate_id=None, guard_staff_id=staff.id,
                              name=name, id_number=id_number, plate=plate,
                              items=d.listing("items", 500), time_in=time_in,
                              visitor_pass_id=pass_id)
    r.session.add(row)
    r.session.flush()
    r.session.add(BoothVisit(site_id=r.site.id, booth=r.device, journal_id=r.journal_id,
                             seq=r.seq, visit_id=visit_id, registration_id=row.id, guard=guard,
                             host_unit=d.text("host_unit", 32, required=False) or ""))
    return BoothRecordOutcome.APPLIED, note


def _visitor_out(r: _Record) -> Outcome:
    visit_id = r.data.must_text("visit_id", 64)
    time_out = r.data.instant("time_out", required=False) or r.wall
    visit = r.session.scalars(select(BoothVisit).where(
        BoothVisit.site_id == r.site.id, BoothVisit.booth == r.device,
        BoothVisit.visit_id == visit_id)).one_or_none()
    if visit is None:
        return BoothRecordOutcome.SKIPPED, f"visit {visit_id} was never registered here"
    row = r.session.get(VisitorRegistration, visit.registration_id)
    assert row is not None  # the foreign key
    if row.time_out is not None:
        return BoothRecordOutcome.CONFLICT, "the visitor's exit was already recorded"
    row.time_out = time_out
    return APPLIED


def _goods_slip_out(r: _Record) -> Outcome:
    d = r.data
    number = d.must_whole("number")
    left_at, guard = d.must_instant("left_at"), d.must_text("guard", 64)
    gate_code = d.text("gate", 64, required=False)
    slip = r.session.scalars(select(GoodsReleaseSlip).where(
        GoodsReleaseSlip.site_id == r.site.id, GoodsReleaseSlip.number == number)
    ).one_or_none()
    outcome, note = APPLIED
    if slip is None:
        outcome, note = BoothRecordOutcome.CONFLICT, f"no goods slip {number} at the desk"
    elif slip.left_at is not None:
        # Let out twice (two booths offline, or the desk page and a booth): the first
        # stays on the slip; this one is kept beside it to be looked at.
        outcome = BoothRecordOutcome.CONFLICT
        note = f"slip {number} already left at {slip.left_at.isoformat()}"
    else:
        gate, staff = r.gate(gate_code), r.staff(guard)
        slip.left_at, slip.guard_signed = left_at, True
        slip.exit_gate_id = gate.id if gate is not None else None
        slip.guard_staff_id = staff.id if staff is not None else None
    r.session.add(BoothSlipExit(
        site_id=r.site.id, booth=r.device, journal_id=r.journal_id, seq=r.seq, number=number,
        slip_id=slip.id if slip is not None else None, gate=gate_code, left_at=left_at,
        guard=guard, items_match=d.flag("items_match"),
        carrier_matches=d.flag("carrier_matches"), outcome=outcome, note=note))
    return outcome, note


def _shift_start(r: _Record) -> Outcome:
    d = r.data
    row = r.shift(d.must_text("shift_id", 64), d.must_text("guard", 64))
    row.started_at = d.instant("at", required=False) or r.wall
    row.opening_float_fen = d.must_whole("opening_float_fen")
    return APPLIED


def _shift_handover(r: _Record) -> Outcome:
    d = r.data
    row = r.shift(d.must_text("shift_id", 64), d.must_text("guard", 64))
    if row.handed_over_at is not None:
        return BoothRecordOutcome.CONFLICT, "the shift was already handed over"
    row.handed_over_at = d.instant("at", required=False) or r.wall
    row.to_guard = d.text("to_guard", 64, required=False)
    row.next_shift_id = d.text("next_shift_id", 64, required=False)
    opening = d.whole("opening_float_fen", required=False)
    if opening is not None:
        row.opening_float_fen = opening
    row.cash_fen = d.whole("cash_fen", required=False)
    row.charges = d.whole("charges", required=False)
    row.float_fen = d.whole("float_fen", required=False)
    row.invoices = d.listing("invoices", 200)
    row.notes = d.listing("notes", 1000)
    return APPLIED


def _float_over_limit(r: _Record) -> Outcome:
    d = r.data
    row = r.shift(d.must_text("shift_id", 64), d.must_text("guard", 64))
    row.over_limit = True
    row.over_limit_float_fen = d.whole("float_fen", required=False)
    row.limit_fen = d.whole("limit_fen", required=False)
    return APPLIED


def _float_paid_in(r: _Record) -> Outcome:
    d = r.data
    row = r.shift(d.must_text("shift_id", 64), d.must_text("guard", 64))
    row.paid_in_fen += d.must_whole("amount_fen")
    row.paid_in_at = d.instant("at", required=False) or r.wall
    return APPLIED


def _charge_by(r: _Record, column: Any, value: str | None) -> BoothParkingCharge | None:
    if value is None:
        return None
    return r.session.scalars(select(BoothParkingCharge).where(
        BoothParkingCharge.site_id == r.site.id, BoothParkingCharge.booth == r.device,
        column == value)).one_or_none()


def _parking_entry(r: _Record) -> Outcome:
    d = r.data
    ticket_id = d.must_text("ticket_id", 64)
    if _charge_by(r, BoothParkingCharge.ticket_id, ticket_id) is not None:
        return BoothRecordOutcome.CONFLICT, f"ticket {ticket_id} already entered"
    r.session.add(BoothParkingCharge(
        site_id=r.site.id, booth=r.device, journal_id=r.journal_id, seq=r.seq,
        ticket_id=ticket_id, plate=d.text("plate", 16, required=False) or "",
        temp_card=d.text("temp_card", 32, required=False),
        entry_gate=d.text("gate", 64, required=False),
        entry_guard=d.text("guard", 64, required=False),
        forced_reason=d.text("forced_reason", 200, required=False),
        entered_at=d.instant("entered_at", required=False) or r.wall, lost_ticket=False))
    return APPLIED


def _parking_charge(r: _Record) -> Outcome:
    d = r.data
    charge_id = d.must_text("charge_id", 64)
    if _charge_by(r, BoothParkingCharge.charge_id, charge_id) is not None:
        return BoothRecordOutcome.CONFLICT, f"charge {charge_id} already recorded"
    ticket_id = d.text("ticket_id", 64, required=False)
    row = _charge_by(r, BoothParkingCharge.ticket_id, ticket_id)
    if row is not None and row.charge_id is not None:
        return BoothRecordOutcome.CONFLICT, f"ticket {ticket_id} was already charged"
    if row is None:
        row = BoothParkingCharge(site_id=r.site.id, booth=r.device, journal_id=r.journal_id,
                                 seq=r.seq, ticket_id=ticket_id, lost_ticket=False)
        r.session.add(row)
    row.charge_id = charge_id
    row.plate = d.text("plate", 16, required=False) or row.plate or ""
    row.entered_at = d.instant("entered_at", required=False) or row.entered_at
    row.exited_at = d.instant("exited_at", required=False) or r.wall
    row.fee_fen, row.paid_fen = d.must_whole("fee_fen"), d.must_whole("paid_fen")
    row.waived_reason = d.text("waived_reason", 200, required=False)
    row.lost_ticket = bool(d.flag("lost_ticket"))
    row.receipt_no = d.text("receipt_no", 32, required=False)
    row.shift_id = d.text("shift_id", 64, required=False)
    row.guard = d.text("guard", 64, required=False)
    return APPLIED


_APPLY = {"visitor_in": _visitor_in, "visitor_out": _visitor_out,
          "goods_slip_out": _goods_slip_out, "shift_start": _shift_start,
          "shift_handover": _shift_handover, "float_over_limit": _float_over_limit,
          "float_paid_in": _float_paid_in, "parking_entry": _parking_entry,
          "parking_charge": _parking_charge}
assert set(_APPLY) == PROJECTED_KINDS


@dataclass(frozen=True)
class _Journal:
    """One journal of a booth at one site."""

    site_id: int
    device: str
    journal_id: str


@dataclass
class ProjectionCounts:
    """What one pass of the projection did."""

    applied: int = 0
    conflicts: int = 0
    skipped: int = 0

    def add(self, outcome: BoothRecordOutcome) -> None:
        """Count one projected record."""
        if outcome is BoothRecordOutcome.APPLIED:
            self.applied += 1
        elif outcome is BoothRecordOutcome.CONFLICT:
            self.conflicts += 1
        else:
            self.skipped += 1


@dataclass(frozen=True)
class _DeskSide:
    """What the desk holds of one site for the projection: its id, how far each booth
    journal is projected, and its listed booths."""

    site_id: int
    cursors: dict[tuple[str, str], int]
    listed: set[str]


@dataclass
class BoothRecordProjection:
    """Projects the booths' records of each site's central store into the desk's database;
    ``run_once`` on demand, or every ``interval_s`` in a thread (``start``/``stop``)."""

    desk: Desk
    sources: Sequence[BoothEventSource]
    interval_s: float = INTERVAL_S
    others_interval_s: float = OTHERS_INTERVAL_S
    clock: Callable[[], float] = monotonic
    # Whether this process projects a site now: of a company's desk workers, the one
    # publishing the site (each going through every site's records did the work twice).
    projects: Callable[[str], bool] = lambda _site: True
    # How far a journal with no booth record has been looked through (not kept: after a
    # restart it is looked through again, once, by its primary key).
    _scanned: dict[tuple[str, str, str], int] = field(default_factory=dict)
    # When each site's other devices were last looked through.
    _others_at: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def run_once(self) -> ProjectionCounts:
        """Project what is new in every source."""
        counts = ProjectionCounts()
        sources = [source for source in self.sources if self.projects(source.site)]
        if not sources:
            return counts
        for source, site in zip(sources, self._desk_sides(sources), strict=True):
            if site is None:
                log.error("booth records: the desk has no site %r", source.site)
            else:
                self._project_site(source, site, counts)
        return counts

    def _desk_sides(self, sources: Sequence[BoothEventSource]) -> list[_DeskSide | None]:
        """What the desk holds of each source's site (None: no such site), read for all of
        them at once: a company's worker projects dozens of sites every few seconds."""
        codes = [source.site for source in sources]
        with self.desk.sessions() as session:
            ids = {code: site_id for site_id, code in session.execute(
                select(Site.id, Site.code).where(Site.code.in_(codes)))}
            cursors: dict[int, dict[tuple[str, str], int]] = {i: {} for i in ids.values()}
            for c in session.scalars(select(BoothCursor).where(
                    BoothCursor.site_id.in_(ids.values()))):
                cursors[c.site_id][c.device, c.journal_id] = c.last_seq
            listed: dict[int, set[str]] = {i: set() for i in ids.values()}
            for site_id, code in session.execute(select(Booth.site_id, Booth.code).where(
                    Booth.site_id.in_(ids.values()))):
                listed[site_id].add(code)
        return [None if (i := ids.get(code)) is None else _DeskSide(i, cursors[i], listed[i])
                for code in codes]

    def _project_site(self, source: BoothEventSource, site: _DeskSide,
                      counts: ProjectionCounts) -> None:
        site_id, cursors, listed = site.site_id, site.cursors, site.listed
        booths = {device for device, _journal in cursors} | listed
        now = self.clock()
        others = now - self._others_at.get(source.site, float("-inf")) >= self.others_interval_s
        if others:
            self._others_at[source.site] = now
        for journal in source.journals():
            device, journal_id = str(journal["device"]), str(journal["journal_id"])
            upto = int(journal["events_upto"])
            if device not in booths:
                if not others:
                    continue
                key = (source.site, device, journal_id)
                after = self._scanned.get(key, 0)
                if after >= upto:
                    continue
                if not source.journal_events(device, journal_id, after, upto,
                                             kinds=BOOTH_KINDS, limit=1):
                    self._scanned[key] = upto
                    continue
                booths.add(device)
            self._project_journal(source, _Journal(site_id, device, journal_id),
                                  cursors.get((device, journal_id), 0), upto, counts)

    def _project_journal(self, source: BoothEventSource, j: _Journal, after: int, upto: int,
                         counts: ProjectionCounts) -> None:
        while after < upto:
            # Every kind: a kind the desk does not know is counted, not passed over unseen.
            events = source.journal_events(j.device, j.journal_id, after, upto, limit=BATCH)
            for event in events:
                outcome = self._apply(j, event)
                if outcome is not None:
                    counts.add(outcome)
                after = int(event["seq"])
            if len(events) < BATCH:
                break
        if after < upto:
            # The journal's last events were none of the booth's records: the cursor passes
            # them too, so they are not read again.
            self._move_cursor(j, upto)

    def _apply(self, j: _Journal, event: Mapping[str, Any]) -> BoothRecordOutcome | None:
        seq, kind = int(event["seq"]), str(event["kind"])
        try:
            with self.desk.write_sessions() as session, session.begin():
                cursor = _cursor(session, self.desk, j)
                if cursor.last_seq >= seq:
                    return None  # another pass got here first
                outcome = self._record(session, j, event)
                cursor.last_seq, cursor.updated_at = seq, utc_now(self.desk.clock)
                return outcome
        except Exception as exc:  # a record must never stop the ones after it
            log.exception("booth record %s/%s/%d (%s) could not be applied", j.device,
                          j.journal_id, seq, kind)
            with self.desk.write_sessions() as session, session.begin():
                cursor = _cursor(session, self.desk, j)
                if cursor.last_seq >= seq:
                    return None
                _ledger(session, self.desk, j, seq, kind, BoothRecordOutcome.SKIPPED,
                        f"failed: {type(exc).__name__}")
                cursor.last_seq, cursor.updated_at = seq, utc_now(self.desk.clock)
            return BoothRecordOutcome.SKIPPED

    def _record(self, session: Session, j: _Journal,
                event: Mapping[str, Any]) -> BoothRecordOutcome | None:
        seq, kind = int(event["seq"]), str(event["kind"])
        if kind in STORED_ONLY_KINDS or kind in _JOURNAL_KINDS:
            return None
        if session.scalars(select(BoothRecordApplied.id).where(
                BoothRecordApplied.site_id == j.site_id, BoothRecordApplied.device == j.device,
                BoothRecordApplied.journal_id == j.journal_id,
                BoothRecordApplied.seq == seq)).first() is not None:
            return None  # applied before (a cursor lost with a restored backup)
        apply = _APPLY.get(kind)
        if apply is None:
            log.warning("booth record %s/%s/%d: unknown kind %r skipped", j.device,
                        j.journal_id, seq, kind)
            outcome, note = BoothRecordOutcome.SKIPPED, "unknown kind"
        else:
            site = session.get(Site, j.site_id)
            assert site is not None
            try:
                record = _Record(session, site, j.device, j.journal_id, seq, kind,
                                 _Data(event.get("data")), epoch_instant(event.get("wall")))
                with session.begin_nested():
                    outcome, note = apply(record)
            except MalformedRecordError as exc:
                # The message names the field, never its value (an ID number stays out of
                # the log).
                log.warning("booth record %s/%s/%d (%s) skipped: %s", j.device, j.journal_id,
                            seq, kind, exc)
                outcome, note = BoothRecordOutcome.SKIPPED, f"malformed: {exc}"
        _ledger(session, self.desk, j, seq, kind, outcome, note)
        return outcome

    def _move_cursor(self, j: _Journal, seq: int) -> None:
        with self.desk.write_sessions() as session, session.begin():
            cursor = _cursor(session, self.desk, j)
            if cursor.last_seq < seq:
                cursor.last_seq, cursor.updated_at = seq, utc_now(self.desk.clock)

    def start(self) -> None:
        """Project in a background thread every ``interval_s`` until ``stop``."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="booth-records", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a dead projection would silently hide every booth record
                log.exception("projecting the booth records failed; retrying")
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        """Stop projecting (what is not yet projected is at the next start)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None


def _cursor(session: Session, desk: Desk, j: _Journal) -> BoothCursor:
    cursor = session.scalars(select(BoothCursor).where(
        BoothCursor.site_id == j.site_id, BoothCursor.device == j.device,
        BoothCursor.journal_id == j.journal_id)).one_or_none()
    if cursor is None:
        cursor = BoothCursor(site_id=j.site_id, device=j.device, journal_id=j.journal_id,
                             last_seq=0, updated_at=utc_now(desk.clock))
        session.add(cursor)
    return cursor


def _ledger(session: Session, desk: Desk, j: _Journal, seq: int, kind: str,  # noqa: PLR0917
            outcome: BoothRecordOutcome, note: str) -> None:
    session.add(BoothRecordApplied(site_id=j.site_id, device=j.device, journal_id=j.journal_id,
                                   seq=seq, kind=kind, outcome=outcome, note=note[:300],
                                   applied_at=utc_now(desk.clock)))


# ---------------------------------------------------------------- what the desk reads


@dataclass(frozen=True)
class ShiftView:
    """A shift at a booth: its start and, once handed over, the report (rule P6)."""

    shift_id: str
    guard: str
    to_guard: str | None
    started_at: datetime | None
    handed_over_at: datetime | None
    opening_float_fen: int | None
    cash_fen: int | None
    charges: int | None
    float_fen: int | None
    invoices: str
    notes: str
    over_limit: bool
    over_limit_float_fen: int | None
    limit_fen: int | None
    paid_in_fen: int
    paid_in_at: datetime | None


@dataclass(frozen=True)
class ChargeView:
    """A temporary car at a booth: entry, and the charge at its exit."""

    ticket_id: str | None
    plate: str
    entered_at: datetime | None
    exited_at: datetime | None
    fee_fen: int | None
    paid_fen: int | None
    waived_reason: str | None
    lost_ticket: bool
    forced_reason: str | None
    receipt_no: str | None
    guard: str | None


@dataclass(frozen=True)
class VisitView:
    """A visitor registered at a booth; the ID number as the reader's role may see it."""

    registration_id: int
    name: str
    id_number: str
    plate: str | None
    host_unit: str
    items: str
    time_in: datetime
    time_out: datetime | None
    guard: str


@dataclass(frozen=True)
class SlipExitView:
    """A goods slip a booth let out (``outcome`` conflict: the desk had it leaving already)."""

    number: int
    gate: str | None
    left_at: datetime
    guard: str
    items_match: bool | None
    carrier_matches: bool | None
    outcome: BoothRecordOutcome
    note: str


@dataclass(frozen=True)
class ControlView:
    """A control of the post's gates by a guard (a manual open, a hold-open, a reset...)
    or an alarm acknowledged, as the booth journalled it."""

    at: datetime | None
    kind: str
    gate: str
    action: str
    guard: str
    reason: str
    result: str
    comment: str


@dataclass(frozen=True)
class ProblemView:
    """A booth record the desk could not take as it was (skipped or in conflict)."""

    journal_id: str
    seq: int
    kind: str
    outcome: BoothRecordOutcome
    note: str
    at: datetime


@dataclass(frozen=True)
class JournalView:
    """How much of one journal of the booth the desk holds: every record up to
    ``events_upto``; ``waiting`` when later ones are here but one before them is not yet;
    ``gaps``: seqs the booth's journal dropped for good (``(first, last)``)."""

    journal_id: str
    events_upto: int
    max_seq: int | None
    gaps: tuple[tuple[int, int], ...]

    @property
    def waiting(self) -> bool:
        """Records after a missing one are here: the missing one has not arrived yet."""
        return self.max_seq is not None and self.max_seq > self.events_upto


@dataclass(frozen=True)
class BoothDay:
    """One booth's records of a day, newest first."""

    booth: str
    shifts: tuple[ShiftView, ...]
    charges: tuple[ChargeView, ...]
    visits: tuple[VisitView, ...]
    slips: tuple[SlipExitView, ...]
    controls: tuple[ControlView, ...]
    problems: tuple[ProblemView, ...]
    journals: tuple[JournalView, ...]
    guard_names: Mapping[str, str]

    @property
    def paid_fen(self) -> int:
        """The day's parking money taken at this booth."""
        return sum(c.paid_fen or 0 for c in self.charges)

    @property
    def has_gap(self) -> bool:
        """A record is missing (not yet arrived, or dropped by the booth's journal)."""
        return any(j.waiting or j.gaps for j in self.journals)

    def name(self, username: str | None) -> str:
        """A guard by name (the desk account's), else as the booth wrote them."""
        return self.guard_names.get(username or "", username or "")


@dataclass(frozen=True)
class BoothRecords:
    """The booths of a site with their records of ``day``."""

    day: date
    booths: tuple[BoothDay, ...]


def booth_names(desk: Desk, actor: Actor) -> tuple[str, ...]:
    """The site's booths: the devices whose records reached the desk."""
    with reading(desk, actor, BOOTH_READERS) as act:
        return tuple(act.session.scalars(
            select(BoothCursor.device).where(BoothCursor.site_id == act.site.id)
            .group_by(BoothCursor.device).order_by(BoothCursor.device)))


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None or isinstance(value, dict | list) else str(value)


def booth_records(desk: Desk, actor: Actor, source: BoothEventSource, day: date,
                  booth: str | None = None) -> BoothRecords:
    """Each booth's records of the site-local ``day`` (one booth with ``booth``): shifts,
    temporary parking charges, visitors (ID numbers masked unless the reader's role sees
    them in full, rule G5), goods slips let out, the gate controls and alarm
    acknowledgements, the records that could not be taken, and any gap in its journal."""
    with reading(desk, actor, BOOTH_READERS) as act:
        site, role = act.site, act.role
        tz = zone(site.timezone)
        start = datetime.combine(day, time(0), tz)
        end = datetime.combine(day + timedelta(days=1), time(0), tz)
        devices = [booth] if booth is not None else list(act.session.scalars(
            select(BoothCursor.device).where(BoothCursor.site_id == site.id)
            .group_by(BoothCursor.device).order_by(BoothCursor.device)))
        journals = source.journals()
        out = []
        for device in devices:
            out.append(_booth_day(act.session, source, site.id, role, device=device,
                                  start=start, end=end,
                                  journals=[j for j in journals if j["device"] == device]))
        return BoothRecords(day, tuple(out))


def _booth_day(session: Session, source: BoothEventSource, site_id: int, role: Role, *,
               device: str, start: datetime, end: datetime,
               journals: Iterable[Mapping[str, Any]]) -> BoothDay:
    def within(column: Any) -> Any:
        return (column >= start) & (column < end)

    shifts = tuple(ShiftView(
        s.shift_id, s.guard, s.to_guard, s.started_at, s.handed_over_at, s.opening_float_fen,
        s.cash_fen, s.charges, s.float_fen, s.invoices, s.notes, s.over_limit,
        s.over_limit_float_fen, s.limit_fen, s.paid_in_fen, s.paid_in_at)
        for s in session.scalars(select(BoothShift).where(
            BoothShift.site_id == site_id, BoothShift.booth == device,
            within(BoothShift.started_at) | within(BoothShift.handed_over_at))
            .order_by(func.coalesce(BoothShift.started_at, BoothShift.handed_over_at).desc())))
    charges = tuple(ChargeView(
        c.ticket_id, c.plate, c.entered_at, c.exited_at, c.fee_fen, c.paid_fen,
        c.waived_reason, c.lost_ticket, c.forced_reason, c.receipt_no,
        c.guard or c.entry_guard)
        for c in session.scalars(select(BoothParkingCharge).where(
            BoothParkingCharge.site_id == site_id, BoothParkingCharge.booth == device,
            within(BoothParkingCharge.exited_at)
            | (BoothParkingCharge.exited_at.is_(None) & within(BoothParkingCharge.entered_at)))
            .order_by(func.coalesce(BoothParkingCharge.exited_at,
                                    BoothParkingCharge.entered_at).desc())))
    visits = tuple(VisitView(
        reg.id, reg.name, id_number_for(role, reg.id_number), reg.plate, visit.host_unit,
        reg.items, reg.time_in, reg.time_out, visit.guard)
        for visit, reg in session.execute(select(BoothVisit, VisitorRegistration).join(
            VisitorRegistration, VisitorRegistration.id == BoothVisit.registration_id).where(
            BoothVisit.site_id == site_id, BoothVisit.booth == device,
            within(VisitorRegistration.time_in))
            .order_by(VisitorRegistration.time_in.desc())).all())
    slips = tuple(SlipExitView(s.number, s.gate, s.left_at, s.guard, s.items_match,
                               s.carrier_matches, s.outcome, s.note)
                  for s in session.scalars(select(BoothSlipExit).where(
                      BoothSlipExit.site_id == site_id, BoothSlipExit.booth == device,
                      within(BoothSlipExit.left_at)).order_by(BoothSlipExit.left_at.desc())))
    controls = []
    for e in source.events_for(device, since=start.timestamp(), until=end.timestamp(),
                               kinds=CONTROL_KINDS, newest_first=True, limit=500):
        data = e.get("data") or {}
        controls.append(ControlView(
            epoch_instant(e.get("wall")), str(e["kind"]), _text(data, "gate"),
            _text(data, "action"), _text(data, "guard"), _text(data, "reason"),
            _text(data, "result"), _text(data, "comment")))
    problems = tuple(ProblemView(p.journal_id, p.seq, p.kind, p.outcome, p.note, p.applied_at)
                     for p in session.scalars(select(BoothRecordApplied).where(
                         BoothRecordApplied.site_id == site_id,
                         BoothRecordApplied.device == device,
                         BoothRecordApplied.outcome != BoothRecordOutcome.APPLIED)
                         .order_by(BoothRecordApplied.id.desc()).limit(50)))
    usernames = {s.guard for s in shifts} | {s.to_guard or "" for s in shifts} \
        | {c.guard or "" for c in charges} | {v.guard for v in visits} \
        | {s.guard for s in slips} | {c.guard for c in controls}
    names = {username: name for username, name in session.execute(
        select(Staff.username, Staff.display_name).where(
            Staff.username.in_(sorted(u for u in usernames if u))))}
    return BoothDay(device, shifts, charges, visits, slips, tuple(controls), problems,
                    tuple(JournalView(str(j["journal_id"]), int(j["events_upto"]),
                                      j.get("max_seq"),
                                      tuple((int(g[0]), int(g[1])) for g in j.get("gaps") or ()))
                          for j in journals), names)
