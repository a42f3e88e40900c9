"""The Debouncer's rule: one count per presentation, the window running from the last sighting."""

from __future__ import annotations

import pytest

from edge.readers.debounce import Debouncer


class FakeClock:
    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_first_sighting_counts(clock: FakeClock) -> None:
    assert Debouncer(2.0, clock).accept("04A1B2C3") is True


def test_card_held_for_ten_seconds_counts_once(clock: FakeClock) -> None:
    debouncer = Debouncer(2.0, clock)
    counted = []
    for _ in range(100):  # read every 0.1 s for 10 s
        counted.append(debouncer.accept("04A1B2C3"))
        clock.advance(0.1)
    assert counted.count(True) == 1
    assert counted[0] is True


def test_window_runs_from_the_last_sighting_not_the_first(clock: FakeClock) -> None:
    debouncer = Debouncer(2.0, clock)
    assert debouncer.accept("A1") is True
    clock.advance(1.5)
    assert debouncer.accept("A1") is False  # still held
    clock.advance(1.5)  # 3 s after the first sighting, 1.5 s after the last
    assert debouncer.accept("A1") is False


def test_same_card_counts_again_after_being_away_for_the_window(clock: FakeClock) -> None:
    debouncer = Debouncer(2.0, clock)
    assert debouncer.accept("A1") is True
    clock.advance(2.0)
    assert debouncer.accept("A1") is True


def test_same_card_back_just_inside_the_window_does_not_count(clock: FakeClock) -> None:
    debouncer = Debouncer(2.0, clock)
    debouncer.accept("A1")
    clock.advance(1.999)
    assert debouncer.accept("A1") is False


def test_a_different_card_counts_at_once(clock: FakeClock) -> None:
    debouncer = Debouncer(2.0, clock)
    assert debouncer.accept("A1") is True
    assert debouncer.accept("B2") is True
    assert debouncer.accept("A1") is False  # each card has its own window
    assert debouncer.accept("B2") is False


def test_zero_window_counts_every_sighting(clock: FakeClock) -> None:
    debouncer = Debouncer(0.0, clock)
    assert [debouncer.accept("A1") for _ in range(3)] == [True, True, True]


def test_many_cards_are_forgotten_once_expired_yet_still_debounced(clock: FakeClock) -> None:
    debouncer = Debouncer(1.0, clock)
    for n in range(200):
        assert debouncer.accept(f"{n:08X}") is True
        clock.advance(0.01)
    assert debouncer.accept(f"{199:08X}") is False  # recent: still in its window
    clock.advance(1.0)
    assert debouncer.accept(f"{0:08X}") is True
    assert len(debouncer._last_seen) < 200
