"""The physical limit of a plate push ending at a relay, for bench.lane: a bare HTTP server
in its own process that takes the camera's POST, parses the JSON, commits one fsync'd
SQLite row (WAL, synchronous=FULL, in the lane's data directory) and then writes the relay
line, in the outputs log's format (hardware_sim.observed_pins), with its CLOCK_MONOTONIC
time. The same stdlib HTTP server the lane's camera adapter uses; nothing else.

    python -m bench.plate_server_baseline DATA_DIR

Prints the port it listens on (127.0.0.1, a free one) on its first line, then serves until
terminated.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from edge.migrations import connect

RELAY_PIN = "GPIO5"  # the lane's raise_out
DB_NAME = "baseline-events.db"
LOG_NAME = "baseline-outputs.log"
ANSWER = json.dumps({"Response_AlarmInfoPlate": {"info": "no"}}).encode()


class _Handler(BaseHTTPRequestHandler):
    server: _BareServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        plate: dict[str, Any] = json.loads(body)["AlarmInfoPlate"]["result"]["PlateResult"]
        self.server.record(str(plate["license"]), int(plate["confidence"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet, as the lane's camera server is."""


class _BareServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, data_dir: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.db = connect(str(data_dir / DB_NAME))
        self.db.execute("CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY "
                        "AUTOINCREMENT, kind TEXT, plate TEXT, confidence INTEGER)")
        self.lock = threading.Lock()
        self.log_fd = os.open(data_dir / LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                              0o644)

    def record(self, plate: str, confidence: int) -> None:
        """One durable row, then the relay line (as the gate: journal before the relay)."""
        with self.lock:
            self.db.execute("INSERT INTO events (kind, plate, confidence) VALUES (?, ?, ?)",
                            ("plate", plate, confidence))
            os.write(self.log_fd, f"{time.monotonic():.6f} {os.getpid()} {RELAY_PIN} 1\n"
                     .encode())


def main() -> None:
    """Serve until SIGTERM."""
    server = _BareServer(Path(sys.argv[1]))
    signal.signal(signal.SIGTERM, lambda _sig, _frame: threading.Thread(
        target=server.shutdown, daemon=True).start())
    print(server.server_address[1], flush=True)
    server.serve_forever()
    server.server_close()
    server.db.close()
    os.close(server.log_fd)


if __name__ == "__main__":
    main()
