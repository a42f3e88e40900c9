"""The control socket lets in only root, the gate's own user and its group, as the kernel
reports the caller (SO_PEERCRED), even when the file's mode was loosened by hand."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.control_socket import Caller, ControlClient, ControlServer

NOBODY = 65534

# Runs as another user: a bare socket, so it needs nothing of the project's files.
ASK_STATUS = """
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b'{"cmd": "status"}\\n')
print(s.makefile().readline().strip())
"""


@pytest.fixture
def server() -> Iterator[ControlServer]:
    # Not pytest's tmp_path: its folders are private to root, and the point is to let
    # another user reach the socket.
    folder = Path(tempfile.mkdtemp(prefix="menwei-sock-"))
    folder.chmod(0o755)
    srv = ControlServer(folder / "control.sock", lambda fn: fn())
    srv.register("status", lambda args: {"ok": True})

    def whoami(_args: object, caller: Caller) -> object:
        return caller.as_record()

    srv.register_with_caller("whoami", whoami)
    srv.start()
    yield srv
    srv.stop()
    folder.rmdir()


# The system's Python: the venv's may live where another user cannot reach it.
SYSTEM_PYTHON = Path("/usr/bin/python3")


def ask_as(user: int, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SYSTEM_PYTHON), "-c", ASK_STATUS, str(path)], user=user,
                          group=user, extra_groups=[],
                          capture_output=True, text=True, timeout=20, cwd="/")


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
@pytest.mark.skipif(not SYSTEM_PYTHON.exists(), reason="needs Debian's python3")
def test_a_user_outside_the_gates_group_is_refused_even_through_a_loosened_file(
        server: ControlServer) -> None:
    # The file's mode is the first lock: nobody cannot even connect.
    denied = ask_as(NOBODY, server.path)
    assert denied.returncode != 0 and "Permission denied" in denied.stderr
    # Loosened by hand, the second lock holds: the gate answers with a refusal.
    server.path.chmod(0o666)
    refused = ask_as(NOBODY, server.path)
    assert refused.returncode == 0, refused.stderr
    reply = json.loads(refused.stdout)
    assert reply["ok"] is False and "not in the gate's group" in reply["error"]


def test_a_handler_is_told_who_called(server: ControlServer) -> None:
    with ControlClient(server.path) as client:
        record = client.call("whoami")
        assert client.call("status") == {"ok": True}
    assert record["pid"] == os.getpid()
    assert record["uid"] == os.geteuid()
    assert record["process"]
