"""Opening an application and recording its evidence (who showed, checked or confirmed
what, how and when): the paper trail rules H1–H4 and H8 ask for."""

from __future__ import annotations

from datetime import datetime

from central.models import (
    Application,
    ApplicationKind,
    ConfirmationMethod,
    Evidence,
    EvidenceKind,
    Household,
    Person,
)
from central.services.context import Action
from central.services.privacy import mask_id_number


def open_application(act: Action, kind: ApplicationKind, *, applicant: Person | None = None,
                     household: Household | None = None, in_person: bool = False,
                     note: str = "") -> Application:
    """A new application handled by the acting staff member, now."""
    application = Application(
        site_id=act.site.id, kind=kind,
        applicant_person_id=applicant.id if applicant is not None else None,
        household_id=household.id if household is not None else None, in_person=in_person,
        handled_by_staff_id=act.staff.id, created_at=act.now, note=note)
    act.session.add(application)
    act.session.flush()
    return application


def add_evidence(act: Action, application: Application, kind: EvidenceKind, *,
                 reference: str = "", person: Person | None = None, name: str | None = None,
                 method: ConfirmationMethod | None = None,
                 at: datetime | None = None) -> Evidence:
    """Record one piece of evidence: ``person`` or ``name`` confirmed it, by ``method``,
    at ``at`` (default now); the acting staff member recorded it."""
    evidence = Evidence(
        application_id=application.id, kind=kind, reference=reference[:200],
        confirmed_by_person_id=person.id if person is not None else None,
        confirmed_by_name=name, method=method, confirmed_at=at or act.now,
        recorded_by_staff_id=act.staff.id, recorded_at=act.now)
    act.session.add(evidence)
    return evidence


def masked(id_number: str | None) -> str:
    """An ID number as the paper trail may show it (rule G5: never disclosed), masked by
    the one masking function (central/services/privacy.py)."""
    return mask_id_number(id_number)
