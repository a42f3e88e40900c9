"""An empty desk database of either kind, as an operator starts one: nothing migrated, so
``menwei-desk create-db`` or ``serve`` brings it up to date (tests/desk_databases.py's
``fresh_desk_database`` hands out migrated copies instead).

The PostgreSQL URL is written as docs/company.md tells a company to write it, without a
driver (``postgresql://``): the desk picks psycopg 3 itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hardware_sim.local_postgres import SUPERUSER, LocalPostgres

_names = itertools.count(1)


def operator_url(pg: LocalPostgres, database: str) -> str:
    """``database`` on ``pg`` as an operator writes it: no driver named."""
    return f"postgresql://{SUPERUSER}@127.0.0.1:{pg.port}/{database}"


@contextmanager
def empty_desk_database(request: pytest.FixtureRequest, kind: str,
                        directory: Path) -> Iterator[str]:
    """The URL of an empty database of ``kind`` ("sqlite" or "postgresql"): a file in
    ``directory`` not yet created, or a new database on the session's cluster, dropped
    afterwards (whatever is still connected to it)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'desk' / 'desk.db'}"
        return
    pg: LocalPostgres = request.getfixturevalue("postgres")
    name = f"desk_empty_{next(_names)}"
    pg.create_database(name)
    try:
        yield operator_url(pg, name)
    finally:
        pg.drop_database(name)
