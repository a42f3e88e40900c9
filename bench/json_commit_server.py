"""The physical limit of one desk write over HTTP, for bench.desk_issue: a bare HTTP server
in its own process (as the desk is) that takes a JSON POST, parses it, commits it as one
row of a SQLite file with the desk's durability (WAL, synchronous=FULL, BEGIN IMMEDIATE,
writers one at a time, central/db.py) and answers a JSON object of about the size the desk
answers an issue with. Nothing else: no session, no rules, no ORM.

    python -m bench.json_commit_server DATA_DIR

Prints the port it listens on (127.0.0.1, a free one) on its first line, then serves until
terminated.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from edge.migrations import connect

DB_NAME = "baseline-writes.db"
# About what the desk answers an issue of one card with (IssueOut: the card, its holder,
# validity and fee, the receipt number, the total).
ANSWER_BYTES = 330


class _Handler(BaseHTTPRequestHandler):
    server: _BareServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, delayed ACKs add 40 ms.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        row_id = self.server.record(json.loads(body))
        answer = json.dumps({"id": row_id, "pad": "x" * ANSWER_BYTES}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet, as the desk's server is."""


class _BareServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, data_dir: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.db: sqlite3.Connection = connect(str(data_dir / DB_NAME))
        self.db.execute("CREATE TABLE IF NOT EXISTS writes (id INTEGER PRIMARY KEY "
                        "AUTOINCREMENT, body TEXT NOT NULL)")
        self.lock = threading.Lock()

    def record(self, doc: Any) -> int:
        """One row, committed durably before the answer (as the desk's transaction)."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            cursor = self.db.execute("INSERT INTO writes (body) VALUES (?)",
                                     (json.dumps(doc),))
            self.db.execute("COMMIT")
            return int(cursor.lastrowid or 0)


def main() -> None:
    """Serve until SIGTERM."""
    server = _BareServer(Path(sys.argv[1]))
    signal.signal(signal.SIGTERM, lambda _sig, _frame: threading.Thread(
        target=server.shutdown, daemon=True).start())
    print(server.server_address[1], flush=True)
    server.serve_forever()
    server.server_close()
    server.db.close()


if __name__ == "__main__":
    main()
