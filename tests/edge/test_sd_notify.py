"""The notify protocol against real AF_UNIX datagram sockets, as systemd would receive it."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge import sd_notify

# sun_path holds 108 bytes on Linux; pytest's tmp_path for a long test name can exceed it.
_MAX_SUN_PATH = 100


class Receiver:
    """The service manager's end: a bound datagram socket and the value for NOTIFY_SOCKET."""

    def __init__(self, sock: socket.socket, env_value: str) -> None:
        self.sock = sock
        self.env_value = env_value

    def receive(self) -> str:
        """The next datagram, decoded; fails the test after a second without one."""
        self.sock.settimeout(1.0)
        return self.sock.recv(4096).decode("utf-8")

    def assert_nothing_waiting(self) -> None:
        """No further datagram was sent."""
        self.sock.settimeout(0.05)
        with pytest.raises(TimeoutError):
            self.sock.recv(4096)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test runner itself may run under systemd (a CI service); never talk to the real one.
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sd_notify, "_failing", False)


@pytest.fixture
def path_receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    with contextlib.ExitStack() as stack:
        folder = tmp_path
        if len(str(folder / "notify")) > _MAX_SUN_PATH:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sdn")))
        path = folder / "notify"
        sock = stack.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
        sock.bind(str(path))
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield Receiver(sock, str(path))


@pytest.fixture
def abstract_receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    name = f"menwei-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        yield Receiver(sock, "@" + name)


def test_without_notify_socket_every_call_is_a_no_op() -> None:
    assert sd_notify.notify("READY=1") is False
    assert sd_notify.ready("up") is False
    assert sd_notify.watchdog_ping() is False
    assert sd_notify.status("x") is False
    assert sd_notify.stopping() is False


def test_ready_sends_ready_and_status(path_receiver: Receiver) -> None:
    assert sd_notify.ready("door-b1-lobby: reader up") is True
    assert path_receiver.receive() == "READY=1\nSTATUS=door-b1-lobby: reader up"
    path_receiver.assert_nothing_waiting()


def test_ready_without_status_sends_only_ready(path_receiver: Receiver) -> None:
    assert sd_notify.ready() is True
    assert path_receiver.receive() == "READY=1"


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (sd_notify.watchdog_ping, "WATCHDOG=1"),
        (sd_notify.stopping, "STOPPING=1"),
        (lambda: sd_notify.status("reader lost, retrying"), "STATUS=reader lost, retrying"),
        (lambda: sd_notify.notify("EXTEND_TIMEOUT_USEC=5000000"), "EXTEND_TIMEOUT_USEC=5000000"),
    ],
)
def test_each_message_reaches_a_path_socket(path_receiver: Receiver, call, expected: str) -> None:
    assert call() is True
    assert path_receiver.receive() == expected


def test_abstract_namespace_socket(abstract_receiver: Receiver) -> None:
    assert sd_notify.watchdog_ping() is True
    assert abstract_receiver.receive() == "WATCHDOG=1"
    assert sd_notify.ready("门卫 up") is True
    assert abstract_receiver.receive() == "READY=1\nSTATUS=门卫 up"


def test_a_newline_in_a_status_cannot_forge_another_field(path_receiver: Receiver) -> None:
    # Status text can come from a reader's error message; a line break in it would otherwise
    # be read by systemd as a second field, e.g. a READY=1 or WATCHDOG=1 we never meant.
    assert sd_notify.status("reader error\nWATCHDOG=1") is True
    assert path_receiver.receive() == "STATUS=reader error WATCHDOG=1"
    assert sd_notify.ready("a\r\nb") is True
    assert path_receiver.receive() == "READY=1\nSTATUS=a b"


def test_a_vanished_socket_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    with caplog.at_level(logging.DEBUG, logger="edge.sd_notify"):
        assert sd_notify.watchdog_ping() is False
        assert sd_notify.watchdog_ping() is False
    levels = [r.levelno for r in caplog.records]
    # The first failure is a warning; the repeats every few seconds must not flood the journal.
    assert levels == [logging.WARNING, logging.DEBUG]


def test_sending_works_again_after_a_failure(
    path_receiver: Receiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", path_receiver.env_value + "-missing")
    assert sd_notify.watchdog_ping() is False
    monkeypatch.setenv("NOTIFY_SOCKET", path_receiver.env_value)
    with caplog.at_level(logging.INFO, logger="edge.sd_notify"):
        assert sd_notify.watchdog_ping() is True
    assert path_receiver.receive() == "WATCHDOG=1"
    assert "works again" in caplog.text


@pytest.mark.parametrize("value", ["relative/notify", "vsock:2:1234"])
def test_an_address_form_we_do_not_speak_is_refused(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", value)
    with caplog.at_level(logging.WARNING, logger="edge.sd_notify"):
        assert sd_notify.notify("READY=1") is False
    assert value in caplog.text


def test_watchdog_interval_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sd_notify.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "10000000")
    assert sd_notify.watchdog_interval() == 10.0
    monkeypatch.setenv("WATCHDOG_USEC", "500000")
    assert sd_notify.watchdog_interval() == 0.5


def test_watchdog_interval_respects_watchdog_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "10000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sd_notify.watchdog_interval() == 10.0
    # Inherited by a child: the watchdog is someone else's.
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert sd_notify.watchdog_interval() is None


@pytest.mark.parametrize(
    "env",
    [
        {"WATCHDOG_USEC": "ten"},
        {"WATCHDOG_USEC": "0"},
        {"WATCHDOG_USEC": "-5"},
        {"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "me"},
        {"WATCHDOG_PID": "1"},
    ],
)
def test_watchdog_interval_ignores_unusable_values(env: dict[str, str]) -> None:
    assert sd_notify.watchdog_interval(env) is None


def test_watchdog_interval_takes_an_explicit_environment() -> None:
    env = {"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}
    assert sd_notify.watchdog_interval(env) == 4.0
