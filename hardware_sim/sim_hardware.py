"""Simulated hardware inside a running gate process, driven from outside over the gate's
control socket (``sim.*`` commands), so tests and people can use a simulated gate without
editing code: push a door, press REX, put a vehicle on a loop, read the outputs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from edge.control_socket import CommandError, ControlServer, Handler
from edge.gate import Gate
from edge.ports import Scheduler
from edge.uid import normalize_uid
from firmware_config.schema import EdgeConfig, PinConfig
from hardware_sim.barrier_physics import BarrierArmSim
from hardware_sim.door_physics import DoorSim
from hardware_sim.lane_physics import LaneSim


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
    assert config.barrier is not None and config.simulation is not None
    # With the real control loop, inputs reach the barrier one queue turn after the physics
    # changes them; the grace keeps that turn from reading as a safety violation.
    arm = BarrierArmSim(factory, config.barrier, scheduler, config.simulation.arm_travel,
                        reaction_grace=0.1)
    lane = LaneSim(factory, config.barrier, scheduler, arm)

    def guarded(action: Callable[[Mapping[str, Any]], object]) -> Handler:
        def handler(args: Mapping[str, Any]) -> object:
            try:
                return action(args)
            except (LookupError, RuntimeError) as exc:
                raise CommandError(str(exc)) from exc
        return handler

    def arrive(args: Mapping[str, Any]) -> object:
        v = lane.vehicle_arrives(_number(args, "length_m", 4.5, 1.0, 25.0),
                                 _number(args, "speed_mps", 2.0, 0.2, 15.0))
        return {"vehicle": repr(v), "lane": lane.status()}

    def drive_through(args: Mapping[str, Any]) -> object:
        # "Drive through" from the booth's point of view: a car that is not there yet pulls
        # up first, so a person can tap and drive with two commands.
        if not lane.vehicles:
            lane.vehicle_arrives()
        lane.drive_through(tailgate=bool(args.get("tailgate", False)))
        return {"lane": lane.status()}

    def loop(args: Mapping[str, Any]) -> object:
        name = args.get("loop")
        if name not in ("arming", "safety"):
            raise CommandError("loop must be 'arming' or 'safety'")
        if bool(args.get("occupied", True)):
            lane.occupy(name)
        else:
            lane.clear(name)
        return {"lane": lane.status()}

    def jam(args: Mapping[str, Any]) -> object:
        arm.jam(bool(args.get("jammed", True)))
        return {"arm": arm.status()}

    server.register("sim.vehicle_arrives", guarded(arrive))
    server.register("sim.drive_through", guarded(drive_through))
    server.register("sim.back_out", guarded(lambda args: {"vehicle": repr(lane.back_out())}))
    server.register("sim.stall", guarded(lambda args: {"vehicle": repr(lane.stall())}))
    server.register("sim.loop", guarded(loop))
    server.register("sim.jam", guarded(jam))
    server.register("sim.lane", lambda args: {"lane": lane.status(), "arm": arm.status(),
                                              "violations": list(arm.violations)})
