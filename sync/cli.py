"""``menwei-sync``: the edge's sync agent, and the site broker's provisioning tools."""

from __future__ import annotations

import argparse
import faulthandler
import logging
import sys
from collections.abc import Sequence

from edge.exit_codes import ExitCode
from firmware_config.schema import ConfigError, load_config


def _cmd_run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return ExitCode.CONFIG
    if config.sync is None:
        print(f"{args.config}: no [sync] table; the sync agent has nothing to connect to",
              file=sys.stderr)
        return ExitCode.CONFIG
    from sync.agent.service import run  # noqa: PLC0415 - keeps `provision` free of paho start-up

    return run(config)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="menwei-sync", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run the sync agent of one gate (needs its [sync] table)")
    p.add_argument("--config", required=True, help="the gate's TOML file")
    p.set_defaults(func=_cmd_run)
    from sync.broker.commands import add_subcommands  # noqa: PLC0415 - its own module, one concept

    add_subcommands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``menwei-sync``."""
    faulthandler.enable()
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
