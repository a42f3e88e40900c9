"""The lane's plain pieces (edge.lane), without a gate: the plate window, card-and-plate
pairing, the credit FIFO and the lot's refusals."""

from __future__ import annotations

from edge.decision import Flag, Reason
from edge.lane import (
    TEMPORARY_CAR,
    Credential,
    CreditQueue,
    LaneVerdict,
    Pairing,
    PendingCard,
    PendingPlate,
    PlateWindow,
    lot_refusal,
)
from edge.lot_counts import Occupancy
from edge.ports import PlateRead
from edge.site_rules import SpaceClass

MONTHLY_CAR = LaneVerdict(True, Reason.GRANTED, (), SpaceClass.MONTHLY)


def occupancy(temporary_free: int) -> Occupancy:
    return Occupancy("main", {SpaceClass.TEMPORARY: 10 - temporary_free},
                     {SpaceClass.TEMPORARY: 10, SpaceClass.MONTHLY: 10})


def test_the_same_plate_within_the_window_counts_once_and_then_again() -> None:
    window = PlateWindow(10.0)
    assert window.first_read("粤B12345", 0.0)
    assert not window.first_read("粤B12345", 9.9)
    assert window.first_read("粤B54321", 5.0)  # another car
    assert window.first_read("粤B12345", 10.0)  # the window does not slide with repeats
    assert window.repeats == 1


def test_a_pair_half_waits_only_the_window_and_is_taken_once() -> None:
    pairing = Pairing(15.0)
    pairing.wait_for_card(PendingPlate(PlateRead("粤B12345", 90, "cam"), 0.0))
    assert pairing.take_plate(16.0) is None  # too late
    pairing.wait_for_card(PendingPlate(PlateRead("粤B12345", 90, "cam"), 20.0))
    taken = pairing.take_plate(30.0)
    assert taken is not None and taken.read.plate == "粤B12345"
    assert pairing.take_plate(30.0) is None
    pairing.wait_for_plate(PendingCard("04A1B2C3", ("粤B12345",), MONTHLY_CAR, 0.0))
    assert pairing.status() == {"card": "04A1B2C3", "plate": None}
    assert pairing.take_card(15.0) is not None


def test_credits_are_spent_oldest_first_and_lapse_with_the_barriers() -> None:
    queue = CreditQueue()
    first = Credential("04A1B2C3", None, SpaceClass.MONTHLY)
    second = Credential(None, "粤A99999", SpaceClass.TEMPORARY)
    queue.push(first)
    queue.push(second)
    assert queue.keep(2) == []
    assert queue.spend() == first
    assert queue.keep(0) == [second]
    assert queue.spend() is None
    assert second.wire() == {"plate": "粤A99999", "space_class": "temporary"}


def test_a_full_lot_and_a_monthly_only_window_refuse_temporary_cars_only() -> None:
    full, room = occupancy(0), occupancy(3)
    refused = lot_refusal(TEMPORARY_CAR, entering=True, occupancy=full, monthly_only=False)
    assert refused.reason is Reason.LOT_FULL and not refused.granted
    assert refused.flags == (Flag.AS_TEMPORARY,)
    assert lot_refusal(TEMPORARY_CAR, entering=True, occupancy=room,
                       monthly_only=False).granted
    assert lot_refusal(TEMPORARY_CAR, entering=True, occupancy=None,
                       monthly_only=False).granted  # the lot is not counted here
    assert lot_refusal(TEMPORARY_CAR, entering=True, occupancy=room,
                       monthly_only=True).reason is Reason.MONTHLY_ONLY
    assert lot_refusal(MONTHLY_CAR, entering=True, occupancy=full, monthly_only=True).granted
    # Leaving never waits for a space.
    assert lot_refusal(TEMPORARY_CAR, entering=False, occupancy=full,
                       monthly_only=True).granted
