"""``menwei-booth``: run a guard's booth (its page and its records) from its device TOML."""

from __future__ import annotations

import argparse
import faulthandler
import logging
import sys
from collections.abc import Sequence

from edge.exit_codes import ExitCode
from edge.migrations import SchemaTooNewError
from firmware_config.controller_tables import Role
from firmware_config.schema import ConfigError, EdgeConfig, load_config

log = logging.getLogger("menwei.booth")


def _load(path: str) -> EdgeConfig | None:
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return None
    if config.device.role is not Role.BOOTH or config.sync is None:
        print(f"{path}: not a booth's config (device.role = \"booth\" with [booth] and [sync] "
              "tables)", file=sys.stderr)
        return None
    return config


def _cmd_run(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return ExitCode.CONFIG
    # Imported here: --help and a refused config need neither the web stack nor uvicorn.
    import uvicorn  # noqa: PLC0415

    from booth.service import BoothService  # noqa: PLC0415
    from booth.web.app import create_app  # noqa: PLC0415

    try:
        service = BoothService(config)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return ExitCode.CONFIG
    except SchemaTooNewError as exc:
        log.error("cannot start: %s", exc)
        return ExitCode.DATA_TOO_NEW
    assert config.booth is not None
    try:
        uvicorn.run(create_app(service), host=config.booth.listen_host,
                    port=config.booth.listen_port, log_level="info", access_log=False)
    finally:
        service.close()
    return ExitCode.OK


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="menwei-booth", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="serve the booth page of one post")
    p.add_argument("--config", required=True, help="the booth's TOML file (role = \"booth\")")
    p.set_defaults(func=_cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``menwei-booth``."""
    faulthandler.enable()
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
