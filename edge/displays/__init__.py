"""Lane display adapters (the ``LaneDisplay`` port of edge.ports): today one, an LED display
and voice module on a serial line (``serial_display``), speaking the protocol of
``lane_display_protocol`` (docs/lane-display.md)."""

from __future__ import annotations

from edge.ports import EventSink, LaneDisplay
from firmware_config.lane_tables import DisplayConfig, DisplayKind


def build_display(config: DisplayConfig, emit: EventSink | None = None) -> LaneDisplay:
    """The display adapter for ``config``, its writer thread running; ``emit`` receives its
    availability events (see edge.displays.serial_display)."""
    if config.kind is DisplayKind.SERIAL:
        # Imported here so the protocol module can be used without pyserial.
        from edge.displays.serial_display import SerialDisplay  # noqa: PLC0415

        return SerialDisplay(config, emit=emit)
    raise TypeError(f"no display adapter for kind {config.kind!r}")


__all__ = ["build_display"]
