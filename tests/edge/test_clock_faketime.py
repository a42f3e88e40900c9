"""The gate as a process with its wall clock set back by libfaketime: a clock behind what
the gate already knows never reopens a card that expired in between, and a gate that knows
nothing about the time does not trust its clock blindly."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edge.auth_store import AuthStore
from edge.card_csv import parse_cards_csv
from edge.clock_files import load_mark
from firmware_config.schema import EdgeConfig
from tests.edge.conftest import door_doc, write_doc
from tests.edge.faketime import clock_events, gate_process, tap

SITE_TZ = ZoneInfo("Asia/Shanghai")
VALID = "04A1B2C3"  # valid to 2099
LAPSED = "0C0C0C0C"  # expired ten days ago: valid a month ago
MONTH_BACK = "-30d"


def cards_csv() -> str:
    lapsed = (datetime.now(SITE_TZ).date() - timedelta(days=10)).isoformat()
    return ("uid,status,valid_from,valid_until,access_groups,schedule,holder_kind,plate\n"
            f"{VALID},active,2020-01-01,2099-12-31,b1,,owner,\n"
            f"{LAPSED},active,2020-01-01,{lapsed},b1,,tenant,\n")


def door(tmp_path: Path, **clock: Any) -> EdgeConfig:
    doc = door_doc(tmp_path / "data")
    if clock:
        doc["clock"] = clock
    return write_doc(tmp_path / "door.toml", doc)


def commission(config: EdgeConfig, *, list_issued_at: float | None) -> None:
    """Load the cards as sync leaves them (with the signed list's issue time) or, with
    None, as an installer's CSV does (no evidence of the time at all)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{config.auth_db}{suffix}").unlink(missing_ok=True)
    store = AuthStore(config.auth_db)
    try:
        store.upsert(parse_cards_csv(cards_csv()), applied_seq=1, list_issued_at=list_issued_at)
    finally:
        store.close()


def status(client: Any) -> dict[str, Any]:
    result: dict[str, Any] = client.call("status")
    return result


def test_a_clock_set_back_a_month_never_reopens_a_card_that_expired_meanwhile(
        tmp_path: Path) -> None:
    config = door(tmp_path)
    commission(config, list_issued_at=time.time())
    with gate_process(config) as gate:  # a trusted clock: the mark is saved
        assert status(gate)["clock_trusted"] is True
        assert tap(gate, LAPSED) == "expired"
    mark = load_mark(config.clock_state)
    assert mark is not None and abs(mark - time.time()) < 60
    # The cards loaded again from the installer's CSV: only the mark knows the time now.
    commission(config, list_issued_at=None)
    # Power cut; the Pi comes back with its clock a month behind, when LAPSED was valid.
    with gate_process(config, MONTH_BACK) as gate:
        assert status(gate)["clock_trusted"] is False
        assert tap(gate, LAPSED) == "expired"
        assert tap(gate, VALID) == "granted"
        (boot,) = clock_events(gate)
        assert boot["alarm"] and boot["data"]["cause"] == "clock behind saved mark"
        assert boot["data"]["floor"] == mark


def test_without_clock_json_the_signed_lists_issue_time_is_the_floor(tmp_path: Path) -> None:
    # A new SD card: clock.json is gone, auth.db came back from sync with its issue time.
    config = door(tmp_path)
    commission(config, list_issued_at=time.time())
    with gate_process(config, MONTH_BACK) as gate:
        assert status(gate)["clock_trusted"] is False
        assert tap(gate, LAPSED) == "expired"
        assert tap(gate, VALID) == "granted"
        (boot,) = clock_events(gate)
        assert boot["data"]["cause"] == "clock behind signed list"


def test_with_no_evidence_of_the_time_the_clock_is_not_trusted_blindly(tmp_path: Path) -> None:
    config = door(tmp_path, untrusted_policy="deny_all")
    commission(config, list_issued_at=None)
    (config.clock_state.parent / "clock.json").write_text("{torn")
    with gate_process(config, MONTH_BACK) as gate:
        assert status(gate)["clock_trusted"] is False
        (boot,) = clock_events(gate)
        assert boot["alarm"] and boot["data"]["cause"] == "no floor"
        # deny_all: nothing opens by card until something vouches for the time.
        assert tap(gate, VALID) == "clock_untrusted"
    assert load_mark(config.clock_state) is None  # an unproven clock is not made a mark
