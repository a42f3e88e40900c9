"""Finding the card of a plate camera's read (rule P1: the plate is on the card record),
within the lane's ``plate_tolerance`` (edge.plates): exact first, then the look-alikes, then
a misread province; a tolerant match counts only when exactly one card matches.

Each level is tried only when the narrower one found nobody: a read that is exactly one
card's plate is that card even when a look-alike plate is on another card. Cards that carry
the same plate (a replaced card and the lost one, two cards of one household) are one car:
ambiguity is counted in plates, and of one plate's cards the active one is taken.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from edge.cards import CardRecord, CardStatus
from edge.plates import PlateTolerance, normalize_plate, plate_key, plate_tail


class PlateLookup(Protocol):
    """The whitelist's plate indexes (edge.auth_store.AuthStore)."""

    def cards_by_plate_key(self, key: str) -> list[CardRecord]:
        """Cards whose plate folds to ``key``."""
        ...

    def cards_by_plate_tail(self, tail: str) -> list[CardRecord]:
        """Cards whose plate without its province folds to ``tail``."""
        ...


class MatchKind(enum.StrEnum):
    """How a read found its card."""

    EXACT = "exact"
    CONFUSION = "confusion"  # look-alike symbols differ
    PROVINCE = "province"  # the province character differs (and maybe look-alikes)
    AMBIGUOUS = "ambiguous"  # a tolerant read matched more than one card: nobody
    NONE = "none"


@dataclass(frozen=True)
class PlateMatch:
    """The card a read found, if any."""

    card: CardRecord | None
    kind: MatchKind
    candidates: int  # how many cards the widest allowed key matched


def plate_of(card: CardRecord) -> str | None:
    """The plate ``card`` is found by, normalised: its own, else its first parking right's
    (as edge.auth_store indexes it); None when it has none a camera could read."""
    plate = card.plate or next((r.plate for r in card.parking if r.plate), None)
    return _normalized(plate)


def _normalized(plate: str | None) -> str | None:
    if not plate:
        return None
    try:
        return normalize_plate(plate)
    except ValueError:
        return None


def _preferred(cards: list[CardRecord]) -> CardRecord:
    """Of several cards of one plate, the one the car is using: an active card over a lost
    or revoked one, then the one paid the longest, then by uid (the same answer every time)."""
    def rank(card: CardRecord) -> tuple[bool, int, str]:
        paid = max((r.paid_until for r in card.parking), default=None)
        return (card.status is CardStatus.ACTIVE, paid.toordinal() if paid else 0, card.uid)

    return max(cards, key=rank)


def _one_plate(cards: list[CardRecord], kind: MatchKind, candidates: int) -> PlateMatch | None:
    """The match of ``cards`` at one level: None when nobody, AMBIGUOUS when more than one
    plate."""
    by_plate: dict[str, list[CardRecord]] = {}
    for card in cards:
        plate = plate_of(card)
        if plate is not None:
            by_plate.setdefault(plate, []).append(card)
    if not by_plate:
        return None
    if len(by_plate) > 1:
        return PlateMatch(None, MatchKind.AMBIGUOUS, candidates)
    (found,) = by_plate.values()
    return PlateMatch(_preferred(found), kind, candidates)


def match_plate(lookup: PlateLookup, plate: str, tolerance: PlateTolerance) -> PlateMatch:
    """The card whose plate is ``plate`` (normalised, edge.plates.normalize_plate) within
    ``tolerance``."""
    read = _normalized(plate)
    if read is None:
        return PlateMatch(None, MatchKind.NONE, 0)
    key = plate_key(read)
    folded = lookup.cards_by_plate_key(key)
    widest = folded
    tail = plate_tail(read)
    if tolerance is PlateTolerance.CONFUSIONS_AND_PROVINCE:
        # A read that lost its province altogether is looked up by what it has.
        widest = lookup.cards_by_plate_tail(tail if tail is not None else key)
    exact = [c for c in folded if plate_of(c) == read]
    if tolerance is PlateTolerance.EXACT:
        widest = exact
    if exact:
        return PlateMatch(_preferred(exact), MatchKind.EXACT, len(widest))
    if tolerance is PlateTolerance.EXACT:
        return PlateMatch(None, MatchKind.NONE, 0)
    levels = [(folded, MatchKind.CONFUSION)]
    if tolerance is PlateTolerance.CONFUSIONS_AND_PROVINCE:
        levels.append((widest, MatchKind.PROVINCE))
    for cards, kind in levels:
        found = _one_plate(cards, kind, len(widest))
        if found is not None:
            return found
    return PlateMatch(None, MatchKind.NONE, len(widest))


def same_car(card_plate: str | None, read: str, tolerance: PlateTolerance) -> bool:
    """Whether a read plate is the card's plate within ``tolerance`` (card_and_plate lanes)."""
    held, seen = _normalized(card_plate), _normalized(read)
    if held is None or seen is None:
        return False
    if held == seen:
        return True
    if tolerance is PlateTolerance.EXACT:
        return False
    if plate_key(held) == plate_key(seen):
        return True
    if tolerance is PlateTolerance.CONFUSIONS:
        return False
    held_tail, seen_tail = plate_tail(held), plate_tail(seen)
    return held_tail is not None and held_tail == (
        seen_tail if seen_tail is not None else plate_key(seen))
