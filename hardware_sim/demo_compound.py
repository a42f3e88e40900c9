"""The simulated compound, the README's main command: a site broker (Mosquitto), the desk
service with the example site and demo logins, four gates (two doors, a car-park
entry/exit lane pair), each a real ``menwei-edge`` + ``menwei-sync`` pair with nfcpy's udp
reader and simulated pins, as on a Pi, and the guard's booth of the east post (a real
``menwei-booth`` + ``menwei-sync`` pair) driving the main gate and the car park. The demo
cards are issued at the desk and reach the gates by sync. The processes are built by
hardware_sim.compound_processes; the desk is reached through its commands and API only
(hardware_sim.front_desk)."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from hardware_sim.compound_processes import Compound, wait_for
from hardware_sim.front_desk import ADMIN, STAFF
from hardware_sim.running_booth import BOOTH, PREFERRED_PORT

__all__ = ["DEMO_CARDS", "issue_demo_cards", "run_compound"]

# uid → (holder, what it shows). Issued in this order by issue_demo_cards.
DEMO_CARDS = {
    "04A1B2C3": ("王建国", "owner of 1-1201: main gate, 1栋 lobby, and a monthly car-park "
                          "card (plate 粤B 12345)"),
    "04A1B2C3D4E5F6": ("张丽", "his spouse, 7-byte UID: main gate and 1栋 lobby only"),
    "0C0C0C0C": ("刘洋", "owner of 2-301, reported lost: refused everywhere"),
}
UNKNOWN_CARD = "0E0E0E0E"
# The README's demo site: big enough to feel real, small enough to build in seconds.
SITE_HOUSEHOLDS, SITE_CARDS = 400, 1600


def issue_demo_cards(compound: Compound) -> None:
    """Issue the demo cards as the front desk would, through the API as the clerk (and the
    director, who approves the parking month)."""
    desk = compound.desk
    clerk = desk.session("clerk")
    for uid, holder, relationship, applicant in (
            ("04A1B2C3", "王建国", "self", None),
            ("04A1B2C3D4E5F6", "张丽", "spouse", "王建国"),
            ("0C0C0C0C", "刘洋", "self", None)):
        response = desk.issue_resident_card(clerk, holder, uid, relationship, applicant)
        if response.status_code != 201:
            raise RuntimeError(f"issuing {uid}: {response.status_code} {response.text}")
    desk.grant_parking("王建国", "04A1B2C3", "粤B 12345", new_card=False)
    lost = desk.report_lost(clerk, "0C0C0C0C", "刘洋")
    if lost.status_code != 201:
        raise RuntimeError(f"reporting 0C0C0C0C lost: {lost.status_code} {lost.text}")


def _cards_at_gates(compound: Compound) -> bool:
    """Whether every gate has the demo cards as the desk left them."""
    want = {"04A1B2C3": "active", "04A1B2C3D4E5F6": "active", "0C0C0C0C": "lost"}
    return all(gate.card_status(uid) == status for gate in compound.gates.values()
               for uid, status in want.items())


def _instructions(c: Compound) -> str:
    bindir = Path(sys.executable).parent
    sim, edge = bindir / "menwei-sim", bindir / "menwei-edge"
    main, b1 = c.gates["main-gate"], c.gates["b1-lobby"]
    entry, exit_ = c.gates["carpark-in"], c.gates["carpark-out"]
    login = (f"curl -s -X POST {c.api}/login -H 'content-type: application/json' "
             f"-d '{{\"username\": \"guard\", \"password\": \"{c.password}\"}}'")
    lines = ["", f"Menwei simulated compound ({c.site}) is running. Data and logs: {c.root}",
             "", f"Desk: {c.desk_url}   (open it in a browser)",
             f"Desk API: {c.api}   (OpenAPI: {c.api}/openapi.json)",
             f"Guard's booth ({BOOTH.post}, {BOOTH.name}): {c.booth_url}   (sign in as guard; "
             f"it drives {', '.join(BOOTH.gates)})"]
    if c.demo_households:
        lines.append(f"The site: the example's people and {c.demo_households} more households "
                     f"with {c.demo_cards} cards, a year of desk work and a month of gate "
                     "events (made up, deterministic)")
    lines += ["Demo logins (password for all: " + c.password + "):"]
    lines += [f"  {name:<9} {role}" for name, role in ((ADMIN, "admin"), *STAFF)]
    lines += ["", "Demo cards (issued at the desk, delivered to the gates by sync):"]
    lines += [f"  {uid:<16} {holder} — {note}" for uid, (holder, note) in DEMO_CARDS.items()]
    lines += [f"  {UNKNOWN_CARD:<16} never issued: unknown card"]
    lines += [
        "",
        "At 1栋 lobby (b1-lobby), in another terminal:",
        f"  tap a card:        {sim} tap --reader {b1.reader} --uid 04A1B2C3",
        f"  push the door:     {sim} call --config {b1.config_path} sim.push",
        f"  press exit button: {sim} call --config {b1.config_path} sim.rex",
        f"  break in:          {sim} call --config {b1.config_path} sim.force",
        "At the main gate (main-gate):",
        f"  tap a card:        {sim} tap --reader {main.reader} --uid 04A1B2C3D4E5F6",
        "",
        "At the car park:",
        f"  tap at the entry:  {sim} tap --reader {entry.reader} --uid 04A1B2C3",
        f"  drive through:     {sim} call --config {entry.config_path} sim.drive_through",
        f"  tap at the exit:   {sim} tap --reader {exit_.reader} --uid 04A1B2C3",
        f"  drive out:         {sim} call --config {exit_.config_path} sim.drive_through",
        f"  the camera reads:  {sim} plate --config {entry.config_path} --plate 粤B12345",
        f"  a visitor's car:   {sim} plate --config {entry.config_path} --plate 粤A88888",
        f"  the lane display:  cat {entry.display_state}",
        "",
        "Watch and operate any gate:",
        f"  {edge} status --config {b1.config_path}",
        f"  {edge} events --config {b1.config_path}",
        f"  {edge} open --config {entry.config_path} --guard 'Guard Wang' "
        "--reason 'ambulance'",
        "",
        "The desk API (log in, then pass the token):",
        f"  {login}",
        f"  curl -s -H 'Authorization: Bearer TOKEN' '{c.api}/events?limit=20'",
        f"  curl -s -H 'Authorization: Bearer TOKEN' {c.api}/devices",
        f"  curl -s -H 'Authorization: Bearer TOKEN' {c.api}/cards/04A1B2C3",
        "",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


class _StopRequestedError(Exception):
    """Ctrl-C or SIGTERM while starting: unwind and stop what already runs."""


def run_compound(data_dir: Path, first_port: int = 54321, households: int = SITE_HOUSEHOLDS,
                 cards: int = SITE_CARDS) -> int:
    """Start the compound on a site of ``households`` made-up households holding ``cards``
    cards (besides the site file's people), issue the demo cards, print how to use it, and
    run until Ctrl-C or SIGTERM; then stop every process (gates and booth, desk, broker) and
    return 0."""
    compound = Compound(data_dir, first_port=first_port,
                        desk_port_preferred=8080 if first_port else 0,
                        booth_port_preferred=PREFERRED_PORT if first_port else 0,
                        demo_households=households, demo_cards=cards)
    started = False
    stop = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True
        if not started:
            # Starting waits in many places; unwinding is the one way out of all of them.
            raise _StopRequestedError

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        compound.prepare()
        print("starting the broker, the desk service, four gates and the booth ...",
              flush=True)
        compound.start()
        issue_demo_cards(compound)
        wait_for("the demo cards at every gate", lambda: _cards_at_gates(compound), 60)
        started = True
        if stop:
            return 0
        print(_instructions(compound), flush=True)
        while not stop:
            try:
                compound.check_alive()
            except RuntimeError as exc:
                print(f"{exc}\n(logs in {compound.root})", file=sys.stderr)
                return 1
            time.sleep(0.2)
    except _StopRequestedError:
        pass
    finally:
        # Ctrl-C again while stopping must not leave processes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        compound.stop()
        print("compound stopped", flush=True)
    return 0
