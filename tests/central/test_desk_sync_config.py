"""The desk's sync config file (``serve --sync-config``): the per-device quotas of the gate
link, optional, with defaults, every error listed at once."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from central.db import make_engine
from central.desk_sync import DeskSyncConfigError, connections_short, load_desk_sync_config
from sync.hub.quotas import QuotaLimits


def write(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "central.password").write_text("pw\n")
    (tmp_path / "central.key").write_text("not read here\n")
    path = tmp_path / "desk-sync.toml"
    path.write_text('password_file = "central.password"\nsigning_key = "central.key"\n'
                    'data_dir = "sync"\nsites = ["sunrise-garden"]\n' + extra)
    return path


def test_quotas_default_when_not_given(tmp_path: Path) -> None:
    assert load_desk_sync_config(write(tmp_path)).quota == QuotaLimits()


def test_quotas_are_read_from_the_device_quota_table(tmp_path: Path) -> None:
    config = load_desk_sync_config(write(tmp_path, "[device_quota]\nevents_per_minute = 3000\n"
                                                   "catchups_burst = 4\n"))
    assert config.quota == QuotaLimits(events_per_minute=3000, catchups_burst=4)


def test_bad_quotas_are_refused_all_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, '[device_quota]\nevents_burst = 0\ncatchups_burst = 2.5\n'
                           'events_per_minute = "lots"\nbytes_per_day = 5\n')
    with pytest.raises(DeskSyncConfigError) as caught:
        load_desk_sync_config(path)
    message = str(caught.value)
    for key in ("events_burst", "catchups_burst", "events_per_minute", "bytes_per_day"):
        assert f"device_quota.{key}" in message


def test_a_worker_is_named_by_its_host_unless_the_file_names_it(tmp_path: Path) -> None:
    assert load_desk_sync_config(write(tmp_path)).worker_id == socket.gethostname()
    assert load_desk_sync_config(write(tmp_path, 'worker_id = "desk-2"\n')).worker_id == \
        "desk-2"
    with pytest.raises(DeskSyncConfigError, match="worker_id"):
        load_desk_sync_config(write(tmp_path, 'worker_id = "desk/2"\n'))


def test_a_worker_says_when_postgresql_allows_too_few_connections_for_its_sites(
        db_url: str) -> None:
    """A company whose server keeps Debian's default max_connections hears it in the
    worker's log at start, with the number to set, not from refused connections later."""
    engine = make_engine(db_url)
    try:
        if engine.dialect.name != "postgresql":
            assert connections_short(engine, 1000) is None  # one compound's own file
            return
        assert connections_short(engine, 2) is None  # the suite's server allows 300
        short = connections_short(engine, 100)
        assert short is not None
        assert "set max_connections to at least" in short and "100 sites" in short
    finally:
        engine.dispose()
