"""Remote commands: verified here, carried out by the gate through its control socket.

A command is accepted only if its signature verifies against the pinned key, it names this
site and device, it has not expired, and its nonce was never seen before. Nonces are kept in
``sync.db`` with their expiry, so a replay is refused even after the agent restarts, whatever
the clock says. Expiry is judged against the best time the agent knows (``AgentClockTrust.
estimate``): central's clock if a signed time answer gave it, else the wall clock if
trusted; a command issued beyond that + tolerance is refused then. With an untrusted clock
and no word from central, the time is known only to be past the floor: a command that
expired before the floor is refused, and one issued after what the (behind) clock says is
not refused for that alone. An accepted command's ``issued_at`` is floor evidence. Every
refusal is journalled as a security alarm. An accepted command goes straight to the gate;
if the gate is not running the failure is journalled and the command dropped, because it is
only valid for seconds.

Commands run on their own thread so that a long snapshot apply on the worker never delays
a door opening."""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.clock_trust import AgentClockTrust, TimeEstimate
from edge.control_socket import CommandError, ControlClient
from sync.agent.journal import UNDELIVERED_KIND, AgentJournal
from sync.wire.command import Command
from sync.wire.envelope import MalformedMessageError, open_signed
from sync.wire.payload import ProtocolError
from sync.wire.signing import SignatureError

log = logging.getLogger(__name__)

# Seen nonces outlive their command's expiry by a day: a wall clock that slipped back by
# less than the gate notices must still not make an old command look new.
NONCE_KEEP_S = 24 * 3600.0
PRUNE_EVERY_S = 3600.0
DELIVERY_TIMEOUT_S = 2.0


class NonceStore:
    """Nonces of commands already seen, with their expiry (``seen_nonces`` in sync.db)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def remember(self, nonce: str, expires_at: float) -> bool:
        """Record ``nonce``; False if it was seen before. Durable when it returns."""
        try:
            self._conn.execute("INSERT INTO seen_nonces (nonce, expires_at) VALUES (?, ?)",
                               (nonce, expires_at))
        except sqlite3.IntegrityError:
            return False
        return True

    def prune(self, now: float) -> int:
        """Forget nonces whose command expired more than NONCE_KEEP_S ago."""
        return self._conn.execute("DELETE FROM seen_nonces WHERE expires_at < ?",
                                  (now - NONCE_KEEP_S,)).rowcount


class CommandRelay:
    """Checks and delivers commands on a thread of its own (``submit`` from any thread)."""

    def __init__(self, *, site: str, device: str, public_key: Ed25519PublicKey,
                 journal: AgentJournal, trust: AgentClockTrust, nonces: NonceStore,
                 tolerance: float, control_socket: Path | None) -> None:
        self.site = site
        self.device = device
        self.public_key = public_key
        self.journal = journal
        self.trust = trust
        self.nonces = nonces
        self.tolerance = tolerance
        # None on a booth: it has no gate of its own, so every command is refused.
        self.control_socket = control_socket
        self._queue: queue.Queue[bytes | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._last_prune = float("-inf")

    def start(self) -> None:
        """Start the relay thread."""
        self._thread = threading.Thread(target=self._run, name="sync-commands", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Finish the command at hand (if any) and stop."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def submit(self, raw: bytes) -> None:
        """Queue a message from the command topic."""
        self._queue.put(raw)

    def _run(self) -> None:
        while (raw := self._queue.get()) is not None:
            try:
                self.handle(raw)
            except Exception:
                # A bug here must not end command handling for the life of the process.
                log.exception("command handling failed")

    def handle(self, raw: bytes) -> str:
        """Check and deliver one command; returns what happened, for logs and tests:
        ``delivered``, ``undelivered``, ``refused`` or ``dropped``."""
        now = self.trust.clock.wall()
        if now - self._last_prune > PRUNE_EVERY_S or now < self._last_prune:
            # By the wall clock: one that is behind keeps nonces longer, which is harmless.
            self.nonces.prune(now)
            self._last_prune = now
        try:
            payload = open_signed(self.public_key, raw)
        except MalformedMessageError as exc:
            log.warning("dropped a malformed command message: %s", exc)
            return "dropped"
        except SignatureError as exc:
            self.journal.security("command", "bad_signature", detail=str(exc))
            return "refused"
        try:
            command = Command.parse(payload)
        except ProtocolError as exc:
            # Signed, so it came from central; still refused (e.g. a lifetime over 30 s).
            self.journal.security("command", "invalid", detail=str(exc))
            return "refused"
        estimate = self.trust.estimate()
        reason = self._refusal(command, estimate)
        if reason is not None:
            self.journal.security("command", reason, command=command.command,
                                  nonce=command.nonce, issued_by=command.issued_by,
                                  site=command.site, device=command.device,
                                  issued_at=command.issued_at, expires_at=command.expires_at,
                                  wall=now, judged_at=estimate.now, exact=estimate.exact)
            return "refused"
        result = self._deliver(command)
        # After delivery: the door must not wait for this file's fsync.
        self.trust.saw_command(command.issued_at)
        return result

    def _refusal(self, command: Command, estimate: TimeEstimate) -> str | None:
        if command.site != self.site:
            return "wrong_site"
        if command.device != self.device:
            return "wrong_device"
        if self.control_socket is None:
            # Central never addresses a command to a booth; one that does is journalled so
            # the desk sees it, and nothing moves.
            return "not_a_gate"
        if command.expires_at <= estimate.now:
            return "expired"
        if estimate.exact and command.issued_at > estimate.now + self.tolerance:
            return "issued_in_future"
        # Last, and durable before delivery: a crash after delivering must not free the
        # nonce for a replay.
        if not self.nonces.remember(command.nonce, command.expires_at):
            return "replayed_nonce"
        return None

    def _deliver(self, command: Command) -> str:
        assert self.control_socket is not None  # refused in _refusal otherwise
        started = time.monotonic()
        try:
            with ControlClient(self.control_socket, timeout=DELIVERY_TIMEOUT_S) as client:
                result = client.call("command", command=command.command,
                                     issued_by=command.issued_by, nonce=command.nonce,
                                     until=command.until)
        except (OSError, CommandError, ValueError) as exc:
            # Not queued for later: the command is only valid for seconds.
            reason = ("gate not running" if isinstance(exc, (FileNotFoundError,
                                                              ConnectionRefusedError))
                      else str(exc) or type(exc).__name__)
            log.error("command %s (%s) not delivered: %s", command.command, command.nonce,
                      reason)
            self.journal.event(UNDELIVERED_KIND, {"command": command.command,
                                                  "nonce": command.nonce,
                                                  "issued_by": command.issued_by,
                                                  "reason": reason}, alarm=True)
            return "undelivered"
        log.info("command %s from %s delivered in %.1f ms: %s", command.command,
                 command.issued_by, (time.monotonic() - started) * 1000, result)
        return "delivered"
