"""The desk's two databases for the tests: a SQLite file (one compound) and PostgreSQL (a
company of many; a throwaway cluster of Debian's server, hardware_sim.local_postgres).

A test that takes ``db_url`` (tests/central/conftest.py) runs once on each. On PostgreSQL
every test gets its own database, a copy of one migrated once per run, dropped after it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hardware_sim.local_postgres import LocalPostgres

DATABASES = ("sqlite", "postgresql")
_TEMPLATE = "menwei_desk_template"
_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    """One PostgreSQL cluster for the whole run, on 127.0.0.1."""
    with LocalPostgres() as pg:
        yield pg


@pytest.fixture(scope="session")
def postgres_desk_template(postgres: LocalPostgres) -> str:
    """A database at the newest migration, copied for each test."""
    from central.db import make_engine, upgrade

    engine = make_engine(postgres.create_database(_TEMPLATE))
    upgrade(engine)
    engine.dispose()
    return _TEMPLATE


@pytest.fixture(params=DATABASES)
def desk_db_kind(request: pytest.FixtureRequest) -> str:
    """Which database the desk of this test runs on."""
    return str(request.param)


@contextmanager
def fresh_desk_database(request: pytest.FixtureRequest, kind: str, directory: Path, *,
                        migrated: bool = True) -> Iterator[str]:
    """A new desk database of ``kind``; its URL. A SQLite file in ``directory`` (created
    and migrated by the caller's ``upgrade``), or a PostgreSQL database dropped afterwards:
    a copy of the migrated template, or with ``migrated=False`` an empty one."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'desk.db'}"
        return
    pg: LocalPostgres = request.getfixturevalue("postgres")
    template = request.getfixturevalue("postgres_desk_template") if migrated else None
    name = f"desk_{next(_names)}"
    url = pg.create_database(name, template=template)
    try:
        yield url
    finally:
        pg.drop_database(name)


@pytest.fixture
def store_at(request: pytest.FixtureRequest, desk_db_kind: str,
             tmp_path: Path) -> Iterator[Callable[[str], Path | str]]:
    """Where a test's central stores (sync.hub.store.CentralStore) live, by name: a SQLite
    file of that name in tmp_path, or on PostgreSQL a database of its own per name (the
    same name, the same database: a store opened again), dropped after the test."""
    made: dict[str, str] = {}

    def where(name: str) -> Path | str:
        if desk_db_kind == "sqlite":
            return tmp_path / name
        if name not in made:
            pg: LocalPostgres = request.getfixturevalue("postgres")
            made[name] = pg.create_database(f"store_{next(_names)}")
        return made[name]

    yield where
    if made:
        pg = request.getfixturevalue("postgres")
        for url in made.values():
            pg.drop_database(url.rsplit("/", 1)[1])


@contextmanager
def empty_desk_database(request: pytest.FixtureRequest, kind: str,
                        directory: Path) -> Iterator[str]:
    """An empty desk database as an operator starts one: nothing migrated (``menwei-desk
    create-db`` or ``serve`` brings it up to date); a PostgreSQL URL written as
    docs/company.md tells a company to write it, without a driver (``postgresql://``)."""
    with fresh_desk_database(request, kind, directory / "desk", migrated=False) as url:
        yield url.replace("postgresql+psycopg://", "postgresql://", 1)
