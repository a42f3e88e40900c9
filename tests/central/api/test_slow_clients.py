"""Slow clients and private answers (issue 9, "Abuse"): 300 connections that sent their
headers a byte at a time stayed open against ``menwei-desk serve``; answers carrying personal
data had no ``Cache-Control: no-store`` nor ``X-Content-Type-Options: nosniff``.

Real sockets against the real ``menwei-desk serve`` on 127.0.0.1 with its default header
deadline (10 s, central/api/slow_clients.py)."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import API, TestClient, login
from .live_desk import serving

SLOW_CLIENTS = 300
HEADER_TIMEOUT_S = 10.0


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[int]:
    """``menwei-desk serve`` on an empty database; its port."""
    with serving(f"sqlite:///{tmp_path / 'desk.db'}", tmp_path / "serve.log") as base:
        port = httpx.URL(base).port
        assert port is not None
        yield port


def _closed(sock: socket.socket) -> bool:
    """Whether the server has closed this connection (a read finds the end, or a reset)."""
    try:
        return sock.recv(1024) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_slow_headers_are_cut_off(serve: int) -> None:
    slow: list[socket.socket] = []
    try:
        for _ in range(SLOW_CLIENTS):
            sock = socket.create_connection(("127.0.0.1", serve), timeout=5)
            sock.sendall(b"GET /api/v1/me HTTP/1.1\r\nHost: desk\r\n")
            sock.setblocking(False)
            slow.append(sock)
        started = time.monotonic()
        open_ = list(slow)
        # A header line every second, never the blank line that ends them.
        while open_ and time.monotonic() - started < HEADER_TIMEOUT_S + 8:
            for i, sock in enumerate(open_):
                with contextlib.suppress(OSError):
                    sock.send(f"X-Slow-{i}: 1\r\n".encode())
            time.sleep(1.0)
            open_ = [s for s in open_ if not _closed(s)]
        assert not open_, f"{len(open_)} of {SLOW_CLIENTS} slow connections still open " \
            f"after {time.monotonic() - started:.0f} s"
        # Meanwhile and after, a client that sends its request at once is answered.
        answer = httpx.get(f"http://127.0.0.1:{serve}{API}/me", timeout=10)
        assert answer.status_code == 401
    finally:
        for sock in slow:
            sock.close()


def test_a_kept_alive_connection_gets_the_same_deadline(serve: int) -> None:
    with socket.create_connection(("127.0.0.1", serve), timeout=5) as sock:
        sock.sendall(b"GET /api/v1/me HTTP/1.1\r\nHost: desk\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 401")
        sock.sendall(b"GET /api/v1/me HTTP/1.1\r\n")  # the next request, never finished
        sock.setblocking(False)
        started = time.monotonic()
        while not _closed(sock):
            assert time.monotonic() - started < HEADER_TIMEOUT_S + 8, "still open"
            with contextlib.suppress(OSError):
                sock.send(b"X-Slow: 1\r\n")
            time.sleep(1.0)


def test_every_answer_is_private(client: TestClient) -> None:
    clerk = login(client, "clerk")
    for answer in (client.get(f"{API}/people", headers=clerk),
                   client.get(f"{API}/people/999999", headers=clerk),
                   client.get(f"{API}/me"),
                   client.post(f"{API}/login", json={"username": "x", "password": "y"}),
                   client.get(f"{API}/openapi.json")):
        assert answer.headers["Cache-Control"] == "no-store", answer.request.url
        assert answer.headers["X-Content-Type-Options"] == "nosniff", answer.request.url
