"""What a lane's display shows and its voice says for each outcome, in Chinese as residents
read it: "欢迎光临 粤B12345 月卡剩余15天", "一路顺风", "此卡已挂失", "车位已满",
"临时车 请到岗亭缴费". Every refusal reason (edge.decision.Reason) has a message.

STUB (issue 12 foundation): the signatures are the contract; helper H1a implements them.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.decision import Flag, Reason
from edge.ports import LaneMessage


@dataclass(frozen=True)
class LaneOutcome:
    """What the lane decided for one vehicle, as the display needs it."""

    granted: bool
    reason: Reason
    entering: bool  # an entry lane (False: the exit lane)
    plate: str | None = None  # the plate to show (read, or the card's)
    days_left: int | None = None  # monthly card: days of its paid month left, when reminded
    flags: tuple[Flag, ...] = ()
    free_temporary: int | None = None  # temporary spaces left, when the lot is counted


def message_for(outcome: LaneOutcome) -> LaneMessage:
    """The display lines and the voice line for ``outcome``."""
    raise NotImplementedError


def idle_message(idle_text: str, free_temporary: int | None) -> LaneMessage:
    """What the display shows between vehicles: the idle text and, when counted, "余位 N"
    (or "车位已满")."""
    raise NotImplementedError
