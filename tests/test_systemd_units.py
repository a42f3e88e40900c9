"""The unit files in systemd/ as systemd itself reads them.

``systemd-analyze verify`` parses a unit the way PID 1 does and reports unknown directives,
unparsable values and missing executables; a typo there would otherwise only show up on a Pi,
as a silently ignored hardening line. The units name the installed venv under /opt/menwei, so
each is verified from a copy whose executables point into the venv running the tests.

Longer than ~400 lines on purpose: each unit's hardening is checked line by line, next to
the others, so a directive dropped from one unit stands out.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNIT_DIR = REPO / "systemd"
UNIT_SUFFIXES = (".service", ".socket", ".timer", ".path", ".target")
UNITS = sorted(p for p in UNIT_DIR.iterdir() if p.suffix in UNIT_SUFFIXES)
INSTALLED_BIN = "/opt/menwei/venv/bin/"
EDGE_UNIT = UNIT_DIR / "menwei-edge@.service"
SYNC_UNIT = UNIT_DIR / "menwei-sync@.service"
BOOTH_UNIT = UNIT_DIR / "menwei-booth@.service"
# A drop-in, not a unit: installed as /etc/systemd/system/mosquitto.service.d/menwei.conf on
# top of the mosquitto.service of Debian's package.
MOSQUITTO_DROP_IN = UNIT_DIR / "mosquitto-menwei.conf"
DEBIAN_MOSQUITTO_UNIT = Path("/lib/systemd/system/mosquitto.service")
# Debian 12's mosquitto.service (2.0.11), for a machine without the package's unit file.
DEBIAN_MOSQUITTO_UNIT_TEXT = """\
[Unit]
Description=Mosquitto MQTT Broker
Documentation=man:mosquitto.conf(5) man:mosquitto(8)
After=network.target
Wants=network.target

[Service]
Type=notify
NotifyAccess=main
ExecStart=/usr/sbin/mosquitto -c /etc/mosquitto/mosquitto.conf
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
ExecStartPre=/bin/mkdir -m 740 -p /var/log/mosquitto
ExecStartPre=/bin/chown mosquitto /var/log/mosquitto
ExecStartPre=/bin/mkdir -m 740 -p /run/mosquitto
ExecStartPre=/bin/chown mosquitto /run/mosquitto

[Install]
WantedBy=multi-user.target
"""
MOSQUITTO_BIN = Path("/usr/sbin/mosquitto")

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None,
    reason="systemd-analyze not found (Debian package 'systemd'); unit files not verified",
)
needs_mosquitto = pytest.mark.skipif(
    not MOSQUITTO_BIN.exists(),
    reason="/usr/sbin/mosquitto not found (Debian package 'mosquitto'); the drop-in runs it",
)


@dataclass(frozen=True)
class Verified:
    """What ``systemd-analyze verify`` said about one unit."""

    returncode: int
    ours: list[str]  # diagnostics about our unit file
    other: list[str]  # anything else it printed (other units of the host system)


def _venv_bin(name: str) -> Path:
    # The console scripts sit next to the interpreter running the tests.
    return Path(sys.executable).parent / name


def _prepare(unit: Path, folder: Path, extra_service_lines: tuple[str, ...] = ()) -> Path:
    """Copy ``unit`` into ``folder`` with its /opt/menwei executables pointing into this venv;
    return the path to verify (for a template, an instance of it)."""
    text = unit.read_text(encoding="utf-8")
    for name in sorted(set(re.findall(re.escape(INSTALLED_BIN) + r"([\w.-]+)", text))):
        local = _venv_bin(name)
        assert local.exists(), f"{unit.name} runs {name}, which is not installed: pip install -e ."
        text = text.replace(INSTALLED_BIN + name, str(local))
    if extra_service_lines:
        text = text.replace("[Service]\n", "[Service]\n" + "\n".join(extra_service_lines) + "\n")
    copy = folder / unit.name
    copy.write_text(text, encoding="utf-8")
    if "@." in unit.name:
        # verify loads "name@instance.service" from the template in the same folder (it adds
        # the folders of the files it is given to the unit search path), with %i expanded.
        prefix, suffix = unit.name.split("@", 1)
        return folder / f"{prefix}@test{suffix}"
    return copy


def _prepare_drop_in(folder: Path, extra_service_lines: tuple[str, ...] = ()) -> Path:
    """Debian's mosquitto.service with our drop-in beside it, as installed; return the unit
    to verify (verify reads drop-ins from the folders of the units it is given)."""
    unit = folder / "mosquitto.service"
    if DEBIAN_MOSQUITTO_UNIT.exists():
        unit.write_text(DEBIAN_MOSQUITTO_UNIT.read_text(encoding="utf-8"), encoding="utf-8")
    else:
        unit.write_text(DEBIAN_MOSQUITTO_UNIT_TEXT, encoding="utf-8")
    text = MOSQUITTO_DROP_IN.read_text(encoding="utf-8")
    if extra_service_lines:
        text = text.replace("[Service]\n", "[Service]\n" + "\n".join(extra_service_lines) + "\n")
    drop_ins = folder / "mosquitto.service.d"
    drop_ins.mkdir()
    (drop_ins / "menwei.conf").write_text(text, encoding="utf-8")
    return unit


def _verify(path: Path) -> Verified:
    assert SYSTEMD_ANALYZE is not None
    env = dict(os.environ)
    env.update(
        LC_ALL="C",
        # Under a service manager (a CI runner started by systemd) the default log target
        # may be the journal, and the diagnostics would never reach us.
        SYSTEMD_LOG_TARGET="console",
        SYSTEMD_LOG_LEVEL="info",
        SYSTEMD_LOG_COLOR="0",
    )
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", str(path)],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )
    # Our copies are the only files in their folder; the unit is named by its file, its
    # template ("x@.service") or its instance ("x@test.service").
    template_name = re.sub(r"@[^.]*\.", "@.", path.name)
    markers = {str(path.parent), path.name, template_name}
    lines = [ln for ln in (result.stdout + result.stderr).splitlines() if ln.strip()]
    ours = [ln for ln in lines if any(m in ln for m in markers)]
    other = [ln for ln in lines if ln not in ours]
    return Verified(result.returncode, ours, other)


@needs_analyze
@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_unit_verifies_without_any_warning(unit: Path, tmp_path: Path) -> None:
    result = _verify(_prepare(unit, tmp_path))
    # A warning about our file is a directive systemd ignores: fail on every one.
    assert result.ours == [], "\n".join(result.ours)
    assert result.returncode == 0, "\n".join(result.other)


@needs_analyze
def test_an_unknown_directive_is_reported(tmp_path: Path) -> None:
    # The check above must be able to fail: a misspelt hardening line is exactly the mistake
    # systemd forgives silently on the Pi.
    result = _verify(_prepare(EDGE_UNIT, tmp_path, ("ProtectSytem=strict",)))
    assert any("Unknown key" in ln and "ProtectSytem" in ln for ln in result.ours), result


@needs_analyze
def test_a_bad_value_is_reported(tmp_path: Path) -> None:
    result = _verify(_prepare(EDGE_UNIT, tmp_path, ("WatchdogSec=ten seconds",)))
    assert any("ten seconds" in ln for ln in result.ours), result


@needs_analyze
def test_a_missing_executable_is_reported(tmp_path: Path) -> None:
    missing = _venv_bin("menwei-edge-missing")
    text = EDGE_UNIT.read_text(encoding="utf-8").replace(INSTALLED_BIN + "menwei-edge",
                                                         str(missing))
    (tmp_path / EDGE_UNIT.name).write_text(text, encoding="utf-8")
    result = _verify(tmp_path / "menwei-edge@test.service")
    assert result.returncode != 0
    assert any(str(missing) in ln for ln in result.ours), result


@needs_analyze
@needs_mosquitto
def test_mosquitto_drop_in_verifies_without_any_warning(tmp_path: Path) -> None:
    result = _verify(_prepare_drop_in(tmp_path))
    assert result.ours == [], "\n".join(result.ours)
    assert result.returncode == 0, "\n".join(result.other)


@needs_analyze
@needs_mosquitto
def test_an_unknown_directive_in_the_drop_in_is_reported(tmp_path: Path) -> None:
    # Proves the drop-in is really read by the check above.
    result = _verify(_prepare_drop_in(tmp_path, ("ProtectSytem=strict",)))
    assert any("Unknown key" in ln and "ProtectSytem" in ln and "menwei.conf" in ln
               for ln in result.ours), result


@needs_analyze
@pytest.mark.parametrize("unit", ["edge", "sync", "booth", "desk", "mosquitto"])
def test_hardening_exposure_stays_low(tmp_path: Path, unit: str) -> None:
    # systemd's own score of the sandbox (0 = locked down, 10 = none). Each unit scores about
    # 1.4 (Debian's mosquitto.service alone: 9.6); this catches a hardening block lost in an
    # edit, not small tuning.
    assert SYSTEMD_ANALYZE is not None
    if unit == "mosquitto":
        path = _prepare_drop_in(tmp_path)
    else:
        units = {"edge": EDGE_UNIT, "sync": SYNC_UNIT, "booth": BOOTH_UNIT,
                 "desk": UNIT_DIR / "menwei-desk.service"}
        path = _prepare(units[unit], tmp_path)
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=true", "--threshold=20", str(path)],
        capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"}, timeout=60,
        check=False,
    )
    if "--offline" in result.stderr and result.returncode != 0:
        pytest.skip("this systemd-analyze cannot score unit files offline (needs systemd 250+)")
    summary = [ln for ln in result.stdout.splitlines() if "Overall exposure" in ln]
    assert result.returncode == 0, "\n".join(summary) or result.stderr


# --- what the unit must say, read without systemd -------------------------------------------


def _directives(unit: Path) -> dict[tuple[str, str], list[str]]:
    """(section, key) -> every value assigned, in order; systemd allows repeated keys."""
    found: dict[tuple[str, str], list[str]] = {}
    section = ""
    for raw in unit.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        found.setdefault((section, key.strip()), []).append(value.strip())
    return found


def _words(values: list[str]) -> list[str]:
    return [word for value in values for word in value.split()]


@pytest.fixture(scope="module")
def edge_unit() -> dict[tuple[str, str], list[str]]:
    return _directives(EDGE_UNIT)


def test_edge_unit_runs_the_instance_config(edge_unit: dict[tuple[str, str], list[str]]) -> None:
    assert edge_unit[("Service", "ExecStart")] == [
        "/opt/menwei/venv/bin/menwei-edge run --config /etc/menwei/%i.toml"
    ]
    assert "menwei/%i" in _words(edge_unit[("Service", "StateDirectory")])
    assert edge_unit[("Install", "WantedBy")] == ["multi-user.target"]


def test_edge_unit_is_supervised_by_the_watchdog(
    edge_unit: dict[tuple[str, str], list[str]],
) -> None:
    assert edge_unit[("Service", "Type")] == ["notify"]
    assert edge_unit[("Service", "NotifyAccess")] == ["main"]
    assert edge_unit[("Service", "WatchdogSec")] == ["10s"]
    assert edge_unit[("Service", "Restart")] == ["always"]
    assert edge_unit[("Service", "RestartSec")] == ["1s"]
    assert edge_unit[("Service", "KillSignal")] == ["SIGTERM"]
    assert edge_unit[("Service", "TimeoutStopSec")] == ["5s"]
    # Without this, five quick crashes would leave the door dead until a reboot.
    assert edge_unit[("Unit", "StartLimitIntervalSec")] == ["0"]


@pytest.mark.parametrize("unit", [EDGE_UNIT, SYNC_UNIT, BOOTH_UNIT],
                         ids=["edge", "sync", "booth"])
def test_permanent_faults_are_not_retried(unit: Path) -> None:
    from edge.exit_codes import PERMANENT, ExitCode

    # A refused config, a data file from newer software, a data folder that cannot be made:
    # restarting cannot fix any of them, so systemd must not retry them every few seconds.
    prevented = {int(code) for code in _words(
        _directives(unit)[("Service", "RestartPreventExitStatus")])}
    assert prevented == {int(code) for code in PERMANENT}
    # ... and a crash still is retried.
    assert int(ExitCode.FAILED) not in prevented
    assert _directives(unit)[("Service", "Restart")] == ["always"]


def test_the_exit_codes_are_documented() -> None:
    from edge.exit_codes import ExitCode

    readme = (UNIT_DIR / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    for code in ExitCode:
        assert f"\n| {int(code)} |" in table, code


@needs_analyze
def test_this_systemd_has_no_growing_restart_delay(tmp_path: Path) -> None:
    # systemd 254+ understands RestartSteps=/RestartMaxDelaySec= (a restart back-off); Debian
    # 12's 252 ignores them with a warning, which the verify test above would reject. When
    # this fails, the installed systemd knows them: add them to the gate and agent units.
    result = _verify(_prepare(EDGE_UNIT, tmp_path, ("RestartSteps=5",
                                                    "RestartMaxDelaySec=1min")))
    assert any("Unknown key" in ln and "RestartSteps" in ln for ln in result.ours), \
        "this systemd knows RestartSteps=: use it in menwei-edge@ and menwei-sync@"


def test_edge_unit_is_hardened(edge_unit: dict[tuple[str, str], list[str]]) -> None:
    service = {key: values for (section, key), values in edge_unit.items()
               if section == "Service"}
    assert service["User"] == ["menwei"]
    assert {"gpio", "dialout"} <= set(_words(service["SupplementaryGroups"]))
    assert service["ProtectSystem"] == ["strict"]
    assert "/var/lib/menwei" in _words(service["ReadWritePaths"])
    for flag in ("ProtectHome", "PrivateTmp", "NoNewPrivileges", "ProtectKernelTunables",
                 "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups"):
        assert service[flag] == ["yes"], flag
    # The gate never touches the network.
    families = set(_words(service["RestrictAddressFamilies"]))
    assert "AF_UNIX" in families
    assert not families & {"AF_INET", "AF_INET6", "AF_PACKET"}
    # GPIO and readers need the real /dev, so devices are allow-listed instead.
    assert service["PrivateDevices"] == ["no"]
    assert service["DevicePolicy"] == ["closed"]
    assert "char-gpiochip rw" in service["DeviceAllow"]


def test_edge_unit_works_in_a_writable_folder(edge_unit: dict[tuple[str, str], list[str]]) -> None:
    # lgpio creates FIFOs in the working directory; under ProtectSystem=strict only the
    # state directory is writable.
    assert edge_unit[("Service", "WorkingDirectory")] == ["%S/menwei/%i"]


# --- the sync agent ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sync_unit() -> dict[tuple[str, str], list[str]]:
    return _directives(SYNC_UNIT)


def _service(unit: dict[tuple[str, str], list[str]]) -> dict[str, list[str]]:
    return {key: values for (section, key), values in unit.items() if section == "Service"}


def test_sync_unit_runs_the_instance_config(sync_unit: dict[tuple[str, str], list[str]]) -> None:
    assert sync_unit[("Service", "ExecStart")] == [
        "/opt/menwei/venv/bin/menwei-sync run --config /etc/menwei/%i.toml"
    ]
    assert sync_unit[("Install", "WantedBy")] == ["multi-user.target"]


def test_sync_unit_shares_the_gates_user_and_data_folder(
    sync_unit: dict[tuple[str, str], list[str]],
    edge_unit: dict[tuple[str, str], list[str]],
) -> None:
    sync, edge = _service(sync_unit), _service(edge_unit)
    # StateDirectory= re-owns the folder to the unit's user at every start: two users would
    # take auth.db and events.db from each other.
    assert sync["User"] == edge["User"] == ["menwei"]
    assert sync["Group"] == edge["Group"] == ["menwei"]
    assert "menwei/%i" in _words(sync["StateDirectory"])
    assert "menwei/%i" in _words(edge["StateDirectory"])
    assert sync["StateDirectoryMode"] == edge["StateDirectoryMode"]
    assert "/var/lib/menwei/%i" in _words(sync["ReadWritePaths"])
    assert sync["WorkingDirectory"] == ["%S/menwei/%i"]


def test_sync_unit_reaches_the_network_once_it_is_up(
    sync_unit: dict[tuple[str, str], list[str]],
) -> None:
    assert "network-online.target" in _words(sync_unit[("Unit", "Wants")])
    assert "network-online.target" in _words(sync_unit[("Unit", "After")])
    families = set(_words(sync_unit[("Service", "RestrictAddressFamilies")]))
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} <= families
    assert not families & {"AF_PACKET", "AF_NETLINK"}
    assert ("Service", "IPAddressDeny") not in sync_unit  # the broker is on the network


def test_sync_unit_is_supervised_and_restarted(
    sync_unit: dict[tuple[str, str], list[str]],
) -> None:
    service = _service(sync_unit)
    assert service["Type"] == ["notify"]  # sync.agent.edge_agent sends READY=1 and WATCHDOG=1
    assert service["NotifyAccess"] == ["main"]
    assert service["WatchdogSec"] == ["30s"]
    assert service["Restart"] == ["always"]
    assert sync_unit[("Unit", "StartLimitIntervalSec")] == ["0"]


def test_sync_unit_is_hardened(sync_unit: dict[tuple[str, str], list[str]]) -> None:
    service = _service(sync_unit)
    assert service["ProtectSystem"] == ["strict"]
    for flag in ("ProtectHome", "PrivateTmp", "PrivateDevices", "NoNewPrivileges",
                 "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
                 "ProtectControlGroups", "RestrictSUIDSGID"):
        assert service[flag] == ["yes"], flag
    assert service["CapabilityBoundingSet"] == [""]
    # Not the shared /var/lib/menwei (the car park's presence database): only its own folder.
    assert "/var/lib/menwei" not in _words(service["ReadWritePaths"])
    assert "menwei" not in _words(service["StateDirectory"])


@pytest.mark.parametrize("unit", [EDGE_UNIT, SYNC_UNIT], ids=["edge", "sync"])
def test_gate_and_agent_may_read_the_kernels_ntp_state(unit: Path) -> None:
    # NTP synchronisation is a trusted source of time (docs/edge.md): ProtectClock=yes and
    # ~@privileged forbid even reading it with adjtimex. No CAP_SYS_TIME: nothing can set it.
    service = _service(_directives(unit))
    assert service.get("ProtectClock", ["no"])[-1] != "yes"
    assert service["SystemCallFilter"][-1] == "adjtimex"
    assert service["CapabilityBoundingSet"] == [""]


# --- the guard's booth -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def booth_unit() -> dict[tuple[str, str], list[str]]:
    return _directives(BOOTH_UNIT)


@needs_analyze
def test_an_unknown_directive_in_the_booth_unit_is_reported(tmp_path: Path) -> None:
    # The parametrised verify above covers the booth unit; this shows it is really read.
    result = _verify(_prepare(BOOTH_UNIT, tmp_path, ("ProtectSytem=strict",)))
    assert any("Unknown key" in ln and "ProtectSytem" in ln for ln in result.ours), result


def test_booth_unit_runs_the_instance_config(
    booth_unit: dict[tuple[str, str], list[str]],
) -> None:
    from booth.cli import build_parser

    [exec_start] = booth_unit[("Service", "ExecStart")]
    binary, *argv = exec_start.split()
    assert binary == "/opt/menwei/venv/bin/menwei-booth"
    # The arguments are ones menwei-booth accepts (argparse exits 2 on any other).
    args = build_parser().parse_args(argv)
    assert (args.command, args.config) == ("run", "/etc/menwei/%i.toml")
    assert booth_unit[("Install", "WantedBy")] == ["multi-user.target"]


def test_booth_unit_is_restarted_for_ever(booth_unit: dict[tuple[str, str], list[str]]) -> None:
    service = _service(booth_unit)
    # uvicorn sends no READY=1: a notify unit would never leave "activating".
    assert service["Type"] == ["exec"]
    assert "WatchdogSec" not in service
    assert service["Restart"] == ["always"]
    assert service["RestartSec"] == ["1s"]
    assert booth_unit[("Unit", "StartLimitIntervalSec")] == ["0"]
    assert service["KillSignal"] == ["SIGTERM"]


def test_booth_unit_shares_the_gates_user_and_its_agents_folder(
    booth_unit: dict[tuple[str, str], list[str]],
    sync_unit: dict[tuple[str, str], list[str]],
) -> None:
    booth, sync = _service(booth_unit), _service(sync_unit)
    # The booth calls the gates' control sockets (menwei, 0750) and shares events.db and
    # booth-list.json with its agent (menwei-sync@ of the same instance).
    assert booth["User"] == sync["User"] == ["menwei"]
    assert booth["Group"] == sync["Group"] == ["menwei"]
    assert booth["StateDirectory"] == sync["StateDirectory"] == ["menwei/%i"]
    assert booth["StateDirectoryMode"] == sync["StateDirectoryMode"]
    assert booth["WorkingDirectory"] == ["%S/menwei/%i"]
    assert _words(booth["ReadWritePaths"]) == ["/var/lib/menwei/%i"]


def test_booth_unit_is_hardened(booth_unit: dict[tuple[str, str], list[str]]) -> None:
    service = _service(booth_unit)
    assert service["ProtectSystem"] == ["strict"]
    for flag in ("ProtectHome", "PrivateTmp", "PrivateDevices", "NoNewPrivileges",
                 "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
                 "ProtectControlGroups", "ProtectClock", "RestrictSUIDSGID"):
        assert service[flag] == ["yes"], flag
    assert service["CapabilityBoundingSet"] == [""]
    assert service["UMask"] == ["0027"]  # a visitor's ID number is in events.db
    # The page on the LAN, the gates over AF_UNIX; nothing else.
    families = set(_words(service["RestrictAddressFamilies"]))
    assert families == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert "network-online.target" in _words(booth_unit[("Unit", "After")])


# --- the site broker's drop-in ----------------------------------------------------------------


@pytest.fixture(scope="module")
def broker_drop_in() -> dict[tuple[str, str], list[str]]:
    return _directives(MOSQUITTO_DROP_IN)


def test_drop_in_runs_the_config_broker_config_writes(
    broker_drop_in: dict[tuple[str, str], list[str]],
) -> None:
    from sync.broker.config import BrokerLayout
    from sync.cli import build_parser

    # An empty ExecStart= first clears Debian's; otherwise systemd refuses a second one.
    exec_start = broker_drop_in[("Service", "ExecStart")]
    assert exec_start[0] == ""
    assert len(exec_start) == 2
    binary, flag, conf = exec_start[1].split()
    assert (binary, flag) == ("/usr/sbin/mosquitto", "-c")
    # The folder the README tells installers to pass to broker-config.
    layout = BrokerLayout(site="s", conf_dir=Path("/etc/mosquitto/menwei"),
                          data_dir=Path("/var/lib/mosquitto"), port=1883)
    assert conf == str(layout.conf)
    readme = (REPO / "firmware_config" / "mosquitto" / "README.md").read_text(encoding="utf-8")
    assert "--dir /etc/mosquitto/menwei" in readme
    # Debian's ExecStartPre= (mkdir/chown as root) cleared: nothing here runs as root.
    assert broker_drop_in[("Service", "ExecStartPre")] == [""]
    # broker-config's default persistence folder is the one the sandbox lets it write.
    args = build_parser().parse_args(["broker-config", "--site", "s", "--dir", "/x"])
    assert str(args.data_dir) in _words(broker_drop_in[("Service", "ReadWritePaths")])


def test_drop_in_runs_mosquitto_unprivileged_and_restarts_it(
    broker_drop_in: dict[tuple[str, str], list[str]],
) -> None:
    service = _service(broker_drop_in)
    assert service["User"] == ["mosquitto"]
    assert service["CapabilityBoundingSet"] == [""]
    assert service["Restart"] == ["always"]
    assert broker_drop_in[("Unit", "StartLimitIntervalSec")] == ["0"]
    assert service["ProtectSystem"] == ["strict"]
    for flag in ("ProtectHome", "PrivateTmp", "PrivateDevices", "NoNewPrivileges",
                 "MemoryDenyWriteExecute"):
        assert service[flag] == ["yes"], flag


# --- the central desk service ---------------------------------------------------------------

DESK_UNIT = UNIT_DIR / "menwei-desk.service"


@pytest.fixture(scope="module")
def desk_unit() -> dict[tuple[str, str], list[str]]:
    return _directives(DESK_UNIT)


@needs_analyze
def test_an_unknown_directive_in_the_desk_unit_is_reported(tmp_path: Path) -> None:
    # The parametrised verify above covers the desk unit; this shows it is really read.
    result = _verify(_prepare(DESK_UNIT, tmp_path, ("ProtectSytem=strict",)))
    assert any("Unknown key" in ln and "ProtectSytem" in ln for ln in result.ours), result


def test_desk_unit_serves_with_the_gate_link(desk_unit: dict[tuple[str, str], list[str]]) -> None:
    from central.cli import build_parser

    [exec_start] = desk_unit[("Service", "ExecStart")]
    binary, *argv = exec_start.split()
    assert binary == "/opt/menwei/venv/bin/menwei-desk"
    # The arguments are ones menwei-desk accepts (argparse exits 2 on any other).
    args = build_parser().parse_args(argv)
    assert args.command == "serve"
    assert args.sync_config == "/etc/menwei/desk-sync.toml"
    assert args.db == "sqlite:////var/lib/menwei-desk/desk.db"
    assert args.host == "127.0.0.1"  # TLS is a reverse proxy's job
    # The database lives in the one folder the sandbox lets the service write.
    assert args.db.removeprefix("sqlite:///").startswith(
        desk_unit[("Service", "ReadWritePaths")][0] + "/")
    assert desk_unit[("Install", "WantedBy")] == ["multi-user.target"]


def test_desk_unit_is_restarted_and_hardened(
    desk_unit: dict[tuple[str, str], list[str]],
) -> None:
    service = _service(desk_unit)
    assert service["User"] == ["menwei"]
    assert service["Restart"] == ["always"]
    assert service["RestartPreventExitStatus"] == ["2"]  # serve refusing desk-sync.toml
    assert desk_unit[("Unit", "StartLimitIntervalSec")] == ["0"]
    assert "network-online.target" in _words(desk_unit[("Unit", "After")])
    assert service["ProtectSystem"] == ["strict"]
    assert service["StateDirectory"] == ["menwei-desk"]
    for flag in ("ProtectHome", "PrivateTmp", "PrivateDevices", "NoNewPrivileges",
                 "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
                 "ProtectControlGroups", "RestrictSUIDSGID"):
        assert service[flag] == ["yes"], flag
    assert service["CapabilityBoundingSet"] == [""]
    families = set(_words(service["RestrictAddressFamilies"]))
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} <= families
    assert not families & {"AF_PACKET", "AF_NETLINK"}


def test_sweep_timer_runs_the_sweep_hourly_and_catches_up() -> None:
    timer = (UNIT_DIR / "menwei-desk-sweep.timer").read_text()
    service = (UNIT_DIR / "menwei-desk-sweep.service").read_text()
    assert "OnCalendar=hourly" in timer and "Persistent=true" in timer
    assert "menwei-desk sweep" in service and "Type=oneshot" in service
