"""``menwei-desk`` on the database an operator names: a SQLite file or a company's PostgreSQL
(``postgresql://…`` as docs/company.md writes it, no driver), set up and served by the
commands an installer runs; a URL the desk cannot use is one line and exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from central.db import current_revision, head_revision, make_engine
from hardware_sim.local_ports import free_tcp_port
from hardware_sim.local_postgres import LocalPostgres
from tests.desk_databases import empty_desk_database

from .api.live_desk import ROOT, serving
from .conftest import EXAMPLES, PASSWORD, SITE

# A password in the URL is never printed back (the throwaway cluster trusts 127.0.0.1, so
# it is sent and ignored).
SECRET = "never-printed"


def desk_command(*argv: str) -> subprocess.CompletedProcess[str]:
    """``menwei-desk ARGV`` as an installer runs it."""
    return subprocess.run([sys.executable, "-m", "central.cli", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def with_password(url: str) -> str:
    """``url`` with SECRET as its password (a SQLite URL has none)."""
    return url.replace("menwei@", f"menwei:{SECRET}@", 1)


def test_postgresql_without_a_driver_means_psycopg_3() -> None:
    for url in ("postgresql://menwei@db.example/desk", "postgres://menwei@db.example/desk"):
        engine = make_engine(url)
        assert engine.url.drivername == "postgresql+psycopg"
        assert engine.dialect.driver == "psycopg"
        engine.dispose()


def test_an_installer_sets_up_and_serves_the_desk(
        request: pytest.FixtureRequest, desk_db_kind: str, tmp_path: Path) -> None:
    with empty_desk_database(request, desk_db_kind, tmp_path) as empty:
        url = with_password(empty)
        created = desk_command("create-db", "--db", url)
        assert created.returncode == 0, created.stderr
        assert f"schema at migration {head_revision()}" in created.stdout
        assert SECRET not in created.stdout + created.stderr
        loaded = desk_command("load-site", "--db", url, str(EXAMPLES / "site.toml"))
        assert loaded.returncode == 0, loaded.stderr
        assert f"site {SITE} created" in loaded.stdout
        password_file = tmp_path / "admin.password"
        password_file.write_text(PASSWORD + "\n")
        staff = desk_command("create-staff", "--db", url, "--role", "admin", "--username",
                             "boss", "--site", SITE, "--password-file", str(password_file))
        assert staff.returncode == 0, staff.stderr
        # A second compound, where the same account is also the director.
        moon = tmp_path / "moon.toml"
        moon.write_text((EXAMPLES / "site.toml").read_text("utf-8").replace(
            f'code = "{SITE}"', 'code = "moon-bay"'), "utf-8")
        assert desk_command("load-site", "--db", url, str(moon)).returncode == 0
        lent = desk_command("site-role", "--db", url, "--username", "Boss", "--site",
                            "moon-bay", "--role", "director")
        assert (lent.returncode, lent.stdout.strip()) == (0, "boss is director at moon-bay")
        unknown = desk_command("site-role", "--db", url, "--username", "nobody", "--site",
                               "moon-bay", "--take")
        assert unknown.returncode == 2 and "no account 'nobody'" in unknown.stderr
        demo = desk_command("populate-demo", "--db", url, "--site", SITE, "--households", "6",
                            "--cards", "12", "--event-days", "1", "--sync-store",
                            str(tmp_path / "sync.db"))
        assert demo.returncode == 0, demo.stderr
        assert "6 households" in demo.stdout
        log = tmp_path / "serve.log"
        with serving(url, log, "--sync-store", f"{SITE}={tmp_path / 'sync.db'}") as base:
            token = httpx.post(f"{base}/login", json={"username": "boss",
                                                      "password": PASSWORD},
                               timeout=10).json()["token"]
            site = httpx.get(f"{base}/site", headers={"Authorization": f"Bearer {token}"},
                             timeout=10)
            assert site.status_code == 200, site.text
            assert site.json()["code"] == SITE
            at_moon = httpx.get(f"{base}/me", headers={"Authorization": f"Bearer {token}",
                                                       "X-Menwei-Site": "moon-bay"},
                                timeout=10).json()
            assert at_moon["staff"]["site_roles"] == {"moon-bay": "director"}
            assert "review_loss" in at_moon["allowed_operations"]
        assert SECRET not in log.read_text("utf-8", "replace")
        engine = make_engine(url)
        assert current_revision(engine) == head_revision()
        engine.dispose()


def closed_port_url() -> str:
    """PostgreSQL on a port of 127.0.0.1 where nothing listens."""
    return f"postgresql://menwei:{SECRET}@127.0.0.1:{free_tcp_port()}/menwei_desk"


@pytest.mark.parametrize(("url", "said"), [
    (f"postgresql+psycopg2://menwei:{SECRET}@127.0.0.1/menwei_desk",
     "driver 'postgresql+psycopg2' is not available"),
    ("closed port", "cannot connect"),
    ("not a url at all", "not a database URL"),
], ids=["driver-missing", "unreachable", "unparsable"])
@pytest.mark.parametrize("command", ["create-db", "load-site", "create-staff", "serve"])
def test_a_database_the_desk_cannot_use_is_one_line_of_bad_input(
        tmp_path: Path, command: str, url: str, said: str) -> None:
    if url == "closed port":
        url = closed_port_url()
    password_file = tmp_path / "admin.password"
    password_file.write_text(PASSWORD + "\n")
    extra = {"load-site": [str(EXAMPLES / "site.toml")],
             "create-staff": ["--role", "admin", "--username", "boss", "--password-file",
                              str(password_file)],
             "serve": ["--port", str(free_tcp_port())]}.get(command, [])
    done = desk_command(command, "--db", url, *extra)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert said in line
    assert "数据库" in line  # and in Chinese
    assert SECRET not in line
    if url.startswith("postgresql://"):
        assert "postgresql+psycopg://menwei:***@127.0.0.1" in line


def test_the_socket_form_of_the_url_reaches_a_local_server(
        postgres: LocalPostgres, tmp_path: Path) -> None:
    # Debian's server on the same machine, through its Unix socket (peer authentication,
    # no password): the URL docs/company.md gives, with the socket's folder named since
    # this cluster's is not /var/run/postgresql.
    name = "desk_socket_form"
    postgres.create_database(name)
    try:
        url = f"postgresql://menwei@/{name}?host={postgres.root}&port={postgres.port}"
        created = desk_command("create-db", "--db", url)
        assert created.returncode == 0, created.stderr
    finally:
        postgres.drop_database(name)
