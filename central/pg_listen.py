"""Hearing the commits of other desk workers on PostgreSQL: a connection of its own
LISTENs on a channel and hands each notification's payload to a callback, reconnecting
after losing the server.

What a notification announces is also found by the listener's owner at its next slower
look (a poll), so a lost connection costs time, never a change: ``on_listening`` runs at
each (re)connection, for whatever was committed before the LISTEN."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine

log = logging.getLogger("menwei.desk.pg_listen")


def listen_until(stop: threading.Event, engine: Engine, channel: str,
                 on_note: Callable[[str], None], on_listening: Callable[[], None]) -> None:
    """LISTEN on ``channel`` of ``engine``'s database until ``stop`` is set, calling
    ``on_note(payload)`` for each notification; run it on a thread of its own."""
    import psycopg  # noqa: PLC0415 - PostgreSQL's driver, only on a company's desk

    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    while not stop.is_set():
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f"LISTEN {channel}")
                on_listening()
                while not stop.is_set():
                    for note in conn.notifies(timeout=1.0):
                        on_note(note.payload)
        except psycopg.Error as exc:
            log.warning("listening on %s for the desk's changes failed (%s); polling until "
                        "it works again", channel, exc)
            stop.wait(1.0)
