"""Helpers shared by the phase-2 tests: a gate fed from the desk's auth_log, and the
resident card most tests start from."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from central.models import ParkingSubscription
from central.services.context import Desk
from central.services.parking import (
    ApplyParking,
    ParkingApplication,
    TopUpParking,
    TopUpResult,
    apply_parking,
    top_up_parking,
)
from central.services.parking_approval import (
    ApproveParking,
    RecordOwnerUnitApproval,
    approve_parking,
    record_owner_unit_approval,
)
from central.services.resident_cards import IssueResidentCards, issue_resident_cards
from edge.auth_store import AuthStore
from edge.cards import ParkingRight
from edge.decision import GateRules, Reason, decide
from firmware_config.schema import AntiPassbackMode, Role, UntrustedClockPolicy
from sync.wire.auth_messages import AuthChanges

from .conftest import SITE, Staffs, application, auth_log, owner_line, person


def gate_rules(role: Role, *groups: str) -> GateRules:
    """A gate accepting ``groups``, without anti-passback, trusting its clock."""
    return GateRules(role, frozenset(groups), AntiPassbackMode.OFF,
                     UntrustedClockPolicy.SKIP_TIME_CHECKS)


DOOR_B1 = gate_rules(Role.DOOR, "b1")
CARPARK_IN = gate_rules(Role.BARRIER_ENTRY, "carpark")


class Gate:
    """A gate's whitelist fed from the desk's auth_log exactly as sync feeds it."""

    def __init__(self, desk: Desk, path: Path) -> None:
        self.desk = desk
        self.store = AuthStore(path)
        self.applied = 0

    def sync(self) -> int:
        """Apply every auth_log entry not yet applied; how many."""
        entries = [e for e in auth_log(self.desk) if e.seq > self.applied]
        if not entries:
            return 0
        payload = json.dumps({
            "v": 1, "type": "auth_changes", "site": SITE, "from_seq": entries[0].seq,
            "to_seq": entries[-1].seq, "issued_at": 0.0,
            "entries": [{"seq": e.seq, "card": json.loads(e.card)} for e in entries]})
        changes = AuthChanges.parse(payload)
        self.store.upsert(changes.cards, applied_seq=changes.to_seq)
        self.applied = changes.to_seq
        return len(entries)

    def tap(self, uid: str, at: datetime, rules: GateRules = DOOR_B1) -> Reason:
        """The decision for ``uid`` at local time ``at`` (after syncing)."""
        self.sync()
        return decide(self.store.lookup(uid), rules, at, already_inside=False,
                      clock_trusted=True).reason

    def parking(self, uid: str) -> tuple[ParkingRight, ...]:
        """The monthly parking rights the gate holds for ``uid`` (after syncing): what a
        car-park lane judges by paid-until itself (rule P2, edge.parking_validity)."""
        self.sync()
        record = self.store.lookup(uid)
        assert record is not None, uid
        return record.parking


TO_UTC = timedelta(hours=-8)  # Shanghai local time → UTC


def at_local(day: date, hour: int = 10) -> datetime:
    """``hour`` o'clock on ``day`` in Shanghai, as an aware UTC instant."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) + TO_UTC


def documents(desk: Desk, name: str, **override: Any) -> dict[str, Any]:
    """Rule P1's documents as a form gives them, for ``name``, all present."""
    docs = {"id_number_presented": person(desk, name).id_number,
            "driving_licence_ref": "驾驶证 4403xx", "vehicle_licence_ref": "行驶证 粤B12345",
            "parking_agreement_ref": "车位使用协议 2026-061"}
    docs.update(override)
    return {k: v for k, v in docs.items() if v is not None}


def apply(desk: Desk, staff: Staffs, name: str = "王建国", **form: Any) -> ParkingApplication:
    """A monthly parking application on 王建国's card (by default)."""
    data: dict[str, Any] = {"holder_person_id": person(desk, name).id, "plate": "粤B 12345",
                            "documents": documents(desk, name), "existing_uid": "04A1B2C3"}
    data.update(form)
    return apply_parking(desk, staff.clerk, ApplyParking.from_form(data))


def owner_unit_approves(desk: Desk, staff: Staffs, subscription_id: int) -> None:
    """The desk records the owner unit's signature on the application (seed 000)."""
    record_owner_unit_approval(desk, staff.clerk, RecordOwnerUnitApproval.from_form({
        "subscription_id": subscription_id, "signer_name": "业主单位 行政部 林",
        "signed_at": "2026-06-09T09:30:00+08:00", "reference": "车位使用申请表 2026-061"}))


def approve(desk: Desk, staff: Staffs, subscription_id: int, *, owner_unit: bool = True,
            **form: Any) -> None:
    """The owner unit (unless ``owner_unit`` is false) and the director approve, at 300
    yuan a month, floating (by default)."""
    with desk.sessions() as s:
        sub = s.get(ParkingSubscription, subscription_id)
        signed = sub is not None and sub.owner_unit_signed_at is not None
    if owner_unit and not signed:
        owner_unit_approves(desk, staff, subscription_id)
    data: dict[str, Any] = {"subscription_id": subscription_id, "fee_per_month_yuan": "300",
                            "space_kind": "floating"}
    data.update(form)
    approve_parking(desk, staff.director, ApproveParking.from_form(data))


def top_up(desk: Desk, staff: Staffs, months: int = 1, uid: str = "04A1B2C3") -> TopUpResult:
    """Months paid on the card."""
    return top_up_parking(desk, staff.clerk, TopUpParking.from_form({"uid": uid,
                                                                    "months": months}))


def issue_wang(desk: Desk, staff: Staffs, uid: str = "04A1B2C3") -> None:
    """王建国 (owner, 1-1201) gets a resident card: common + b1."""
    issue_resident_cards(desk, staff.clerk, IssueResidentCards.from_form(
        application(desk, "王建国", [owner_line(desk, uid, "王建国")])))
