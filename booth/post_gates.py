"""The gates of a booth's post, reached through their control sockets (edge.control_socket).

The booth never drives a relay itself: every open, hold-open, lockdown, reset or presence
clear is a command to the gate, which journals it (with the guard and the reason) before
anything moves, and answers with what really happened. The gates are named by their own
config files (``[booth] gates``), so the booth and the gates can never disagree about a
device id or a socket path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from booth.refusals import BoothRefusal, GateUnreachable
from edge.control_socket import CommandError, ControlClient
from firmware_config.controller_tables import Role
from firmware_config.schema import ConfigError, EdgeConfig, load_config

# A guard waits at most this long for a gate's answer; the gate answers in milliseconds.
CALL_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class PostGate:
    """One gate of the post."""

    device: str
    role: Role
    socket: Path

    @property
    def is_barrier(self) -> bool:
        """A car-park lane (it has an arm, loops and anti-passback presence)."""
        return self.role in (Role.BARRIER_ENTRY, Role.BARRIER_EXIT)


def load_post_gates(paths: tuple[Path, ...]) -> tuple[PostGate, ...]:
    """The gates named by their config files; ConfigError listing every unusable one."""
    gates: list[PostGate] = []
    errors: list[str] = []
    for path in paths:
        try:
            config: EdgeConfig = load_config(path)
        except ConfigError as exc:
            errors.append(f"booth.gates: {path}: {'; '.join(exc.errors)}")
            continue
        if config.device.role is Role.BOOTH:
            errors.append(f"booth.gates: {path} is a booth's config, not a gate's")
            continue
        gates.append(PostGate(config.device.id, config.device.role, config.control_socket))
    if errors:
        raise ConfigError("[booth] gates", errors)
    return tuple(gates)


def _device_id(device: str) -> str:
    return device


class PostGates:
    """Calls the gates of the post; a gate that is down or refuses is a BoothRefusal with
    the reason in Chinese for the guard, naming the gate with ``gate_name`` (the booth's
    BoothService.gate_name: the name from the desk's list, else the device id)."""

    def __init__(self, gates: tuple[PostGate, ...], timeout: float = CALL_TIMEOUT_S, *,
                 gate_name: Callable[[str], str] = _device_id) -> None:
        self.gates = gates
        self.by_device = {g.device: g for g in gates}
        self.timeout = timeout
        self.gate_name = gate_name

    def gate(self, device: str) -> PostGate:
        """The gate ``device`` of this post; refused when it is not one."""
        gate = self.by_device.get(device)
        if gate is None:
            raise BoothRefusal(f"本岗没有门 {device}", f"no gate {device!r} at this post", "gate")
        return gate

    def call(self, device: str, cmd: str, **args: object) -> Any:
        """Run ``cmd`` on the gate ``device``; its result."""
        gate = self.gate(device)
        name = self.gate_name(device)
        try:
            with ControlClient(gate.socket, timeout=self.timeout) as client:
                return client.call(cmd, **args)
        except CommandError as exc:
            raise BoothRefusal(f"门 {name} 拒绝执行：{exc}", f"gate {name} refused: {exc}",
                               "gate") from exc
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise GateUnreachable(f"门 {name} 的控制程序未运行，请联系维修",
                                  f"gate {name} is not running (no control socket)",
                                  "gate") from exc
        except TimeoutError as exc:
            raise GateUnreachable(f"门 {name} 未在 {self.timeout:.0f} 秒内应答",
                                  f"gate {name} did not answer within {self.timeout:.0f} s",
                                  "gate") from exc
        except OSError as exc:
            raise GateUnreachable(f"无法连接门 {name}：{exc.strerror or exc}",
                                  f"cannot reach gate {name}: {exc.strerror or exc}",
                                  "gate") from exc

    def status(self, device: str) -> dict[str, Any] | None:
        """The gate's status, or None when it does not answer (the page shows it as down)."""
        try:
            result = self.call(device, "status")
        except BoothRefusal:
            return None
        return result if isinstance(result, dict) else None
