"""The booth's foundations: its config, its store (a record and its journal event commit
together), the desk's list as the booth keeps it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import tomli_w

from booth.list_file import FILE_NAME, ListRefused, store_if_newer
from booth.store import BoothStore
from edge.ports import SystemClock
from firmware_config.schema import ConfigError, load_config
from sync.wire.signing import sign
from tests.booth.booth_rig import BOOTH, SITE, BoothRig, booth_list


def test_a_booth_config_names_its_gates_and_refuses_gate_tables(rig: BoothRig,
                                                                  tmp_path: Path) -> None:
    assert rig.config is not None and rig.config.booth is not None
    assert len(rig.config.booth.gates) == 3
    assert rig.config.gpio_backend is None
    doc = {"site": {"id": SITE}, "device": {"id": "b", "role": "booth",
                                            "access_groups": ["x"],
                                            "data_dir": str(tmp_path / "d")},
           "gpio": {"backend": "simulated"}, "booth": {"post": "东门岗", "gates": []}}
    path = tmp_path / "bad.toml"
    path.write_text(tomli_w.dumps(doc))
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    text = refused.value.report()
    assert "gpio: a booth takes no [gpio] table" in text
    assert "booth.gates: must be a non-empty list of file paths" in text


def test_a_gate_config_with_a_booth_table_is_refused(rig: BoothRig, tmp_path: Path) -> None:
    gate = rig.gate_configs["door-1"].source
    text = gate.read_text() + '\n[booth]\npost = "x"\ngates = ["a.toml"]\n'
    path = tmp_path / "door-with-booth.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="only a booth"):
        load_config(path)


def test_a_record_and_its_journal_event_commit_together(tmp_path: Path) -> None:
    store = BoothStore(tmp_path / "events.db", SystemClock(), max_events=10_000)
    store.migrate("things", ["CREATE TABLE things (id INTEGER PRIMARY KEY, what TEXT)"])
    with store.record() as rec:
        rec.execute("INSERT INTO things (what) VALUES ('a')")
        rec.append("thing_added", {"what": "a"})
    with pytest.raises(RuntimeError), store.record() as rec:
        rec.execute("INSERT INTO things (what) VALUES ('b')")
        rec.append("thing_added", {"what": "b"})
        raise RuntimeError("power cut")
    store.close()
    conn = sqlite3.connect(tmp_path / "events.db")
    assert conn.execute("SELECT what FROM things").fetchall() == [("a",)]
    assert conn.execute("SELECT seq, kind FROM events").fetchall() == [(1, "thing_added")]
    # The rolled-back event gave its number back: the next one is 2, no gap.
    store = BoothStore(tmp_path / "events.db", SystemClock(), max_events=10_000)
    with store.record() as rec:
        assert rec.append("thing_added", {"what": "c"}) == 2
    store.close()


def test_the_kept_list_only_moves_forward_and_must_be_signed(rig: BoothRig) -> None:
    assert rig.config is not None
    path = rig.config.device.data_dir / FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    rig.publish(booth_list(2))
    with pytest.raises(ListRefused, match="not newer"):
        rig.publish(booth_list(2))
    other = booth_list(3)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    forged = sign(Ed25519PrivateKey.generate(), other.dump())
    with pytest.raises(ListRefused, match="bad signature"):
        store_if_newer(path, rig.key.public_key(), forged, SITE, BOOTH)
    service = rig.service()
    try:
        assert service.booth_list().version == 2
        assert {g.username for g in service.booth_list().guards} == {"wang.guard", "li.guard"}
    finally:
        service.close()
