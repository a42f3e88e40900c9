"""``menwei-sim``: the simulated world around a gate — present cards, drive simulated
hardware of a running gate, run a whole simulated compound."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path


def _cmd_tap(args: argparse.Namespace) -> int:
    from hardware_sim.tag_emulator import present_card  # noqa: PLC0415

    try:
        result = present_card(args.reader, args.uid, hold_s=args.hold, timeout_s=args.timeout)
    except TimeoutError:
        print(f"no reader polled {args.reader} within {args.timeout} s: is the gate running "
              "with that reader path?", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"cannot present that card: {exc}", file=sys.stderr)
        return 2
    print(f"card {args.uid} read by {args.reader} "
          f"({(result.read_at_mono - result.field_at_mono) * 1000:.1f} ms in the field)")
    return 0


def _parse_value(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _cmd_call(args: argparse.Namespace) -> int:
    from edge.control_socket import CommandError, ControlClient  # noqa: PLC0415
    from firmware_config.schema import ConfigError, load_config  # noqa: PLC0415

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return 2
    kwargs: dict[str, object] = {}
    for pair in args.args:
        key, sep, value = pair.partition("=")
        if not sep:
            print(f"argument {pair!r} must be key=value", file=sys.stderr)
            return 2
        kwargs[key] = _parse_value(value)
    try:
        with ControlClient(config.control_socket) as client:
            result = client.call(args.command, **kwargs)
    except (FileNotFoundError, ConnectionRefusedError):
        print(f"{config.device.id} is not running (no socket {config.control_socket})",
              file=sys.stderr)
        return 1
    except CommandError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


def _cmd_compound(args: argparse.Namespace) -> int:
    from hardware_sim.demo_compound import run_compound  # noqa: PLC0415

    sizes = {k: v for k, v in (("households", args.households), ("cards", args.cards))
             if v is not None}
    return run_compound(Path(args.dir).resolve(), args.first_port, **sizes)


def _cmd_display(args: argparse.Namespace) -> int:
    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415

    from hardware_sim.lane_display_sim import LaneDisplaySim  # noqa: PLC0415

    display = LaneDisplaySim(Path(args.link), Path(args.state), ack=not args.no_ack)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    display.start()
    print(f"lane display on {args.link} ({display.slave_name}); state in {args.state}",
          flush=True)
    try:
        stop.wait()
    finally:
        display.stop()
    return 0


def _cmd_plate(args: argparse.Namespace) -> int:
    import errno  # noqa: PLC0415

    from firmware_config.schema import ConfigError, load_config  # noqa: PLC0415
    from hardware_sim.plate_camera_sim import push_plate  # noqa: PLC0415

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return 2
    if config.camera is None:
        print(f"{args.config} has no [camera] table: this lane has no plate camera",
              file=sys.stderr)
        return 2
    camera = config.camera
    url = f"http://{camera.listen_host}:{camera.listen_port}{camera.path}"
    # The lane takes pushes from its camera's address only: sent from it when this machine
    # has it (a loopback address in simulation).
    source: str | None = camera.camera_address
    try:
        try:
            status, answer = push_plate(url, args.plate, args.confidence,
                                        source_address=source)
        except OSError as exc:
            if exc.errno != errno.EADDRNOTAVAIL:
                raise
            print(f"this machine has no address {source}: pushing from its own (the lane "
                  "will refuse it)", file=sys.stderr)
            source = None
            status, answer = push_plate(url, args.plate, args.confidence)
    except OSError as exc:
        print(f"no lane camera listening at {url}: {exc}", file=sys.stderr)
        return 1
    print(f"{args.plate} ({args.confidence}) pushed to {url}: {status} "
          f"{json.dumps(answer, ensure_ascii=False)}")
    return 0 if status == 200 else 1


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="menwei-sim", description=__doc__)
    sub = parser.add_subparsers(dest="subcommand", required=True)

    p = sub.add_parser("tap", help="present a card once to an nfcpy udp reader; returns when "
                                   "it was read")
    p.add_argument("--reader", required=True, help="the gate's reader path, "
                                                   "udp:127.0.0.1:PORT")
    p.add_argument("--uid", required=True, help="card UID in hex, e.g. 04A1B2C3")
    p.add_argument("--hold", type=float, default=0.0, help="keep the card on the reader for "
                                                           "this many seconds after the read")
    p.add_argument("--timeout", type=float, default=10.0)
    p.set_defaults(func=_cmd_tap)

    p = sub.add_parser("call", help="send a command to a running gate (sim.push, sim.rex, "
                                    "sim.force, sim.drive_through, sim.outputs, status, ...)")
    p.add_argument("--config", required=True, help="the gate's TOML file")
    p.add_argument("command")
    p.add_argument("args", nargs="*", help="key=value (values are JSON, or plain text)")
    p.set_defaults(func=_cmd_call)

    p = sub.add_parser("compound", help="run the whole simulated compound: Mosquitto, the "
                                        "desk service, two doors and a car-park lane pair")
    p.add_argument("--dir", default="var/compound", help="where configs, data and logs go "
                   "(the broker, desk and gates parts are written afresh on every start)")
    p.add_argument("--first-port", type=int, default=54321,
                   help="UDP port of the first simulated reader, the others following; "
                   "with it the desk listens on 8080 when free (0: any free ports)")
    p.add_argument("--households", type=int, help="made-up households to add to the "
                   "example site (default 400; 0: the site file's people only)")
    p.add_argument("--cards", type=int, help="cards the desk issues them in all "
                   "(default 1600)")
    p.set_defaults(func=_cmd_compound)

    p = sub.add_parser("display", help="run a simulated lane LED display and voice module on "
                                       "a pseudo-terminal until stopped")
    p.add_argument("--link", required=True, help="where to put the serial device's symlink: "
                   "the [display] path of the lane's config")
    p.add_argument("--state", required=True, help="JSON file the display keeps its rows and "
                   "the voice lines said in (replaced atomically on every change)")
    p.add_argument("--no-ack", action="store_true", help="a display that never answers")
    p.set_defaults(func=_cmd_display)

    p = sub.add_parser("plate", help="push one licence-plate read to a lane, as its camera "
                                     "does")
    p.add_argument("--config", required=True, help="the lane's TOML file (its [camera] says "
                   "where to push)")
    p.add_argument("--plate", required=True, help="the plate read, e.g. 粤B12345")
    p.add_argument("--confidence", type=int, default=95, help="0..100 (default 95)")
    p.set_defaults(func=_cmd_plate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``menwei-sim``."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
