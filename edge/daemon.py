"""Runs one gate as a service: wires config, pins, reader, gate, control socket, signals and
systemd's notify/watchdog together. This is the only place that decides real vs simulated
hardware, and it does so from the config alone."""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edge import sd_notify
from edge.control_socket import Caller, CallerHandler, CommandError, ControlServer
from edge.displays import build_display
from edge.exit_codes import ExitCode
from edge.gate import Gate
from edge.gate_storage import data_folders
from edge.gate_thread import GateThread
from edge.gpio_pins import GpioInput, GpioOutput, make_pin_factory
from edge.lot_commands import register_lot_commands
from edge.migrations import SchemaTooNewError
from edge.ports import EventSink, LaneDisplay, PlateCamera, Scheduler, SystemClock
from edge.readers import build_reader
from edge.readers.plate_camera import build_camera
from edge.shared_store import StoreUnavailable
from edge.storage_check import UnusableFolderError, check_folder, describe, is_storage_error
from firmware_config.schema import EdgeConfig, GpioBackend, PinConfig

log = logging.getLogger("menwei.edge")
SOCKET_RETRY_S = 5.0
CHECK_RETRY_S = 5.0


def _storage_fault(exc: BaseException) -> bool:
    return isinstance(exc, StoreUnavailable) or is_storage_error(exc)


def absorb_storage_error(exc: Exception) -> bool:
    """The control loop's last net: a storage error that escaped a callback is logged and
    the gate goes on (egress must never stop because a file did); anything else is a bug and
    ends the process, which systemd restarts."""
    if not _storage_fault(exc):
        return False
    log.error("storage error in the control loop: %s", describe(exc), exc_info=exc)
    return True


def _answer_storage_errors(handler: CallerHandler) -> CallerHandler:
    """A command that fails on storage gets a refusal naming the fault, not a dead socket."""
    def call(args: Mapping[str, Any], caller: Caller) -> object:
        try:
            return handler(args, caller)
        except Exception as exc:
            if not _storage_fault(exc):
                raise
            raise CommandError(f"storage fault: {describe(exc)}") from exc

    return call


def _start_server(server: ControlServer, scheduler: Scheduler) -> None:
    """Bind the control socket; a full disk can refuse even that: retried until it works."""
    try:
        server.start()
    except OSError as exc:
        log.error("control socket %s: %s; retrying in %.0f s", server.path, exc.strerror,
                  SOCKET_RETRY_S)
        scheduler.call_later(SOCKET_RETRY_S, lambda: _start_server(server, scheduler))


def register_gate_commands(server: ControlServer, gate: Gate) -> None:
    """The commands every gate answers, real or simulated."""
    server.register("status", lambda args: gate.status())

    def manual_open(args: Mapping[str, Any], caller: Caller) -> object:
        guard, reason = args.get("guard"), args.get("reason")
        if not isinstance(guard, str) or not isinstance(reason, str):
            raise CommandError("open needs 'guard' and 'reason' as text")
        seq = gate.manual_open(guard, reason, caller=caller.as_record())
        # The truth, not the wish: a gate in lockdown or out of service did not open.
        return {"seq": seq, "opened": gate.last_manual_open_worked}

    server.register_with_caller("open", manual_open)

    def reset(args: Mapping[str, Any], caller: Caller) -> object:
        guard, reason = args.get("guard"), args.get("reason")
        if not isinstance(guard, str) or not isinstance(reason, str):
            raise CommandError("reset needs 'guard' and 'reason' as text")
        seq, in_service = gate.reset_actuator(guard, reason, caller=caller.as_record())
        return {"seq": seq, "in_service": in_service,
                "state": gate.actuator.status().get("state")}

    server.register_with_caller("reset", reset)

    def remote_command(args: Mapping[str, Any], caller: Caller) -> object:
        # The sync agent calls this after verifying signature, expiry, nonce and clock;
        # whoever calls it is journalled with the command.
        command, by, nonce = args.get("command"), args.get("issued_by"), args.get("nonce")
        if not all(isinstance(v, str) for v in (command, by, nonce)):
            raise CommandError("command needs 'command', 'issued_by' and 'nonce' as text")
        until = _optional_time(args, "until")
        return {"seq": gate.remote_command(str(command), str(by), str(nonce), until=until,
                                           caller=caller.as_record()),
                "mode": gate.mode}

    server.register_with_caller("command", remote_command)

    def set_mode(args: Mapping[str, Any], caller: Caller) -> object:
        mode, guard, reason = args.get("mode"), args.get("guard"), args.get("reason")
        if not all(isinstance(v, str) for v in (mode, guard, reason)):
            raise CommandError("mode needs 'mode', 'guard' and 'reason' as text")
        until = _optional_time(args, "until")
        seq = gate.set_local_mode(str(mode), str(guard), str(reason), until=until,
                                  caller=caller.as_record())
        return {"seq": seq, "mode": gate.mode, "until": gate.mode_state.until}

    server.register_with_caller("mode", set_mode)

    def clear_presence(args: Mapping[str, Any], caller: Caller) -> object:
        uid, guard, reason = args.get("uid"), args.get("guard"), args.get("reason")
        if not all(isinstance(v, str) for v in (uid, guard, reason)):
            raise CommandError("clear_presence needs 'uid', 'guard' and 'reason' as text")
        seq, was_inside, cleared = gate.clear_presence(str(uid), str(guard), str(reason),
                                                       caller=caller.as_record())
        return {"seq": seq, "was_inside": was_inside, "cleared": cleared}

    server.register_with_caller("clear_presence", clear_presence)

    def recent_events(args: Mapping[str, Any]) -> object:
        n = args.get("n", 20)
        if not isinstance(n, int) or not 1 <= n <= 1000:
            raise CommandError("n must be a whole number from 1 to 1000")
        return [e.__dict__ for e in gate.journal.tail(n)]

    server.register("events", recent_events)
    register_lot_commands(server, gate)  # a lane's car-park count (issue 12)


def _optional_time(args: Mapping[str, Any], key: str) -> float | None:
    value = args.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value):
        raise CommandError(f"{key} must be a time in seconds since the epoch")
    return float(value)


@dataclass(frozen=True)
class LaneDevices:
    """A barrier lane's LED display and plate camera, when its config has them."""

    display: LaneDisplay | None = None
    camera: PlateCamera | None = None

    def stop_camera(self) -> None:
        """No more plate reads (before the gate shuts down); harmless twice."""
        if self.camera is not None:
            self.camera.stop()

    def close_display(self) -> None:
        """Clear the display and release its port (after the gate shut down)."""
        if self.display is not None:
            self.display.close()


def build_lane_devices(config: EdgeConfig, emit: EventSink) -> LaneDevices:
    """The display (writing from its own thread at once; its availability events go to
    ``emit`` from that thread) and the camera (not started: the gate starts it with its
    callbacks) that ``config`` names; doors and booths have neither."""
    display = build_display(config.display, emit) if config.display is not None else None
    camera = build_camera(config.camera) if config.camera is not None else None
    return LaneDevices(display=display, camera=camera)


def _check_storage(gate: Gate, loop: GateThread) -> None:
    """The start-up quick_check, retried until every file has been checked (a file that
    could not be opened or read yet, say on a full disk, is checked once it can be)."""
    while not loop.stopping and not gate.check_storage():
        time.sleep(CHECK_RETRY_S)


def run(config: EdgeConfig) -> int:
    """Run the gate until SIGTERM or SIGINT; return the process exit code (``ExitCode``)."""
    try:
        for folder in data_folders(config):
            check_folder(folder)
    except UnusableFolderError as exc:
        log.error("cannot start: %s", exc)
        return ExitCode.DATA_DIR
    try:
        return _run(config)
    except SchemaTooNewError as exc:
        log.error("cannot start: %s", exc)
        return ExitCode.DATA_TOO_NEW


def _run(config: EdgeConfig) -> int:
    loop = GateThread()
    dispatch = loop.call_soon_threadsafe
    if config.gpio_backend is GpioBackend.SIMULATED:
        from hardware_sim.observed_pins import ObservedMockFactory  # noqa: PLC0415

        assert config.simulation is not None
        factory: Any = ObservedMockFactory(config.simulation.outputs_log)
    else:
        # A booth's config has no pins; edge.cli refuses it before a gate is built.
        assert config.gpio_backend is not None, "a booth's config cannot run a gate"
        factory = make_pin_factory(config.gpio_backend)

    def make_output(name: str, pin: PinConfig, initial: bool) -> GpioOutput:
        return GpioOutput(name, pin, factory, initial)

    def make_input(name: str, pin: PinConfig) -> GpioInput:
        return GpioInput(name, pin, factory, dispatch)

    def lane_events(kind: str, data: Mapping[str, object], *, alarm: bool = False) -> None:
        # From the display's writer thread: journalled on the control thread, where the gate
        # (built just below, before the loop runs anything) journals everything.
        def record() -> None:
            gate.journal.record(kind, data, alarm=alarm)

        dispatch(record)

    reader = build_reader(config.reader) if config.reader is not None else None
    lane_devices = build_lane_devices(config, lane_events)
    gate = Gate(config, clock=SystemClock(), scheduler=loop, make_output=make_output,
                make_input=make_input, reader=reader, dispatch=dispatch,
                display=lane_devices.display, camera=lane_devices.camera)
    server = ControlServer(config.control_socket, dispatch)
    register_gate_commands(server, gate)
    if config.gpio_backend is GpioBackend.SIMULATED:
        from hardware_sim.sim_hardware import attach_simulation  # noqa: PLC0415

        attach_simulation(config, factory, loop, server, gate)
    for name, handler in server.handlers.items():
        server.handlers[name] = _answer_storage_errors(handler)

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        loop.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    gate.start()
    _start_server(server, loop)
    # The whole-file check reads every page (seconds for a big whitelist or journal): done
    # while the gate already serves, damage found is handed back to the control thread.
    threading.Thread(target=_check_storage, args=(gate, loop), name="storage-check",
                     daemon=True).start()
    watchdog = sd_notify.watchdog_interval()
    sd_notify.ready(f"{config.device.role.value} {config.device.id} "
                    f"{gate.storage.status_line()}")
    log.info("gate %s (%s) ready; control socket %s", config.device.id,
             config.device.role.value, config.control_socket)
    try:
        # The watchdog is fed from the loop itself, so a hung loop stops feeding it and
        # systemd restarts the service.
        loop.run(on_idle=sd_notify.watchdog_ping,
                 idle_every=min(1.0, watchdog / 2) if watchdog else 1.0,
                 on_error=absorb_storage_error)
    finally:
        sd_notify.stopping()
        server.stop()
        lane_devices.stop_camera()
        gate.shutdown()
        lane_devices.close_display()
        if hasattr(factory, "close"):
            factory.close()
    log.info("gate %s stopped", config.device.id)
    return ExitCode.OK
