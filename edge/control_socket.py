"""The gate's local control socket: one JSON object per line in, one per line out.

Guards' tools (``menwei-edge status``, ``menwei-edge open``), the booth page and the
simulator's drivers use it. It is a Unix socket in the data directory (mode 0660), so only
local users in the gate's group can reach it; every command runs on the control thread.

The file mode is one lock; the kernel's word on who is calling (``SO_PEERCRED``) is the
second: a caller who is not root, not the gate's own user and not in the socket's group is
turned away even if the file's mode was loosened by hand, and the commands that change what
the gate does record that caller in the journal."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Caller:
    """Who is on the other end of a control connection, as the kernel reports it."""

    pid: int
    uid: int
    gid: int
    user: str
    process: str

    def as_record(self) -> dict[str, object]:
        """The fields a journal event keeps."""
        return {"pid": self.pid, "uid": self.uid, "user": self.user, "process": self.process}


Handler = Callable[[Mapping[str, Any]], object]
CallerHandler = Callable[[Mapping[str, Any], Caller], object]
Dispatch = Callable[[Callable[[], None]], None]

MAX_LINE = 64 * 1024
REPLY_TIMEOUT_S = 5.0


class CommandError(Exception):
    """A command refused with a message for the caller."""


class ControlServer:
    """Serves commands on a Unix socket, running each handler through ``dispatch``."""

    def __init__(self, path: Path, dispatch: Dispatch) -> None:
        self.path = path
        self._dispatch = dispatch
        self.handlers: dict[str, CallerHandler] = {}
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    def register(self, name: str, handler: Handler) -> None:
        """Add a command."""
        self.handlers[name] = lambda args, _caller: handler(args)

    def register_with_caller(self, name: str, handler: CallerHandler) -> None:
        """Add a command whose handler is told who called (to journal it)."""
        self.handlers[name] = handler

    def start(self) -> None:
        """Bind the socket (replacing a stale one) and serve in a background thread."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() or self.path.is_symlink():
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(self.path))
        os.chmod(self.path, 0o660)
        sock.listen(16)
        sock.settimeout(0.5)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="control-socket", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and remove the socket file."""
        self._stopping = True
        if self._sock is not None:
            self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stopping:
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as stream:
            caller = peer_of(conn)
            refusal = self._refusal(caller)
            while not self._stopping:
                line = stream.readline(MAX_LINE + 1)
                if not line:
                    return
                reply = ({"ok": False, "error": refusal} if refusal is not None
                         else self._handle_line(line, caller))
                stream.write(json.dumps(reply, default=str).encode() + b"\n")
                stream.flush()

    def _refusal(self, caller: Caller) -> str | None:
        """Why ``caller`` may not use the gate (None: it may)."""
        if caller.uid in (0, os.geteuid()):
            return None
        try:
            group = os.stat(self.path).st_gid
        except OSError:
            return "the control socket is gone"
        if caller.gid == group or group in _supplementary_groups(caller.pid):
            return None
        return (f"user {caller.user} (uid {caller.uid}) is not in the gate's group "
                f"(gid {group}); ask the installer to add it")

    def _handle_line(self, line: bytes, caller: Caller) -> dict[str, object]:
        if len(line) > MAX_LINE:
            return {"ok": False, "error": f"request longer than {MAX_LINE} bytes"}
        try:
            request = json.loads(line)
        except ValueError as exc:
            return {"ok": False, "error": f"not JSON: {exc}"}
        if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
            return {"ok": False, "error": 'expected {"cmd": NAME, "args": {...}}'}
        args = request.get("args", {})
        if not isinstance(args, dict):
            return {"ok": False, "error": "args must be an object"}
        handler = self.handlers.get(request["cmd"])
        if handler is None:
            known = ", ".join(sorted(self.handlers))
            return {"ok": False, "error": f"unknown command {request['cmd']!r}; known: {known}"}
        return self._run(handler, args, caller)

    def _run(self, handler: CallerHandler, args: Mapping[str, Any],
             caller: Caller) -> dict[str, object]:
        done = threading.Event()
        box: dict[str, object] = {}

        def call() -> None:
            try:
                box["reply"] = {"ok": True, "result": handler(args, caller)}
            except (CommandError, ValueError, KeyError, TypeError) as exc:
                box["reply"] = {"ok": False, "error": str(exc)}
            finally:
                done.set()

        self._dispatch(call)
        if not done.wait(REPLY_TIMEOUT_S):
            return {"ok": False, "error": "the gate did not answer in time"}
        reply = box["reply"]
        assert isinstance(reply, dict)
        return reply


_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def peer_of(conn: socket.socket) -> Caller:
    """The process at the other end of a Unix socket connection (SO_PEERCRED)."""
    pid, uid, gid = _UCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                  _UCRED.size))
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    try:
        process = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        process = ""
    return Caller(pid, uid, gid, user, process)


def _supplementary_groups(pid: int) -> set[int]:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return set()
    for line in status.splitlines():
        if line.startswith("Groups:"):
            return {int(g) for g in line.split()[1:]}
    return set()


class ControlClient:
    """Talks to a gate's control socket."""

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        self._sock.connect(str(path))
        self._stream = self._sock.makefile("rwb")

    def call(self, cmd: str, **args: object) -> Any:
        """Run a command; return its result or raise CommandError with the gate's message."""
        self._stream.write(json.dumps({"cmd": cmd, "args": args}).encode() + b"\n")
        self._stream.flush()
        line = self._stream.readline()
        if not line:
            raise CommandError("the gate closed the connection")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise CommandError(str(reply.get("error")))
        return reply.get("result")

    def close(self) -> None:
        """Close the connection."""
        self._stream.close()
        self._sock.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_until_answering(path: Path, timeout: float = 20.0,
                         process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until a gate answers ``status`` on its control socket (it is ready then).

    Raises RuntimeError if ``process`` exits first, TimeoutError after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the gate exited with code {process.returncode} before it "
                               "was ready")
        try:
            with ControlClient(path, timeout=2) as client:
                client.call("status")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no gate answered on {path} within {timeout} s") from None
            time.sleep(0.02)
