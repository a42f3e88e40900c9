"""Simulated hardware inside a running gate process, driven from outside over the gate's
control socket (``sim.*`` commands), so tests and people can use a simulated gate without
editing code: push a door, press REX, put a vehicle on a loop, read the outputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge.control_socket import CommandError, ControlServer
from edge.gate import Gate
from edge.ports import Scheduler
from edge.uid import normalize_uid
from firmware_config.schema import EdgeConfig, PinConfig
from hardware_sim.door_physics import DoorSim


def _number(args: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = args.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise CommandError(f"{key} must be a number from {low} to {high}")
    return float(value)


def _output_pins(config: EdgeConfig) -> dict[str, PinConfig]:
    if config.door is not None:
        return {"strike": config.door.strike}
    assert config.barrier is not None
    return {"barrier_raise": config.barrier.raise_out, "barrier_lower": config.barrier.lower_out}


def attach_simulation(config: EdgeConfig, factory: Any, scheduler: Scheduler,
                      server: ControlServer, gate: Gate) -> None:
    """Build the physics for ``config``'s door or barrier and register its ``sim.*`` commands.

    Call after the gate has created its GPIO devices and before ``gate.start()``.
    """
    assert config.simulation is not None
    sim = config.simulation

    def read_card(args: Mapping[str, Any]) -> object:
        # A read as the reader adapter reports it (after its debounce): for soak tests and
        # benchmarks that need thousands of taps. `menwei-sim tap` goes through nfcpy instead.
        uid = normalize_uid(str(args.get("uid", "")))
        outcome = gate.handle_tap(uid)
        return {"seq": outcome.seq, "granted": outcome.granted, "reason": outcome.reason.value}

    server.register("sim.read_card", read_card)
    pins = _output_pins(config)

    def outputs(_args: Mapping[str, Any]) -> object:
        return {name: bool(factory.pin(pin.pin).state) == pin.active_high
                for name, pin in pins.items()}

    server.register("sim.outputs", outputs)

    if config.door is not None:
        door = DoorSim(factory, config.door, scheduler, sim.door_pass_time)
        server.register("sim.push", lambda args: {"opened": door.push()})

        def force(_args: Mapping[str, Any]) -> object:
            door.force()
            return {"opened": True}

        def rex(_args: Mapping[str, Any]) -> object:
            try:
                door.press_rex()
            except RuntimeError as exc:
                raise CommandError(str(exc)) from exc
            return {"pressed": True}

        server.register("sim.force", force)
        server.register("sim.rex", rex)
        server.register("sim.prop_open", lambda args: {
            "opened": door.prop_open(_number(args, "seconds", 60, 0.1, 3600))})
        server.register("sim.door", lambda args: {"open": door.is_open,
                                                  "strike_released": door.strike_released})
    else:
        _attach_barrier(config, factory, scheduler, server)


def _attach_barrier(config: EdgeConfig, factory: Any, scheduler: Scheduler,
                    server: ControlServer) -> None:
    raise NotImplementedError
