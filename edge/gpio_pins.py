"""gpiozero adapters for the DigitalOutput and DigitalInput ports.

The only module of the gate that imports gpiozero. ``make_pin_factory`` picks the backend
named in config: lgpio on a Pi, MockFactory in simulation; it never falls back silently.
"""

from __future__ import annotations

from collections.abc import Callable

from gpiozero import DigitalInputDevice, DigitalOutputDevice
from gpiozero.pins import Factory

from firmware_config.schema import GpioBackend, PinConfig

Dispatch = Callable[[Callable[[], None]], None]


def make_pin_factory(backend: GpioBackend) -> Factory:
    """The gpiozero pin factory for ``backend``."""
    if backend is GpioBackend.SIMULATED:
        # Imported here: the simulator's pins are never loaded on a real gate.
        from gpiozero.pins.mock import MockFactory  # noqa: PLC0415

        return MockFactory()
    # lgpio exists only on a Pi (python3-lgpio); importing it elsewhere would fail.
    from gpiozero.pins.lgpio import LGPIOFactory  # noqa: PLC0415

    return LGPIOFactory()


class GpioOutput:
    """A relay or motor contact on a GPIO line; starts inactive, never pulses at creation."""

    def __init__(self, name: str, config: PinConfig, factory: Factory,
                 initial: bool = False) -> None:
        self._name = name
        self._device = DigitalOutputDevice(
            config.pin, active_high=config.active_high, initial_value=initial,
            pin_factory=factory,
        )

    @property
    def name(self) -> str:
        """What the output drives."""
        return self._name

    @property
    def is_active(self) -> bool:
        """Whether the output is active."""
        return bool(self._device.value)

    def set(self, active: bool) -> None:
        """Drive the output."""
        if active != self.is_active:
            if active:
                self._device.on()
            else:
                self._device.off()

    def close(self) -> None:
        """Release the line."""
        self._device.close()


class GpioInput:
    """A contact or loop on a GPIO line. Changes are handed to ``dispatch`` so that they run
    on the control thread (gpiozero calls back from its own threads)."""

    def __init__(self, name: str, config: PinConfig, factory: Factory,
                 dispatch: Dispatch) -> None:
        self._name = name
        self._dispatch = dispatch
        self._callbacks: list[Callable[[bool], None]] = []
        if config.pull_up is None:
            # No internal pull: gpiozero takes the active level directly.
            self._device = DigitalInputDevice(
                config.pin, pull_up=None, active_state=config.active_high,
                pin_factory=factory,
            )
            self._invert = False
        else:
            # gpiozero ties the active level to the pull (pulled up = active when low) and
            # refuses an explicit active_state with a pull. The pull is electrical and must be
            # kept; where the configured active level differs, invert in software instead.
            self._device = DigitalInputDevice(config.pin, pull_up=config.pull_up,
                                              pin_factory=factory)
            self._invert = config.pull_up == config.active_high
        self._device.when_activated = lambda: self._changed(not self._invert)
        self._device.when_deactivated = lambda: self._changed(self._invert)

    def _changed(self, active: bool) -> None:
        for callback in list(self._callbacks):
            self._dispatch(lambda cb=callback: cb(active))  # type: ignore[misc]

    @property
    def name(self) -> str:
        """What the input senses."""
        return self._name

    @property
    def is_active(self) -> bool:
        """The logical state."""
        return bool(self._device.value) != self._invert

    def on_change(self, callback: Callable[[bool], None]) -> None:
        """Call ``callback(active)`` on each change, via the dispatcher."""
        self._callbacks.append(callback)

    def close(self) -> None:
        """Release the line."""
        self._device.close()
