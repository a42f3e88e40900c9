"""The device config as an installer meets it: the shipped profiles load, and a wrong file is
refused with every mistake listed at once, each under its key path.

Longer than ~400 lines on purpose: one case per kind of installer mistake, each short; the
declaration they test is split over several modules, the mistakes an installer meets are not."""

from __future__ import annotations

import base64
import copy
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from pytest_mock import MockerFixture

from firmware_config import reference
from firmware_config.durations import parse_duration
from firmware_config.schema import (
    AntiPassbackMode,
    ConfigError,
    EdgeConfig,
    GpioBackend,
    LockType,
    NfcReaderConfig,
    PinConfig,
    Role,
    SerialReaderConfig,
    UntrustedClockPolicy,
    iter_profiles,
    load_config,
    parse_config,
)

PROFILES = list(iter_profiles())


def key_paths(error: ConfigError) -> list[str]:
    """The key path of each error, in order ("door.pulse" from "door.pulse: must be ...")."""
    return [e.split(": ", 1)[0] for e in error.errors]


def door_doc(**overrides: Any) -> dict[str, Any]:
    """A valid door document; ``overrides`` replace whole top-level tables (None drops one)."""
    doc: dict[str, Any] = {
        "site": {"id": "garden-court", "timezone": "Asia/Shanghai"},
        "device": {"id": "door-b1-lobby", "role": "door", "access_groups": ["residents-b1"],
                   "data_dir": "/var/lib/menwei/door-b1-lobby"},
        "reader": {"kind": "nfc", "path": "tty:AMA0:pn532"},
        "gpio": {"backend": "lgpio"},
        "door": {"strike": {"pin": 17},
                 "rex": {"pin": 27, "active_high": False, "pull_up": True},
                 "contact": {"pin": 22, "pull_up": True}},
    }
    for table, value in overrides.items():
        if value is None:
            doc.pop(table, None)
        else:
            doc[table] = value
    return doc


def barrier_doc(role: str = "barrier_entry") -> dict[str, Any]:
    """A valid barrier lane document."""
    return {
        "site": {"id": "garden-court"},
        "device": {"id": "carpark-entry-1", "role": role, "access_groups": ["parking"],
                   "data_dir": "/var/lib/menwei/carpark-entry-1"},
        "gpio": {"backend": "lgpio"},
        "barrier": {
            "raise_out": {"pin": 5}, "lower_out": {"pin": 6},
            "open_limit": {"pin": 13, "active_high": False, "pull_up": True},
            "closed_limit": {"pin": 19, "active_high": False, "pull_up": True},
            "arming_loop": {"pin": 20}, "safety_loop": {"pin": 21},
        },
        "antipassback": {"mode": "hard"},
    }


def with_key(doc: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A copy of ``doc`` with ``value`` at ``dotted`` ("door.strike.pin")."""
    doc = copy.deepcopy(doc)
    *parents, last = dotted.split(".")
    table = doc
    for name in parents:
        table = table.setdefault(name, {})
    table[last] = value
    return doc


def refuse(doc: dict[str, Any], source: Path | str = "/etc/menwei/test.toml") -> ConfigError:
    """The ConfigError ``doc`` must raise."""
    with pytest.raises(ConfigError) as info:
        parse_config(doc, source)
    return info.value


# --- the shipped profiles -------------------------------------------------------------------


def test_all_four_profiles_ship() -> None:
    assert [p.name for p in PROFILES] == ["barrier_entry.toml", "barrier_exit.toml",
                                          "booth.toml", "door.toml"]


@pytest.mark.parametrize("profile", PROFILES, ids=[p.stem for p in PROFILES])
def test_every_profile_loads(profile: Path) -> None:
    config = load_config(profile)
    assert isinstance(config, EdgeConfig)
    assert config.source == profile
    if config.booth is None:
        assert config.gpio_backend is GpioBackend.LGPIO  # profiles are for real Pis
    else:
        # A booth drives no pins; its gates are the other profiles, installed in /etc/menwei.
        assert config.gpio_backend is None
        assert {g.parent for g in config.booth.gates} == {Path("/etc/menwei")}
        gate_ids = {load_config(p).device.id for p in PROFILES if p != profile}
        assert {g.stem for g in config.booth.gates} == gate_ids
        assert config.device.role is Role.BOOTH
    assert config.simulation is None
    # The systemd unit makes only /var/lib/menwei writable: the profiles must live there.
    assert config.device.data_dir == Path("/var/lib/menwei") / config.device.id
    assert config.antipassback.presence_db.is_relative_to("/var/lib/menwei")
    assert config.control_socket == config.device.data_dir / "control.sock"


def test_door_profile_reads_as_written() -> None:
    config = load_config(Path(__file__).parents[2] / "firmware_config/profiles/door.toml")
    assert config.device.role is Role.DOOR
    assert config.device.access_groups == ("residents-b1", "staff")
    assert config.reader == NfcReaderConfig("tty:AMA0:pn532", 2.0, 1.0, 30.0)
    assert config.barrier is None
    door = config.door
    assert door is not None
    assert door.strike == PinConfig("GPIO17", active_high=True)
    assert door.rex == PinConfig("GPIO27", active_high=False, pull_up=True)
    assert door.contact == PinConfig("GPIO22", active_high=True, pull_up=True)
    assert (door.lock_type, door.pulse, door.held_open_after, door.shutdown_state) == (
        LockType.FAIL_SECURE, 3.0, 30.0, "locked")
    assert config.clock.untrusted_policy is UntrustedClockPolicy.SKIP_TIME_CHECKS
    assert config.clock.hwm_interval == 60.0
    assert config.journal.max_events == 2_000_000
    assert config.antipassback.mode is AntiPassbackMode.OFF


@pytest.mark.parametrize("name", ["barrier_entry", "barrier_exit"])
def test_barrier_profiles_read_as_written(name: str) -> None:
    config = load_config(Path(__file__).parents[2] / f"firmware_config/profiles/{name}.toml")
    assert config.device.role is Role(name)
    assert config.door is None
    assert config.reader == SerialReaderConfig("/dev/ttyUSB0", 9600, "\r\n", "hex",
                                               3.0, 1.0, 30.0)
    barrier = config.barrier
    assert barrier is not None
    assert barrier.raise_out == PinConfig("GPIO23", active_high=True)
    assert barrier.lower_out == PinConfig("GPIO24", active_high=True)
    assert barrier.closed_limit == PinConfig("GPIO19", active_high=False, pull_up=True)
    assert barrier.safety_loop == PinConfig("GPIO21", active_high=True)
    assert (barrier.travel_timeout, barrier.close_delay, barrier.max_open) == (6.0, 1.5, 45.0)
    assert config.antipassback.mode is AntiPassbackMode.HARD
    assert config.antipassback.reset_after == 12 * 3600
    # The two lanes of one car park share one presence file.
    assert config.antipassback.presence_db == Path("/var/lib/menwei/carpark-1-presence.db")


def test_defaults_fill_what_a_minimal_file_leaves_out() -> None:
    doc = door_doc(reader=None)
    doc["door"] = {"strike": {"pin": 17}}
    config = parse_config(doc, "/etc/menwei/door.toml")
    assert config.reader is None
    assert config.site.timezone == "Asia/Shanghai"
    assert config.door is not None
    assert (config.door.pulse, config.door.held_open_after) == (3.0, 30.0)
    assert config.door.lock_type is LockType.FAIL_SECURE
    assert (config.door.rex, config.door.contact) == (None, None)
    assert config.antipassback.presence_db == config.device.data_dir / "presence.db"
    assert config.auth_db == Path("/var/lib/menwei/door-b1-lobby/auth.db")
    assert config.events_db == Path("/var/lib/menwei/door-b1-lobby/events.db")


def test_a_simulated_backend_gets_simulation_defaults() -> None:
    config = parse_config(door_doc(gpio={"backend": "simulated"}), "/tmp/x.toml")
    assert config.simulation is not None
    assert (config.simulation.arm_travel, config.simulation.door_pass_time) == (2.0, 2.0)


# --- every mistake at once ------------------------------------------------------------------

MANY_MISTAKES = """\
[site]
id = 5
timezone = "Asia/Shangai"

[device]
id = "door/b1"
role = "door"
data_dir = "data"

[reader]
kind = "nfc"
path = "tty:AMA0:pn532"
debounce = "3 sec"
retry_max = 30

[gpio]
backend = "lgpio"

[door]
lock_type = "fail_open"
puls = "3s"
held_open_after = "-1s"
strike = { pin = 17, pull_up = true }
rex = { pin = "GPIO17", active_high = false, pull_up = true }
contact = { pin = 22, pull_up = "yes" }

[barrier]
raise_out = { pin = 5 }

[antipassback]
mode = "hard"

[journal]
max_events = 10

[clock]
untrusted_policy = "allow_all"
hwm_interval = "0s"

[simulation]
arm_travel = "2s"

[mqtt]
host = "broker.local"
"""

MANY_MISTAKES_PATHS = {
    "site.id",                 # wrong type
    "site.timezone",           # not a zone
    "device.id",               # '/' would split an MQTT topic
    "device.access_groups",    # missing required key
    "reader.debounce",         # "3 sec"
    "reader.retry_max",        # a bare number
    "door.lock_type",          # bad enum value
    "door.puls",               # misspelt pulse
    "door.held_open_after",    # negative
    "door.strike.pull_up",     # outputs have no pull resistor
    "door.rex.pin",            # GPIO17 again
    "door.contact.pull_up",    # wrong type
    "barrier",                 # a door takes no [barrier]
    "antipassback.mode",       # not for a door
    "journal.max_events",      # too small
    "clock.untrusted_policy",  # bad enum value
    "clock.hwm_interval",      # zero
    "simulation",              # without gpio.backend = "simulated"
    "mqtt",                    # unknown table
}


def test_a_file_with_many_mistakes_lists_every_one(tmp_path: Path) -> None:
    path = tmp_path / "door.toml"
    path.write_text(MANY_MISTAKES, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    error = info.value
    paths = key_paths(error)
    assert set(paths) == MANY_MISTAKES_PATHS
    assert len(paths) == len(MANY_MISTAKES_PATHS), "one error per mistake, no echoes"
    # The report an installer reads: the file, the count, then one line per error.
    lines = error.report().splitlines()
    assert lines[0] == f"{path}: {len(MANY_MISTAKES_PATHS)} error(s)"
    assert lines[1:] == [f"  - {e}" for e in error.errors]
    assert str(error) == error.report()
    assert error.source == path


def test_many_mistakes_messages_say_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "door.toml"
    path.write_text(MANY_MISTAKES, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    by_path = dict(e.split(": ", 1) for e in info.value.errors)
    assert by_path["site.id"] == "must be a string (in quotes), got integer 5"
    assert "'Asia/Shangai' is not a known IANA time zone" in by_path["site.timezone"]
    assert by_path["device.access_groups"] == "is required"
    assert "'3 sec' is not a duration" in by_path["reader.debounce"]
    assert by_path["reader.retry_max"] == 'must be a duration with a unit in quotes, e.g. "30s"'
    assert "'fail_open' is not one of 'fail_secure', 'fail_safe'" in by_path["door.lock_type"]
    assert "misspelt" in by_path["door.puls"]
    assert by_path["door.rex.pin"] == "GPIO17 is already used by door.strike"
    assert "no [barrier] table" in by_path["barrier"]
    assert 'gpio.backend = "simulated"' in by_path["simulation"]


# --- one mistake at a time ------------------------------------------------------------------

ONE_MISTAKE = [
    # (key, value, the one key path reported, part of its message)
    ("site.timezone", "Asia", "site.timezone", "not a known IANA time zone"),
    ("site.timezone", "../../etc/passwd", "site.timezone", "not a known IANA time zone"),
    ("site.id", "", "site.id", "must not be empty"),
    ("site.id", "garden court", "site.id", "letters, digits"),
    ("device.role", "gate", "device.role", "'gate' is not one of 'door', 'barrier_entry'"),
    ("device.access_groups", [], "device.access_groups", "non-empty list"),
    ("device.access_groups", ["b1", 7], "device.access_groups", "non-empty list"),
    ("device.data_dir", 3, "device.data_dir", "must be a string"),
    ("device.colour", "red", "device.colour", "not a known setting"),
    ("reader.kind", "rfid", "reader.kind", "'rfid' is not one of 'nfc', 'serial'"),
    ("reader.path", "/dev/ttyAMA0", "reader.path", "not an nfcpy device path"),
    ("reader.baudrate", 9600, "reader.baudrate", "not a known setting"),  # nfc takes none
    ("reader.retry_initial", "1m", "reader.retry_initial", "not be longer than retry_max"),
    ("gpio.backend", "rpigpio", "gpio.backend", "'rpigpio' is not one of 'lgpio', 'simulated'"),
    ("gpio", "lgpio", "gpio", "must be a table, got str"),
    ("door.strike.pin", 28, "door.strike.pin", "not a GPIO of the 40-pin header"),
    ("door.strike.pin", -1, "door.strike.pin", "not a GPIO of the 40-pin header"),
    ("door.strike.pin", True, "door.strike.pin", "must be a BCM GPIO number"),
    ("door.strike.pin", "BOARD11", "door.strike.pin", "must be a BCM GPIO number"),
    ("door.strike.pin", "BCM22", "door.contact.pin", "GPIO22 is already used by door.strike"),
    ("door.strike.pin", 14, "door.strike.pin", "GPIO14 is already used by reader.path"),
    ("door.strike.active_high", "yes", "door.strike.active_high", "must be true or false"),
    ("door.strike", 17, "door.strike", "must be a table, got int"),
    ("door.pulse", "0s", "door.pulse", "must be longer than zero"),
    ("door.pulse", "3", "door.pulse", "is not a duration"),
    ("door.pulse", "1h30m", "door.pulse", "is not a duration"),
    ("door.pulse", 3.5, "door.pulse", 'with a unit in quotes, e.g. "3.5s"'),
    ("door.shutdown_state", "open", "door.shutdown_state", "not one of 'locked', 'unlocked'"),
    ("journal.max_events", True, "journal.max_events", "must be a whole number"),
    ("journal.max_events", 999, "journal.max_events", "must be from 1,000 to 20,000,000"),
    ("journal.max_events", 10**9, "journal.max_events", "got 1,000,000,000"),
    ("door.pulse", "240h", "door.pulse", 'must be from "100ms" to "2m", got \'240h\''),
    ("door.pulse", "50ms", "door.pulse", 'must be from "100ms" to "2m"'),
    ("door.held_open_after", "2s", "door.held_open_after", 'must be from "5s" to "1h"'),
    ("reader.debounce", "0s", "reader.debounce", "must be longer than zero"),
    ("reader.debounce", "10ms", "reader.debounce", 'must be from "100ms" to "1m"'),
    ("reader.retry_max", "2d", "reader.retry_max", 'must be from "1s" to "1h"'),
    ("clock.hwm_interval", "1d", "clock.hwm_interval", 'must be from "1s" to "1h"'),
    ("antipassback.reset_after", "10s", "antipassback.reset_after",
     'must be from "1m" to "30d"'),
    ("control.socket", "/run/menwei/" + "x" * 100 + ".sock", "control.socket", "longer than"),
]


@pytest.mark.parametrize(("key", "value", "reported", "message"), ONE_MISTAKE,
                         ids=[f"{k}={v!r}"[:40] for k, v, _, _ in ONE_MISTAKE])
def test_one_mistake_one_error(key: str, value: Any, reported: str, message: str) -> None:
    error = refuse(with_key(door_doc(), key, value))
    assert key_paths(error) == [reported], error.errors
    assert message in error.errors[0]


# --- limits ---------------------------------------------------------------------------------

SERIAL = {"kind": "serial", "path": "/dev/ttyUSB0"}
SYNC = {"central_public_key": base64.b64encode(bytes(32)).decode()}
OUT_OF_LIMITS = [
    # (document, key, value, part of the message)
    (barrier_doc(), "barrier.travel_timeout", "3m", 'must be from "1s" to "2m", got \'3m\''),
    (barrier_doc(), "barrier.close_delay", "50ms", 'must be from "100ms" to "1m"'),
    (barrier_doc(), "barrier.max_open", "240h", 'must be from "5s" to "1h"'),
    (door_doc(reader=SERIAL), "reader.baudrate", 0, "must be from 300 to 4,000,000, got 0"),
    (door_doc(reader=SERIAL), "reader.baudrate", 10_000_000, "must be from 300 to 4,000,000"),
    (door_doc(sync=SYNC), "sync.batch_size", 5000, "must be from 1 to 1,000, got 5,000"),
    (door_doc(sync=SYNC), "sync.batch_size", 0, "must be from 1 to 1,000, got 0"),
    (door_doc(sync=SYNC), "sync.status_interval", "500ms", 'must be from "1s" to "1h"'),
    (door_doc(sync=SYNC), "sync.reconnect_max", "2h", 'must be from "1s" to "1h"'),
    (door_doc(sync=SYNC), "sync.clock_tolerance", "2d", 'must be from "1s" to "1d"'),
    (door_doc(gpio={"backend": "simulated"}), "simulation.door_pass_time", "1ms",
     'must be from "10ms" to "1m"'),
]


@pytest.mark.parametrize(("doc", "key", "value", "message"), OUT_OF_LIMITS,
                         ids=[f"{k}={v!r}" for _, k, v, _ in OUT_OF_LIMITS])
def test_a_value_outside_its_limits_is_refused(doc: dict[str, Any], key: str, value: Any,
                                               message: str) -> None:
    error = refuse(with_key(doc, key, value))
    assert key_paths(error) == [key], error.errors
    assert message in error.errors[0]


@pytest.mark.parametrize(("key", "low", "high"), [
    ("door.pulse", "100ms", "2m"), ("reader.debounce", "100ms", "1m"),
    ("journal.max_events", 1000, 20_000_000), ("clock.hwm_interval", "1s", "1h"),
])
def test_both_ends_of_a_limit_are_allowed(key: str, low: Any, high: Any) -> None:
    for value in (low, high):
        parse_config(with_key(door_doc(), key, value), "/etc/menwei/x.toml")




def test_every_value_outside_its_limits_is_listed_and_check_config_exits_2(
        tmp_path: Path) -> None:
    doc = door_doc(reader={**SERIAL, "baudrate": 0, "debounce": "0s"},
                   journal={"max_events": 10}, clock={"hwm_interval": "30d"})
    doc["door"] |= {"pulse": "240h", "held_open_after": "1s"}
    path = tmp_path / "door.toml"
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "edge.cli", "check-config", str(path)],
                            capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).parents[2])
    assert result.returncode == 2, result.stderr
    reported = [line.removeprefix("  - ").split(": ", 1)[0]
                for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert reported == ["reader.debounce", "reader.baudrate", "door.pulse",
                        "door.held_open_after", "journal.max_events", "clock.hwm_interval"]
    assert f"{path}: 6 error(s)" in result.stderr
    assert 'door.pulse: must be from "100ms" to "2m", got \'240h\'' in result.stderr


@pytest.mark.parametrize("table", ["site", "device", "gpio"])
def test_a_missing_required_table_is_named(table: str) -> None:
    error = refuse(door_doc(**{table: None}))
    assert key_paths(error) == [table]
    assert error.errors[0] == f"{table}: is required"


def test_a_door_needs_its_door_table() -> None:
    assert key_paths(refuse(door_doc(door=None))) == ["door"]


def test_a_door_needs_a_strike() -> None:
    assert key_paths(refuse(door_doc(door={"pulse": "3s"}))) == ["door.strike"]


def test_a_barrier_lane_takes_no_door_table() -> None:
    doc = barrier_doc()
    doc["door"] = {"strike": {"pin": 17}}
    assert key_paths(refuse(doc)) == ["door"]


def test_a_barrier_needs_all_six_lines() -> None:
    doc = barrier_doc()
    del doc["barrier"]["safety_loop"]
    del doc["barrier"]["open_limit"]
    assert set(key_paths(refuse(doc))) == {"barrier.safety_loop", "barrier.open_limit"}


def test_a_barrier_pin_used_twice_across_outputs_and_inputs() -> None:
    doc = with_key(barrier_doc(), "barrier.safety_loop.pin", "GPIO5")
    error = refuse(doc)
    assert error.errors == ["barrier.safety_loop.pin: GPIO5 is already used by barrier.raise_out"]


def test_pin_names_are_normalised_to_gpio_names() -> None:
    doc = with_key(door_doc(), "door.strike.pin", "bcm18")
    doc = with_key(doc, "door.rex.pin", "GPIO23")
    doc = with_key(doc, "door.contact.pin", "24")
    door = parse_config(doc, "/etc/menwei/x.toml").door
    assert door is not None
    assert (door.strike.pin, door.rex and door.rex.pin, door.contact and door.contact.pin) == (
        "GPIO18", "GPIO23", "GPIO24")


def test_a_wrong_role_does_not_also_flag_the_door_table() -> None:
    # With the role unknown, nobody can say whether [door] belongs; one error, not two.
    error = refuse(with_key(door_doc(), "device.role", "doors"))
    assert key_paths(error) == ["device.role"]


def test_other_device_errors_do_not_hide_the_door_tables_errors() -> None:
    doc = with_key(door_doc(), "device.access_groups", "b1")
    doc = with_key(doc, "door.puls", "3s")
    assert set(key_paths(refuse(doc))) == {"device.access_groups", "door.puls"}


def test_an_unknown_reader_kind_does_not_call_its_settings_misspelt() -> None:
    doc = door_doc(reader={"kind": "serail", "path": "/dev/ttyUSB0", "baudrate": 9600})
    assert key_paths(refuse(doc)) == ["reader.kind"]


def test_a_serial_reader_checks_its_own_settings() -> None:
    doc = door_doc(reader={"kind": "serial", "path": "/dev/ttyUSB0", "baudrate": 0,
                           "uid_format": "base64", "line_terminator": ""})
    assert set(key_paths(refuse(doc))) == {"reader.baudrate", "reader.uid_format",
                                           "reader.line_terminator"}
    doc = door_doc(reader={"kind": "serial", "path": "/dev/ttyUSB0", "line_terminator": "。"})
    assert refuse(doc).errors == ["reader.line_terminator: must be ASCII, got '。'"]


def test_simulation_is_not_blamed_when_the_backend_itself_is_wrong() -> None:
    doc = door_doc(gpio={"backend": "lgpoi"}, simulation={"arm_travel": "2s"})
    assert key_paths(refuse(doc)) == ["gpio.backend"]


def test_simulation_with_the_simulated_backend_is_accepted(tmp_path: Path) -> None:
    doc = door_doc(gpio={"backend": "simulated"},
                   reader={"kind": "nfc", "path": "udp:127.0.0.1:54321"},
                   simulation={"outputs_log": "out/outputs.log", "door_pass_time": "500ms"})
    config = parse_config(doc, tmp_path / "sim.toml")
    assert config.simulation is not None
    assert config.simulation.outputs_log == tmp_path / "out/outputs.log"
    assert config.simulation.door_pass_time == 0.5


def test_a_long_data_dir_is_refused_for_its_control_socket() -> None:
    doc = with_key(door_doc(), "device.data_dir", "/var/lib/menwei/" + "d" * 100)
    error = refuse(doc)
    assert key_paths(error) == ["device.data_dir"]
    assert "control.sock" in error.errors[0]
    assert "set a shorter control.socket" in error.errors[0]


# --- durations ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [
    ("500ms", 0.5), ("3s", 3.0), ("1.5s", 1.5), ("2m", 120.0), ("2min", 120.0),
    ("12h", 43200.0), ("1d", 86400.0), ("3 s", 3.0), (" 45s ", 45.0), ("0s", 0.0),
])
def test_durations_in_human_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", [
    "3",        # no unit: seconds or milliseconds?
    "-1s",      # negative
    "+1s",
    "3 sec",    # not one of our units
    "3S",       # units are lower case, as written in the docs
    "1h30m",    # compound: write "90m"
    ".5s",
    "1e3ms",
    "s",
    "",
    "３s",      # full-width digit from a Chinese input method
])
def test_durations_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_a_refused_duration_shows_the_accepted_forms() -> None:
    with pytest.raises(ValueError) as info:
        parse_duration("3 sec")
    assert '"500ms", "3s"' in str(info.value)


# --- paths, files and TOML ------------------------------------------------------------------

MINIMAL_DOOR = """\
[site]
id = "garden-court"

[device]
id = "door-b1-lobby"
role = "door"
access_groups = ["residents-b1"]
data_dir = "/var/lib/menwei/door-b1-lobby"

[gpio]
backend = "lgpio"

[door]
strike = { pin = 17 }
"""

# The line a mistake appended to MINIMAL_DOOR is on.
NEXT_LINE = len(MINIMAL_DOOR.splitlines()) + 1


def test_relative_paths_are_read_from_the_configs_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    path = folder / "door.toml"
    doc_text = MINIMAL_DOOR.replace('data_dir = "/var/lib/menwei/door-b1-lobby"',
                                    'data_dir = "data/door"')
    doc_text += '\n[antipassback]\npresence_db = "../shared/presence.db"\n'
    path.write_text(doc_text, encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # not the config's folder
    config = load_config(path)
    assert config.device.data_dir == folder / "data/door"
    assert config.device.data_dir.is_absolute()
    assert config.events_db == folder / "data/door/events.db"
    assert config.control_socket == folder / "data/door/control.sock"
    assert config.antipassback.presence_db == tmp_path / "shared/presence.db"


def test_a_relative_control_socket_is_read_from_the_configs_folder(tmp_path: Path) -> None:
    config = parse_config(door_doc(control={"socket": "run/gate.sock"}), tmp_path / "d.toml")
    assert config.control_socket == tmp_path / "run/gate.sock"




def test_invalid_toml_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "door.toml"
    path.write_text(MINIMAL_DOOR + "pulse = 3s\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (message,) = info.value.errors
    assert message.startswith("not valid TOML: ")
    assert f"line {NEXT_LINE}," in message
    assert "pulse = 3s" in message
    assert "need quotes" in message
    assert info.value.report().startswith(f"{path}: 1 error(s)")


def test_an_unclosed_table_header_is_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "door.toml"
    path.write_text("[site\nid = 'x'\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (message,) = info.value.errors
    assert "line 1" in message
    assert "need quotes" not in message


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    # Notepad on Windows saves "UTF-8" with a BOM, which TOML itself forbids.
    path = tmp_path / "door.toml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL_DOOR.encode("utf-8"))
    assert load_config(path).device.id == "door-b1-lobby"


def test_a_file_not_in_utf8_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "door.toml"
    path.write_bytes((MINIMAL_DOOR + "# 大堂门禁\n").encode("gbk"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.errors == [
        f"not UTF-8 text (line {NEXT_LINE} cannot be decoded); save the file as UTF-8"]


def test_chinese_text_in_utf8_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "door.toml"
    path.write_text(MINIMAL_DOOR + "# 大堂门禁\n", encoding="utf-8")
    assert load_config(path).device.id == "door-b1-lobby"


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml")
    assert info.value.errors == ["cannot read the file: No such file or directory"]
    assert info.value.report().startswith(f"{tmp_path / 'nope.toml'}: 1 error(s)")


def test_a_folder_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert info.value.errors == ["cannot read the file: Is a directory"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file; permissions cannot fail")
def test_an_unreadable_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "door.toml"
    path.write_text(MINIMAL_DOOR, encoding="utf-8")
    path.chmod(0)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.errors == ["cannot read the file: Permission denied"]


def test_an_unreadable_file_is_reported_even_as_root(
    tmp_path: Path, mocker: MockerFixture
) -> None:
    # The fault root cannot make for real (it reads any file): the installer's case of a
    # config left 0600 root while the gate runs as menwei.
    path = tmp_path / "door.toml"
    path.write_text(MINIMAL_DOOR, encoding="utf-8")
    mocker.patch.object(Path, "open",
                        side_effect=PermissionError(13, "Permission denied", str(path)))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.errors == ["cannot read the file: Permission denied"]


# --- the reference in README.md matches the schema ------------------------------------------

README = Path(__file__).parents[2] / "firmware_config" / "README.md"


def documented() -> dict[str, str]:
    """``"table.key"`` -> the default column, for every row of README's reference; pin table
    keys as ``"pin.key"``."""
    rows: dict[str, str] = {}
    table: str | None = None
    in_reference = False
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            in_reference = line == "## Reference"
        if not in_reference:
            continue
        if heading := re.match(r"^### `\[(\w+)\]`$", line):
            table = heading.group(1)
        elif line == "### Pin tables":
            table = "pin"
        elif table and (row := re.match(r"^\| `(\w+)` \|[^|]*\| ([^|]*) \|", line)):
            rows[f"{table}.{row.group(1)}"] = row.group(2)
    return rows


def full_docs() -> tuple[dict[str, Any], dict[str, Any]]:
    """A door with a serial reader and every optional table, and a barrier lane: together
    they make the parser ask for every key it knows."""
    door = door_doc(reader={"kind": "serial", "path": "/dev/ttyUSB0"},
                    gpio={"backend": "simulated"}, simulation={}, antipassback={}, journal={},
                    clock={}, control={},
                    sync={"central_public_key": base64.b64encode(bytes(32)).decode()})
    barrier = {**barrier_doc(), "lane": {}, "display": {"path": "/dev/ttyUSB1"},
               "camera": {"camera_address": "192.168.50.20"}}
    return door, barrier


def test_the_reference_is_the_one_the_declared_tables_render() -> None:
    # Keys, types, limits, defaults and meanings all come from the declaration: a key added,
    # renamed or given new limits there without `python -m firmware_config.reference --write`
    # fails here.
    assert reference.section_of(README.read_text(encoding="utf-8")) == reference.render(), (
        "run: python -m firmware_config.reference --write")


def test_the_reference_states_the_defaults_the_schema_applies() -> None:
    door, barrier = full_docs()
    booth = {"site": door["site"], "device": {**door["device"], "role": "booth"},
             "booth": {"post": "东门岗", "gates": ["door.toml"]}}
    configs = [parse_config(door, "/etc/menwei/x.toml"),
               parse_config(barrier, "/etc/menwei/x.toml"),
               parse_config(booth, "/etc/menwei/booth.toml")]
    checked = 0
    for dotted, default in documented().items():
        if not default.startswith("`") or "<" in default:
            continue  # required, none, or derived from data_dir
        table, key = dotted.split(".")
        if table == "pin":
            continue  # checked below
        expected = tomllib.loads(f"v = {default.strip('`')}")["v"]
        for config in configs:
            holder = {"gpio": None, "control": None}.get(table, getattr(config, table, None))
            if holder is None:
                continue
            value = getattr(holder, key)
            if isinstance(value, float) and isinstance(expected, str):
                expected = parse_duration(expected)
            assert value == expected, dotted
            checked += 1
            break
        else:
            pytest.fail(f"{dotted}: no config in the test has this table")
    assert checked >= 20
    # Pin tables: active_high defaults to true, pull_up to none.
    assert configs[0].door is not None
    assert configs[0].door.strike == PinConfig("GPIO17", active_high=True, pull_up=None)
