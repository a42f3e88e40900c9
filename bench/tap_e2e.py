"""A tap end to end: tag emulator -> nfcpy's udp driver -> reader adapter -> gate -> relay,
against nfcpy's udp driver reading the same card alone.

    python -m bench.tap_e2e --taps 100

Runs the real ``menwei-edge`` daemon (simulated door, nfc reader on ``udp:127.0.0.1:PORT``)
and presents cards with the tag emulator. For each tap it reports the time from the card
entering the field (the emulator answering the reader's first poll) to the strike output
going active, read from the simulated pins' outputs log (both on CLOCK_MONOTONIC).
Waiting for the reader's next poll is not counted: over udp an empty poll takes 1 s, which
says nothing about a PN532 on a Pi.

The baseline is the physical limit of the same read: a bare nfcpy
``ContactlessFrontend('udp:...')`` in its own process, polling a second emulator with the
same ``connect()`` options the gate's reader adapter uses, and no gate behind it; timed from
the same field moment to ``connect()`` handing over the tag (the UID in hand). Gate and
baseline take turns card by card, the same card each turn, ``--taps`` samples each; the
cards are 24 different ones, half 4-byte UIDs and half 7-byte NXP UIDs (which nfcpy probes
with GET_VERSION after selecting). The gate's figure also holds what the read alone does not:
the debouncer, the decision and its durable journal commit (synchronous=FULL) before the
strike is driven.

JSON: ``p50_ms``/``p99_ms``/``max_ms`` (gate, field -> relay), ``baseline_p50_ms``/
``baseline_p99_ms`` (field -> UID read by bare nfcpy), ``ratio_p50``/``ratio_p99`` (gate
over baseline), ``taps`` (samples per side), ``cards`` (distinct cards presented).
"""

from __future__ import annotations

import argparse
import json
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from bench.common import door_config, percentile, write_config
from edge.auth_store import AuthStore
from edge.card_record import CardRow
from edge.cards import CardStatus
from edge.control_socket import wait_until_answering
from hardware_sim.local_ports import free_udp_port
from hardware_sim.observed_pins import read_outputs_log
from hardware_sim.tag_emulator import PresentResult, TagEmulator

STRIKE = "GPIO17"
# 12 four-byte UIDs (not NXP: nfcpy activates them without probing) and 12 seven-byte NXP
# UIDs (probed with GET_VERSION), interleaved so consecutive taps alternate between sizes.
UIDS = [uid for i in range(12)
        for uid in (f"{0x0B + i:02X}{0xA1B2C3 + 7919 * i:06X}",
                    f"04{0xA1B2C3D4E5F6 + 104729 * i:012X}")]
GAP_S = 0.3  # the gate's 200 ms pulse ends and its 100 ms debounce window passes


def bare_reader(path: str) -> None:
    """The baseline's reader process: nfcpy alone, printing ``monotonic uid`` per read.

    The ``connect()`` options are the gate's reader adapter's (edge/readers/nfc_reader.py),
    so both sides do the same polling.
    """
    import nfc  # only this process needs nfcpy

    clf = nfc.ContactlessFrontend(path)
    rdwr: dict[str, Any] = {"targets": ["106A"], "on-connect": lambda _tag: False,
                            "iterations": 1, "interval": 0.0, "beep-on-connect": False}
    print("ready", flush=True)
    try:
        while True:
            tag = clf.connect(rdwr=rdwr)
            if tag is False:
                raise OSError("nfcpy lost the udp reader")
            if tag is None or tag is True:
                continue
            print(f"{time.monotonic():.6f} {bytes(tag.identifier).hex().upper()}", flush=True)
    finally:
        clf.close()


def _read_line(stream: IO[str], deadline: float) -> str | None:
    remaining = deadline - time.monotonic()
    if remaining <= 0 or not select.select([stream], [], [], remaining)[0]:
        return None
    return stream.readline()


def _bare_read_at(stream: IO[str], uid: str, timeout_s: float) -> float:
    """When the bare reader reported reading ``uid`` (its first read of this presentation)."""
    deadline = time.monotonic() + timeout_s
    while (line := _read_line(stream, deadline)) is not None:
        if not line:
            raise RuntimeError("the bare nfcpy reader exited")
        mono, read_uid = line.split()
        if read_uid == uid:
            return float(mono)
    raise RuntimeError(f"the bare nfcpy reader never read {uid}")


def _relay_at(outputs_log: Path, seen: int, timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        new = read_outputs_log(outputs_log)[seen:]
        relay = next((m for m, _p, pin, high in new if pin == STRIKE and high), None)
        if relay is not None:
            return relay
        time.sleep(0.0005)
    raise RuntimeError("the strike never fired")


def _drain(stream: IO[str]) -> None:
    """Drop the bare reader's reports of reads after the measured one (a held card)."""
    while select.select([stream], [], [], 0)[0]:
        if not stream.readline():
            return


def run(taps: int) -> tuple[list[float], list[float], list[float]]:
    """Interleaved samples: gate field->relay, gate selected->relay, bare field->read (ms)."""
    with tempfile.TemporaryDirectory(prefix="menwei-tap-") as tmp:
        data = Path(tmp)
        port, bare_port = free_udp_port(0), free_udp_port(0)
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
        gate = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config",
                                 str(cfg.source)], stderr=subprocess.DEVNULL)
        bare = subprocess.Popen([sys.executable, "-m", "bench.tap_e2e", "--bare-reader",
                                 f"udp:127.0.0.1:{bare_port}"], stdout=subprocess.PIPE,
                                text=True)
        assert bare.stdout is not None
        field_ms: list[float] = []
        read_ms: list[float] = []
        bare_ms: list[float] = []
        try:
            wait_until_answering(cfg.control_socket, 20)
            if _read_line(bare.stdout, time.monotonic() + 20) != "ready\n":
                raise RuntimeError("the bare nfcpy reader did not start")
            with (TagEmulator("127.0.0.1", port) as at_gate,
                  TagEmulator("127.0.0.1", bare_port) as at_bare):
                for i in range(taps):
                    uid = UIDS[i % len(UIDS)]
                    # Alternate which side goes first, so neither always follows the other.
                    for side in ((0, 1) if i % 2 == 0 else (1, 0)):
                        if side == 0:
                            seen = len(read_outputs_log(outputs_log))
                            result = at_gate.present(uid, timeout_s=5)
                            relay = _relay_at(outputs_log, seen, 2)
                            field_ms.append((relay - result.field_at_mono) * 1000)
                            read_ms.append((relay - result.read_at_mono) * 1000)
                        else:
                            _drain(bare.stdout)
                            bare_result: PresentResult = at_bare.present(uid, timeout_s=5)
                            read_at = _bare_read_at(bare.stdout, uid, 2)
                            bare_ms.append((read_at - bare_result.field_at_mono) * 1000)
                        time.sleep(GAP_S)
        finally:
            for proc in (gate, bare):
                proc.terminate()
            for proc in (gate, bare):
                proc.wait(10)
    return field_ms, read_ms, bare_ms


def main() -> None:
    """Run the benchmark and print its figures; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--taps", type=int, default=100, help="samples per side")
    parser.add_argument("--bare-reader", metavar="UDP_PATH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_reader:
        bare_reader(args.bare_reader)
        return
    field_ms, read_ms, bare_ms = run(args.taps)
    p50, p99 = percentile(field_ms, 50), percentile(field_ms, 99)
    b50, b99 = percentile(bare_ms, 50), percentile(bare_ms, 99)
    cards = len(set(UIDS[i % len(UIDS)] for i in range(args.taps)))
    print(f"taps: {len(field_ms)} per side, {cards} cards (4- and 7-byte UIDs), interleaved")
    print(f"gate, card in field -> relay:  p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
          f"max {max(field_ms):.2f} ms")
    print(f"gate, card selected -> relay:  p50 {percentile(read_ms, 50):.2f} ms  "
          f"p99 {percentile(read_ms, 99):.2f} ms")
    print(f"bare nfcpy, in field -> UID:   p50 {b50:.2f} ms  p99 {b99:.2f} ms  "
          f"max {max(bare_ms):.2f} ms")
    print(f"ratio gate / bare read: p50 {p50 / b50:.2f}  p99 {p99 / b99:.2f}")
    print(json.dumps({"p50_ms": round(p50, 2), "p99_ms": round(p99, 2),
                      "max_ms": round(max(field_ms), 2),
                      "baseline_p50_ms": round(b50, 2), "baseline_p99_ms": round(b99, 2),
                      "ratio_p50": round(p50 / b50, 2), "ratio_p99": round(p99 / b99, 2),
                      "taps": len(field_ms), "cards": cards}))


if __name__ == "__main__":
    main()
