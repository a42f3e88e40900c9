"""Finding the card of a plate camera's read (rule P1: the plate is on the card record),
within the lane's ``plate_tolerance`` (edge.plates): exact first, then the look-alikes, then
a misread province; a tolerant match counts only when exactly one card matches.

STUB (issue 12 foundation): the signatures are the contract; helper H1a implements them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from edge.cards import CardRecord
from edge.plates import PlateTolerance


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


def match_plate(lookup: PlateLookup, plate: str, tolerance: PlateTolerance) -> PlateMatch:
    """The card whose plate is ``plate`` (normalised, edge.plates.normalize_plate) within
    ``tolerance``."""
    raise NotImplementedError


def same_car(card_plate: str | None, read: str, tolerance: PlateTolerance) -> bool:
    """Whether a read plate is the card's plate within ``tolerance`` (card_and_plate lanes)."""
    raise NotImplementedError
