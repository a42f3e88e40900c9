"""A tap end to end: tag emulator -> nfcpy's udp driver -> reader adapter -> gate -> relay.

    python -m bench.tap_e2e --taps 100

Runs the real ``menwei-edge`` daemon (simulated door, nfc reader on ``udp:127.0.0.1:PORT``)
and presents cards with the tag emulator. For each tap it reports the time from the card
entering the field (the emulator answering the reader's first poll) to the strike output
going active, read from the simulated pins' outputs log (both on CLOCK_MONOTONIC).
Waiting for the reader's next poll is not counted: over udp an empty poll takes 1 s, which
says nothing about a PN532 on a Pi.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import door_config, percentile, write_config
from edge.auth_store import AuthStore
from edge.card_record import CardRow
from edge.cards import CardStatus
from edge.control_socket import wait_until_answering
from hardware_sim.observed_pins import read_outputs_log
from hardware_sim.tag_emulator import TagEmulator, free_udp_port

STRIKE = "GPIO17"
UIDS = ["04A1B2C3", "04A1B2C3D4E5F6", "0B0B0B0B", "0C0C0C0C"]


def main() -> None:
    """Run the benchmark and print its figures; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--taps", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="menwei-tap-") as tmp:
        data = Path(tmp)
        port = free_udp_port(0)
        outputs_log = data / "outputs.log"
        doc = door_config(data, {
            "reader": {"kind": "nfc", "path": f"udp:127.0.0.1:{port}", "debounce": "100ms"},
            "simulation": {"outputs_log": str(outputs_log)},
        })
        doc["door"]["pulse"] = "200ms"
        cfg = write_config(data / "door.toml", doc)
        store = AuthStore(cfg.auth_db)
        store.upsert(CardRow(u, CardStatus.ACTIVE, None, None, ("b1",), None, "owner", None)
                     for u in UIDS)
        store.close()
        proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config",
                                 str(cfg.source)], stderr=subprocess.DEVNULL)
        field_ms: list[float] = []
        read_ms: list[float] = []
        try:
            wait_until_answering(cfg.control_socket, 20)
            with TagEmulator("127.0.0.1", port) as emulator:
                for i in range(args.taps):
                    seen = len(read_outputs_log(outputs_log))
                    result = emulator.present(UIDS[i % len(UIDS)], timeout_s=5)
                    deadline = time.monotonic() + 2
                    relay = None
                    while relay is None and time.monotonic() < deadline:
                        new = read_outputs_log(outputs_log)[seen:]
                        relay = next((m for m, _p, pin, high in new if pin == STRIKE and high),
                                     None)
                        if relay is None:
                            time.sleep(0.0005)
                    if relay is None:
                        raise RuntimeError(f"tap {i}: the strike never fired")
                    field_ms.append((relay - result.field_at_mono) * 1000)
                    read_ms.append((relay - result.read_at_mono) * 1000)
                    time.sleep(0.3)  # pulse ends and the debounce window passes
        finally:
            proc.terminate()
            proc.wait(10)
    p50, p99 = percentile(field_ms, 50), percentile(field_ms, 99)
    print(f"taps: {len(field_ms)} (4- and 7-byte UIDs) through nfcpy udp -> gate -> relay")
    print(f"card in field -> relay:   p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
          f"max {max(field_ms):.2f} ms")
    print(f"card selected -> relay:   p50 {percentile(read_ms, 50):.2f} ms  "
          f"p99 {percentile(read_ms, 99):.2f} ms")
    print(json.dumps({"p50_ms": round(p50, 2), "p99_ms": round(p99, 2),
                      "max_ms": round(max(field_ms), 2), "taps": len(field_ms)}))


if __name__ == "__main__":
    main()
