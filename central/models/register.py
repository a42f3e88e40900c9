"""The IC card issue / anomaly register (IC卡发行/异常情况登记表), rule I1.

Every card issued, replaced, reported lost or damaged, formatted or revoked is written here
with the holder's sign-off. The register is append-only: the session guard refuses any
update or delete of it, and on SQLite triggers refuse them too.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from central.models.base import AppendOnly, Base
from central.models.people import HolderKind


class RegisterAction(enum.StrEnum):
    """What happened to the card."""

    ISSUE = "issue"
    REPLACE = "replace"
    REPORT_LOST = "report_lost"
    REPORT_DAMAGED = "report_damaged"
    FORMAT = "format"
    REVOKE = "revoke"
    RENEW = "renew"
    VALIDITY_CHANGED = "validity_changed"  # cut short, e.g. the household leaves (H8)
    GRANTS_CHANGED = "grants_changed"


class RegisterEntry(AppendOnly, Base):
    """One line of the register. Names and kinds are copied, so the line still reads right
    after the card has been formatted and re-issued."""

    __tablename__ = "register_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    action: Mapped[RegisterAction]
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    card_uid: Mapped[str] = mapped_column(String(20))
    holder_person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    holder_name: Mapped[str] = mapped_column(String(100), default="")
    holder_kind: Mapped[HolderKind | None]
    entry_on: Mapped[date]
    entry_at: Mapped[datetime]
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    # The sign-off: who signed and where (page of the paper register, signature image id).
    # Empty only for entries the holder could not sign (their household left, rule H8).
    signed_by: Mapped[str | None] = mapped_column(String(100))
    signoff_ref: Mapped[str] = mapped_column(String(200), default="")
    receipt_number: Mapped[int | None]
    related_card_uid: Mapped[str | None] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(String(500), default="")
