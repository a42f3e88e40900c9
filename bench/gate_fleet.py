"""The simulated gates of bench/company.py: many per process, each a paho client driven from
one selector loop, speaking the real protocol with the real message classes (each gate's
journal, its uplink as sync/agent/journal_uplink.py ships it, the EventAck of its journal,
the signed authorisation changes of its site verified before they are looked at).

``python -m bench.gate_fleet --role gates SPEC`` is one such process (started by
``start_gates``)."""

from __future__ import annotations

import json
import random
import resource
import secrets
import selectors
import subprocess
import sys
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from sync.agent.edge_agent import POLL_S
from sync.agent.journal_uplink import MAX_ACK_TIMEOUT_S
from sync.wire import topics
from sync.wire.auth_messages import AuthChanges, parse_auth_message
from sync.wire.device_messages import DeviceStatus, EventAck, EventBatch
from sync.wire.envelope import open_signed
from sync.wire.signing import parse_public_key

BASELINE_LEAF = "bench/baseline"
DRAIN_TIMEOUT_S = 600.0


def baseline_topic(site: str) -> str:
    """The revocation baseline's topic: under the site's own, so the bridge carries it."""
    return f"{topics.ROOT}/{site}/{BASELINE_LEAF}"


# ---------------------------------------------------------------------------- the gates


@dataclass
class GateSettings:
    """How every simulated gate behaves."""

    rate: float  # events a second
    batch: int
    window: int
    ack_timeout: float
    public_key: str


class SimGate:
    """One gate: a paho client, its journal (generated as time goes), its uplink."""

    def __init__(self, site: str, name: str, password: str, port: int, *,
                 settings: GateSettings, out: Callable[[str], None]) -> None:
        self.site, self.name, self.port, self.settings = site, name, port, settings
        self.public_key = parse_public_key(settings.public_key)
        self.journal_id = secrets.token_hex(16)
        self.boot_id = secrets.token_hex(8)
        self.out = out
        self.generated = 0
        self.events: deque[dict[str, Any]] = deque()  # unacknowledged, in seq order
        self.cursor = 0  # the newest seq handed to the link
        self.acked = 0
        self.in_flight: deque[tuple[int, float]] = deque()
        self.ack_since = True  # an ack moved since the last batch not full was sent
        self.moved_at = float("-inf")
        self.wait = settings.ack_timeout  # doubled per resend with no ack moving, as the agent
        self.resent = 0
        self.batches = 0
        self.ready = False
        self.subscribed = 0
        self.next_poll = 0.0
        self.rng = random.Random(f"{site}/{name}")
        self.events_topic = topics.events(site, name)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name,
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(name, password)
        self.client.on_connect = self._connected
        self.client.on_subscribe = self._subscribed
        self.client.on_message = self._message

    def _connected(self, client: mqtt.Client, *_a: object) -> None:
        client.subscribe([(topics.auth_changes(self.site), 1),
                          (topics.ack(self.site, self.name), 1),
                          (baseline_topic(self.site), 1)])
        client.publish(topics.status(self.site, self.name),
                       DeviceStatus(self.name, True, None, 0, True, time.time()).dump(),
                       qos=1, retain=True)
        # What was in flight may be lost with the old connection: all of it again.
        self._rewind()

    def _subscribed(self, *_a: object) -> None:
        self.ready = True

    def _message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        leaf = message.topic.rsplit("/", 1)[1]
        if leaf == "ack":
            ack = EventAck.parse(bytes(message.payload))
            if ack.journal_id == self.journal_id and ack.upto_seq > self.acked:
                self.acked = ack.upto_seq
                while self.events and self.events[0]["seq"] <= self.acked:
                    self.events.popleft()
                while self.in_flight and self.in_flight[0][0] <= self.acked:
                    self.in_flight.popleft()
                self.moved_at = now
                self.ack_since = True
                self.wait = self.settings.ack_timeout
                self.pump(now)
        elif message.topic.endswith(BASELINE_LEAF):
            self.out(f"base {self.site} {self.name} {message.payload.split()[0].decode()} "
                     f"{now:.6f}")
        else:
            # What a gate must act on is verified first: the signature, then the message.
            change = parse_auth_message(open_signed(self.public_key, bytes(message.payload)))
            if isinstance(change, AuthChanges):
                for card in change.cards:
                    if card.status.value == "lost":
                        self.out(f"rev {self.site} {self.name} {card.uid} {now:.6f} "
                                 f"{len(message.payload)}")

    def _rewind(self) -> None:
        if self.cursor > self.acked:
            self.resent += self.cursor - self.acked
        self.cursor = self.acked
        self.in_flight.clear()

    def generate(self, upto: int, wall: float) -> None:
        """The journal up to seq ``upto``: taps at the gate."""
        for seq in range(self.generated + 1, upto + 1):
            self.events.append({
                "seq": seq, "boot_id": self.boot_id, "wall": wall, "mono": wall,
                "kind": "tap", "alarm": False, "clock_trusted": True,
                "uid": f"04{self.rng.randrange(1 << 48):012X}", "granted": True,
                "reason": "granted", "data": {"latency_us": 250}})
        self.generated = max(self.generated, upto)

    def pump(self, now: float) -> None:
        """The uplink's round: send again after the ack timeout, then fill the window."""
        if not self.client.is_connected():
            return
        if self.in_flight and now - max(self.in_flight[0][1], self.moved_at) > self.wait:
            self._rewind()
            self.wait = min(self.wait * 2, max(MAX_ACK_TIMEOUT_S, self.settings.ack_timeout))
        while len(self.in_flight) < self.settings.window and self.cursor < self.generated:
            start = self.cursor - self.acked
            chunk = tuple(self.events[i] for i in range(
                start, min(start + self.settings.batch, len(self.events))))
            partial = len(chunk) < self.settings.batch
            if partial and self.in_flight and not self.ack_since:
                break  # as the uplink: a batch not yet full waits for an ack that moves
            batch = EventBatch(self.name, chunk, self.acked, self.journal_id)
            self.client.publish(self.events_topic, batch.dump(), qos=1)
            self.cursor = batch.last_seq
            self.in_flight.append((self.cursor, now))
            self.ack_since = self.ack_since and not partial
            self.batches += 1

    def summary(self) -> dict[str, Any]:
        """What the gate generated, sent again and had acknowledged."""
        return {"site": self.site, "gate": self.name, "journal_id": self.journal_id,
                "generated": self.generated, "acked": self.acked, "resent": self.resent,
                "batches": self.batches}


def gates_role(spec_path: Path) -> None:
    """A gate process: every gate of the spec file on one selector loop. Prints ``ready``,
    then ``rev``/``base`` lines as changes arrive; generates from the first ``go`` line on
    stdin until ``stop``; after ``exit`` (or the end of stdin), once every event is
    acknowledged, prints its summary as JSON and ends."""
    spec = json.loads(spec_path.read_text())
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    settings = GateSettings(**spec["settings"])
    lines: deque[str] = deque()
    gates = [SimGate(g["site"], g["gate"], g["password"], g["port"], settings=settings,
                     out=lines.append)
             for g in spec["gates"]]
    sel = selectors.DefaultSelector()
    by_socket: dict[int, SimGate] = {}
    for gate in gates:
        gate.client.connect("127.0.0.1", gate.port, keepalive=60)
        sock = gate.client.socket()
        assert sock is not None
        sel.register(sock, selectors.EVENT_READ, gate)
        by_socket[sock.fileno()] = gate
        gate.client.loop_write()
    commands: deque[str] = deque()

    def read_stdin() -> None:
        for line in sys.stdin:
            commands.append(line.strip())
        commands.append("exit")

    threading.Thread(target=read_stdin, daemon=True).start()
    started: float | None = None
    wall0 = 0.0
    stopped_at: float | None = None
    said_ready = False
    exiting = False
    last_misc = time.monotonic()
    rate = settings.rate
    while True:
        for key, _mask in sel.select(timeout=0.02):
            gate = key.data
            gate.client.loop_read(100)
        now = time.monotonic()
        while commands:
            command = commands.popleft()
            if command.startswith("go") and started is None:
                started, wall0 = now, time.time()
                for gate in gates:
                    gate.next_poll = now + gate.rng.uniform(0, POLL_S)
            elif command == "stop" and stopped_at is None:
                stopped_at = now
            elif command == "exit":
                stopped_at = stopped_at or now
                exiting = True
        if started is not None:
            upto = int(rate * ((stopped_at or now) - started))
            wall = wall0 + (now - started)
            for gate in gates:
                if gate.generated < upto:
                    gate.generate(upto, wall)
                if now >= gate.next_poll:
                    gate.next_poll = now + POLL_S
                    gate.pump(now)
        for gate in gates:
            if gate.client.want_write():
                gate.client.loop_write()
        if now - last_misc > 1.0:
            last_misc = now
            for gate in gates:
                gate.client.loop_misc()
        while lines:
            sys.stdout.write(lines.popleft() + "\n")
        sys.stdout.flush()
        if not said_ready and all(g.ready for g in gates):
            said_ready = True
            print("ready", flush=True)
        if exiting and stopped_at is not None and (
                all(g.acked >= g.generated for g in gates)
                or now - stopped_at > DRAIN_TIMEOUT_S):
            break
    for gate in gates:
        gate.client.disconnect()
    print(json.dumps({"gates": [g.summary() for g in gates]}), flush=True)


class GateProcess:
    """A gate process seen from the benchmark: its arrivals, then its summary."""

    def __init__(self, spec: Path, arrivals: Arrivals) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.gate_fleet", "--role",
                                      "gates", str(spec)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.arrivals = arrivals
        self.ready = threading.Event()
        self.summary: dict[str, Any] | None = None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(("rev ", "base ")):
                self.arrivals.add(line.split())
            elif line.strip() == "ready":
                self.ready.set()
            elif line.startswith("{"):
                self.summary = json.loads(line)

    def send(self, command: str) -> None:
        """A line to the process's stdin."""
        stdin = self.proc.stdin
        assert stdin is not None
        stdin.write(command + "\n")
        stdin.flush()


class Arrivals:
    """When each gate saw each change: (kind, site, key) -> [(gate, monotonic time)]."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str, str], list[tuple[str, float]]] = defaultdict(list)
        self.sizes: list[int] = []
        self.cond = threading.Condition()

    def add(self, fields: list[str]) -> None:
        """One ``rev``/``base`` line."""
        kind, site, gate, key, at = fields[:5]
        with self.cond:
            self.seen[(kind, site, key)].append((gate, float(at)))
            if kind == "rev":
                self.sizes.append(int(fields[5]))
            self.cond.notify_all()

    def wait(self, kind: str, site: str, key: str, gates: int, timeout: float) -> float:
        """The time the last of ``gates`` gates saw it."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len({g for g, _ in self.seen[(kind, site, key)]}) < gates:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{kind} {key}: {len(self.seen[(kind, site, key)])} "
                                       f"of {gates} gates after {timeout:.0f} s")
                self.cond.wait(left)
            return max(t for _g, t in self.seen[(kind, site, key)])


def start_gates(root: Path, sites: list[str], gates: list[str], gate_ports: dict[str, int], *,
                settings: GateSettings, processes: int,
                gate_password: Callable[[str, str], str],
                arrivals: Arrivals) -> list[GateProcess]:
    """The simulated gates in ``processes`` processes, sites dealt out among them; returns
    once every gate is connected and subscribed."""
    procs = []
    for p in range(processes):
        mine = [{"site": s, "gate": g, "password": gate_password(s, g),
                 "port": gate_ports[s]}
                for s in sites[p::processes] for g in gates]
        if not mine:
            continue
        spec = root / f"gates-{p}.json"
        spec.write_text(json.dumps({"settings": settings.__dict__, "gates": mine}))
        procs.append(GateProcess(spec, arrivals))
    for proc in procs:
        if not proc.ready.wait(300):
            raise TimeoutError("a gate process did not connect its gates")
    return procs


def main() -> None:
    """One process of gates: ``--role gates SPEC``."""
    if sys.argv[1:2] != ["--role"] or len(sys.argv) != 4 or sys.argv[2] != "gates":
        raise SystemExit("usage: python -m bench.gate_fleet --role gates SPEC (started by "
                         "bench.company)")
    gates_role(Path(sys.argv[3]))


if __name__ == "__main__":
    main()
