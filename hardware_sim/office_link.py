"""A site's link to the office, on one machine: a TCP relay between a site broker's bridge and
the central broker that can be cut and restored, as a router or a leased line would fail.

``cut`` closes every relayed connection and stops accepting new ones (the bridge's attempts
are refused at once); ``restore`` accepts again on the same port. The brokers on both ends
keep running, as they do at a site and at the office when the line between them drops."""

from __future__ import annotations

import contextlib
import socket
import threading

from hardware_sim.local_ports import free_tcp_port

_CHUNK = 65536


class OfficeLink:
    """Relays 127.0.0.1:``port`` to 127.0.0.1:``target_port`` while up."""

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_tcp_port()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self.connections = 0  # accepted so far: each bridge (re)connection counts one

    @property
    def up(self) -> bool:
        """Whether the link carries traffic."""
        return self._listener is not None

    def restore(self) -> None:
        """Accept and relay connections (again)."""
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(16)
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True,
                         name=f"office-link-{self.port}").start()

    def cut(self) -> None:
        """Drop every relayed connection and refuse new ones until ``restore``."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._open = self._open, set()
        if listener is not None:
            # shutdown wakes the thread blocked in accept(); close alone would leave the port
            # bound until it returned.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    server.close()
                    return
                self._open |= {client, server}
                self.connections += 1
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(_CHUNK):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            # One side ended: end both (a half-open relay would look like a silent link).
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._open -= {source, sink}
            source.close()
            sink.close()
