"""``menwei-edge``: run a gate, check its config, commission cards, ask a running gate."""

from __future__ import annotations

import argparse
import faulthandler
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from edge.exit_codes import ExitCode
from firmware_config.schema import ConfigError, EdgeConfig, load_config


def _load(path: str) -> EdgeConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        raise SystemExit(ExitCode.CONFIG) from exc


def _cmd_check_config(args: argparse.Namespace) -> int:
    status = 0
    for path in args.files:
        try:
            cfg = load_config(path)
        except ConfigError as exc:
            print(exc.report(), file=sys.stderr)
            status = ExitCode.CONFIG
            continue
        print(f"{path}: ok ({cfg.device.role.value} {cfg.device.id} at {cfg.site.id})")
    return status


def _cmd_run(args: argparse.Namespace) -> int:
    cfg = _load(args.config)
    if cfg.booth is not None:
        print(f"{args.config} is a booth's config: run it with menwei-booth run",
              file=sys.stderr)
        return ExitCode.CONFIG
    from edge.daemon import run  # noqa: PLC0415 - keeps check-config free of hardware imports

    return run(cfg)


def _cmd_load_cards(args: argparse.Namespace) -> int:
    from edge.auth_store import AuthStore  # noqa: PLC0415
    from edge.card_csv import CardCsvError, load_cards_csv  # noqa: PLC0415

    cfg = _load(args.config)
    store = AuthStore(cfg.auth_db)
    try:
        n = load_cards_csv(store, Path(args.csv))
    except CardCsvError as exc:
        print(f"{args.csv}: nothing loaded, {len(exc.errors)} error(s):", file=sys.stderr)
        for error in exc.errors:
            print(f"  - {error}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{args.csv}: cannot read: {exc.strerror}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(f"loaded {n} card(s) into {cfg.auth_db}")
    return 0


def _call(cfg: EdgeConfig, cmd: str, **kwargs: object) -> object:
    from edge.control_socket import CommandError, ControlClient  # noqa: PLC0415

    try:
        with ControlClient(cfg.control_socket) as client:
            return client.call(cmd, **kwargs)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        print(f"the gate {cfg.device.id} is not running (no socket at {cfg.control_socket})",
              file=sys.stderr)
        raise SystemExit(1) from exc
    except CommandError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def _cmd_status(args: argparse.Namespace) -> int:
    print(json.dumps(_call(_load(args.config), "status"), indent=2, ensure_ascii=False))
    return 0


def _cmd_open(args: argparse.Namespace) -> int:
    result = _call(_load(args.config), "open", guard=args.guard, reason=args.reason)
    assert isinstance(result, dict)
    seq = result["seq"]
    # Egress is never refused for want of a record (seq 0): the guard is told it was not.
    recorded = (f"journalled as event {seq}" if seq else
                "NOT journalled (the journal is unavailable: see `menwei-edge status`)")
    if not result.get("opened"):
        # Journalled all the same, with why it did not open (lockdown, out of service).
        print(f"NOT opened (see `menwei-edge status`); {recorded}", file=sys.stderr)
        return 1
    print(f"opened; {recorded}")
    return 0


def _cmd_reset(args: argparse.Namespace) -> int:
    result = _call(_load(args.config), "reset", guard=args.guard, reason=args.reason)
    assert isinstance(result, dict)
    seq = result["seq"]
    recorded = (f"journalled as event {seq}" if seq else
                "NOT journalled (the journal is unavailable: see `menwei-edge status`)")
    if not result.get("in_service"):
        print(f"STILL OUT OF SERVICE (state {result.get('state')}): check the arm and its "
              f"limit switches; {recorded}", file=sys.stderr)
        return 1
    print(f"back in service (state {result.get('state')}); {recorded}")
    return 0


def _cmd_clear_presence(args: argparse.Namespace) -> int:
    result = _call(_load(args.config), "clear_presence", uid=args.uid, guard=args.guard,
                   reason=args.reason)
    assert isinstance(result, dict)
    before = "was inside" if result.get("was_inside") else "was not inside"
    if not result.get("cleared"):
        print(f"NOT cleared: the presence file could not be written (see `menwei-edge "
              f"status`); the card {before}; journalled as event {result['seq']}",
              file=sys.stderr)
        return 1
    print(f"presence cleared (the card {before}); journalled as event {result['seq']}")
    return 0


def _occupied_option(text: str) -> tuple[str, int]:
    """``--occupied temporary=12``: a class and a count."""
    name, _, number = text.partition("=")
    if not number.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected CLASS=COUNT, e.g. temporary=12")
    return name.strip(), int(number)


def _print_lot(result: dict[str, object]) -> None:
    classes = result.get("classes")
    assert isinstance(classes, dict)
    name = result.get("name")
    print(f"car park {name} ({result['lot']})" if name else f"car park {result['lot']}")
    for space_class, figures in classes.items():
        free = "not counted" if figures["free"] is None else f"{figures['free']} free"
        print(f"  {space_class}: {figures['occupied']} occupied of {figures['spaces']}, {free}")
    stale = result.get("stale_lanes")
    if isinstance(stale, list) and stale:
        print(f"  not heard lately, their cars may be missing: {', '.join(map(str, stale))} "
              "(check the network and those lanes)")


def _cmd_lot(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if args.action == "status":
        result = _call(config, "lot_status")
        assert isinstance(result, dict)
        _print_lot(result)
        last = result.get("last_correction")
        if isinstance(last, dict):
            print(f"  last counted by {last['guard']} on {last['device']}: {last['reason']}")
        return 0
    if not args.occupied or args.guard is None or args.reason is None:
        print("lot correct needs --occupied CLASS=COUNT (one or more), --guard and --reason",
              file=sys.stderr)
        return 2
    result = _call(config, "lot_correct", occupied=dict(args.occupied), guard=args.guard,
                   reason=args.reason)
    assert isinstance(result, dict)
    if not result.get("corrected"):
        print(f"NOT corrected: lot.db could not be written ({result.get('error')}); "
              f"journalled as event {result['seq']}", file=sys.stderr)
        return 1
    _print_lot(result)
    print(f"corrected; journalled as event {result['seq']}")
    return 0


def _cmd_mode(args: argparse.Namespace) -> int:
    import time  # noqa: PLC0415

    from firmware_config.durations import parse_duration  # noqa: PLC0415

    until = None
    if args.for_ is not None:
        if args.mode == "normal":
            print("--for goes with hold_open or lockdown", file=sys.stderr)
            return 2
        try:
            until = time.time() + parse_duration(args.for_)
        except ValueError as exc:
            print(f"--for: {exc}", file=sys.stderr)
            return 2
    result = _call(_load(args.config), "mode", mode=args.mode, guard=args.guard,
                   reason=args.reason, until=until)
    assert isinstance(result, dict)
    print(f"{result['mode']}; journalled as event {result['seq']}")
    return 0


def _cmd_events(args: argparse.Namespace) -> int:
    for event in _call(_load(args.config), "events", n=args.n):  # type: ignore[attr-defined]
        print(json.dumps(event, ensure_ascii=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="menwei-edge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run the gate (door or barrier lane) in the foreground")
    p.add_argument("--config", required=True, help="the device's TOML file")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("check-config", help="validate config files; every error, then exit 2")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=_cmd_check_config)

    p = sub.add_parser("load-cards", help="commission cards from a CSV before sync exists")
    p.add_argument("--config", required=True)
    p.add_argument("csv", help="columns: uid,status,valid_from,valid_until,access_groups,"
                               "schedule,holder_kind,plate (only uid required)")
    p.set_defaults(func=_cmd_load_cards)

    p = sub.add_parser("status", help="ask the running gate for its status")
    p.add_argument("--config", required=True)
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("open", help="open the gate by hand (journalled with guard and reason)")
    p.add_argument("--config", required=True)
    p.add_argument("--guard", required=True, help="who is opening")
    p.add_argument("--reason", required=True, help="why, e.g. 'ambulance'")
    p.set_defaults(func=_cmd_open)

    p = sub.add_parser("reset", help="put a stuck barrier back in service once you have "
                                     "checked it (journalled with guard and reason)")
    p.add_argument("--config", required=True)
    p.add_argument("--guard", required=True, help="who checked the arm")
    p.add_argument("--reason", required=True, help="what was wrong, e.g. 'arm freed'")
    p.set_defaults(func=_cmd_reset)

    p = sub.add_parser("clear-presence", help="forget one card's anti-passback presence on a "
                                              "barrier lane (journalled with guard and reason)")
    p.add_argument("--config", required=True)
    p.add_argument("--uid", required=True, help="the card's UID, e.g. 04A1B2C3")
    p.add_argument("--guard", required=True, help="who is clearing it")
    p.add_argument("--reason", required=True, help="why, e.g. 'exit read missed'")
    p.set_defaults(func=_cmd_clear_presence)

    p = sub.add_parser("mode", help="hold the gate open, lock it down, or back to normal "
                                    "(kept across restarts; journalled with guard and reason)")
    p.add_argument("--config", required=True)
    p.add_argument("mode", choices=["hold_open", "lockdown", "normal"])
    p.add_argument("--guard", required=True, help="who is asking")
    p.add_argument("--reason", required=True, help="why, e.g. 'fire drill'")
    p.add_argument("--for", dest="for_", metavar="DURATION",
                   help="end by itself after this long, e.g. 30m or 2h")
    p.set_defaults(func=_cmd_mode)

    p = sub.add_parser("lot", help="a lane's car park: its count, or a guard's correction "
                                   "(journalled with guard and reason)")
    p.add_argument("action", choices=["status", "correct"])
    p.add_argument("--config", required=True)
    p.add_argument("--occupied", action="append", type=_occupied_option, metavar="CLASS=N",
                   help="correct: the cars of a class inside now, e.g. temporary=12 "
                        "(repeat for several classes; the others keep their count)")
    p.add_argument("--guard", help="correct: who counted")
    p.add_argument("--reason", help="correct: why, e.g. 'night count'")
    p.set_defaults(func=_cmd_lot)

    p = sub.add_parser("events", help="the newest journal events of the running gate")
    p.add_argument("--config", required=True)
    p.add_argument("-n", type=int, default=20)
    p.set_defaults(func=_cmd_events)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``menwei-edge``."""
    # When the systemd watchdog kills a hung gate (SIGABRT), every thread's stack reaches
    # the journal: the one clue to why the loop stopped.
    faulthandler.enable()
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
