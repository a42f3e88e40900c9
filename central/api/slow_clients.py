"""A deadline for a request's headers, which uvicorn does not have.

uvicorn's ``timeout_keep_alive`` runs only between requests and is cancelled by the first
byte of the next one; nothing limits how long a client may take over the headers, so a
client that sends them a byte at a time ("slowloris") holds its connection open for ever
(300 such connections stayed open against the desk). ``h11_max_incomplete_event_size``
bounds their size, not their time, and ``limit_concurrency`` answers 503 to new requests
without closing the idle ones.

``HeaderDeadlineProtocol`` is uvicorn's h11 protocol with one timer more: from the moment a
connection opens, and again from the end of each response, the next request's headers must
be complete within ``header_timeout_s``, or the connection is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

DEFAULT_HEADER_TIMEOUT_S = 10.0


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request headers are late."""

    header_timeout_s = DEFAULT_HEADER_TIMEOUT_S

    def __init__(self, config: Config, server_state: ServerState,
                 app_state: dict[str, Any], _loop: asyncio.AbstractEventLoop | None = None
                 ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._deadline: asyncio.TimerHandle | None = None
        self._seen_cycle: object | None = None

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_late(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Open the connection and start the clock on the first request's headers."""
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock with the connection."""
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        """Read what arrived; a new request cycle means its headers are complete."""
        super().handle_events()
        if self.cycle is not None and self.cycle is not self._seen_cycle:
            self._seen_cycle = self.cycle
            self._disarm()

    def on_response_complete(self) -> None:
        """A response is out: the next request's headers are due in time too."""
        if not self.transport.is_closing():
            self._arm()
        super().on_response_complete()


def header_deadline_protocol(timeout_s: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class to give ``uvicorn.run(http=...)`` for this deadline."""
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,),
                {"header_timeout_s": timeout_s})
