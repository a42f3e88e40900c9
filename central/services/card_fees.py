"""What a card costs: rules I2 (issue), I3 and L2 (replacement), L3 (a staff card lost)."""

from __future__ import annotations

from datetime import date

from central.calendar import months_end
from central.models import HolderKind, SiteSettings


def issue_fee(settings: SiteSettings, kind: HolderKind) -> int:
    """Rule I2: 20 yuan per card (a site setting); internal staff cards are free."""
    return 0 if kind is HolderKind.STAFF else settings.card_fee_fen


def within_free_month(settings: SiteSettings, issued_on: date | None, today: date) -> bool:
    """Rule I3: whether ``today`` is within the first month(s) after issue (9 June → free
    through 8 July, months counted as rule P2 counts them)."""
    if issued_on is None:
        return False
    return today <= months_end(issued_on, settings.free_replacement_months)


def replacement_fee(settings: SiteSettings, kind: HolderKind, *, lost: bool,
                    holder_fault: bool, issued_on: date | None, today: date) -> int:
    """Rules I3 and L2: a replacement costs 20, except a card that failed within one month
    of issue not through the holder's fault, which is free. A lost card is never "not the
    holder's fault". Staff cards are free (I2): their holder pays at the report (L3)."""
    if kind is HolderKind.STAFF:
        return 0
    if lost or holder_fault:
        return settings.card_fee_fen
    return 0 if within_free_month(settings, issued_on, today) else settings.card_fee_fen


def staff_loss_compensation(settings: SiteSettings, kind: HolderKind, *,
                            holder_fault: bool) -> int:
    """Rule L3: a lost staff card, or one damaged by its holder, costs the holder 20."""
    return settings.card_fee_fen if kind is HolderKind.STAFF and holder_fault else 0
