"""Writing the IC card issue / anomaly register (rule I1).

This is the only writer of RegisterEntry. There is deliberately no function that updates or
deletes one: the register is append-only, and the session guard (central/db.py) refuses
anyone who tries through the ORM.
"""

from __future__ import annotations

from central.models import Card, RegisterAction, RegisterEntry
from central.services.context import Action
from central.services.inputs import SignOff


def write_register(act: Action, card: Card, what: RegisterAction, signoff: SignOff | None, *,
                   receipt_number: int | None = None, related_uid: str | None = None,
                   detail: str = "") -> RegisterEntry:
    """Append one register line for ``card`` as it is now (holder copied, not referenced).

    ``signoff`` is the holder's signature; None only where the holder cannot sign (their
    household left, rule H8), which ``detail`` then explains.
    """
    holder = card.holder
    entry = RegisterEntry(
        site_id=act.site.id, action=what, card_id=card.id, card_uid=card.uid,
        holder_person_id=holder.id if holder is not None else None,
        holder_name=holder.name if holder is not None else "",
        holder_kind=card.holder_kind, entry_on=act.today, entry_at=act.now,
        staff_id=act.staff.id,
        signed_by=signoff.signer_name if signoff is not None else None,
        signoff_ref=signoff.reference if signoff is not None else "",
        receipt_number=receipt_number, related_card_uid=related_uid, detail=detail[:500],
    )
    act.session.add(entry)
    return entry
