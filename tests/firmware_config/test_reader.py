"""The generic reader of the declared tables: every error of every table in one report, in
the order of the file's declaration, each under its full key path (inline tables included),
and the reference printed from the same declaration."""

from __future__ import annotations

from typing import Any

import pytest

from firmware_config import reference
from firmware_config.schema import ConfigError, parse_config


def errors_of(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(doc, "/etc/menwei/x.toml")
    return info.value.errors


def door_with_mistakes(reader: dict[str, Any]) -> dict[str, Any]:
    """A door with one or two mistakes of each kind in several tables."""
    return {
        "site": {"id": "garden-court", "timezone": 8},                         # wrong type
        "device": {"id": "door-b1-lobby", "role": "door", "access_groups": ["b1"]},  # no data_dir
        "reader": reader,
        "gpio": {"backend": "lgpio"},
        "door": {"strike": {"pin": 17, "colour": "red"},                       # unknown, inline
                 "rex": {"active_high": False}},                               # required, inline
        "journal": {"max_events": "lots"},                                     # wrong type
        "sync": {"broker_port": 70000, "tls_cert_file": "d.crt"},              # out of bounds
    }


def test_every_error_of_every_table_at_once_with_its_key_path() -> None:
    reader = {"kind": "serial", "path": "/dev/ttyUSB0", "baudrate": 0, "parity": "none"}
    assert errors_of(door_with_mistakes(reader)) == [
        "site.timezone: must be a string (in quotes), got integer 8",
        "device.data_dir: is required",
        "reader.baudrate: must be from 300 to 4,000,000, got 0",
        "reader.parity: is not a known setting (misspelt?)",
        "door.strike.colour: is not a known setting (misspelt?)",
        "door.rex.pin: is required",
        "journal.max_events: must be a whole number, got string 'lots'",
        "sync.broker_port: must be from 1 to 65,535, got 70,000",
        # With [device] refused, the default user name (the device id) is unknown: no echo
        # of the device's error under sync.username.
        "sync.central_public_key: is required",
        "sync.tls_key_file: a client certificate needs both tls_cert_file and tls_key_file",
        "sync.tls_ca_file: required with a client certificate",
    ]


def test_an_unknown_reader_kind_still_checks_what_every_kind_shares() -> None:
    reader = {"kind": "rfid", "path": "/dev/ttyUSB0", "debounce": "0s", "baudrate": 9600,
              "parity": 1}
    reader_errors = [e for e in errors_of(door_with_mistakes(reader))
                     if e.startswith("reader.")]
    assert reader_errors == [
        "reader.kind: 'rfid' is not one of 'nfc', 'serial'",
        "reader.debounce: must be longer than zero",   # shared by both kinds: checked
        "reader.parity: is not a known setting (misspelt?)",  # baudrate: some kind's, not
    ]


def test_the_reference_command_prints_the_rendered_section(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert reference.main([]) == 0
    printed = capsys.readouterr().out
    assert printed == reference.render()
    assert printed.startswith("## Reference\n")
    assert "| `pulse` | duration, 100ms to 2m | `\"3s\"` |" in printed
