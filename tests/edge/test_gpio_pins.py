"""The gpiozero adapter: logical levels, pull resistors and callbacks on MockFactory pins."""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory

from edge.gpio_pins import GpioInput, GpioOutput
from firmware_config.schema import PinConfig


@pytest.mark.parametrize(("active_high", "pull_up"), [
    (True, None), (False, None), (True, True), (False, True), (True, False), (False, False)])
def test_input_reads_the_configured_active_level_and_keeps_the_pull(
        active_high: bool, pull_up: bool | None) -> None:
    factory = MockFactory()
    seen: list[bool] = []
    gpio = GpioInput("contact", PinConfig("GPIO22", active_high, pull_up), factory,
                     lambda fn: fn())
    gpio.on_change(seen.append)
    pin = factory.pin("GPIO22")
    expected_pull = {None: "floating", True: "up", False: "down"}[pull_up]
    assert pin.pull == expected_pull  # the resistor the wiring relies on is really enabled
    pin.drive_high()
    pin.drive_low()
    pin.drive_high()
    assert gpio.is_active is active_high
    # Each electrical edge is one logical change, in the configured sense.
    assert seen[-1] is active_high
    assert seen[-2] is (not active_high)


def test_output_is_created_in_its_idle_state_without_a_pulse() -> None:
    factory = MockFactory()
    out = GpioOutput("strike", PinConfig("GPIO17", active_high=False), factory, initial=False)
    pin = factory.pin("GPIO17")
    assert pin.state is True and not out.is_active  # active-low relay released
    created = len(pin.states)
    out.set(True)
    out.set(True)  # already active: no second edge
    assert [s.state for s in pin.states[created:]] == [False]
