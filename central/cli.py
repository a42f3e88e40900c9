"""``menwei-desk``: the central issuing service's command line.

    menwei-desk create-db   [--db URL]                  create or upgrade the database
    menwei-desk create-staff [--db URL] --role ROLE --username NAME [--name DISPLAY]
                            [--site CODE] [--password-file FILE]
    menwei-desk site-role   [--db URL] --username NAME --site CODE (--role ROLE | --take)
    menwei-desk load-site   [--db URL] FILE.toml|FILE.csv
    menwei-desk populate-demo [--db URL] [--households N] [--cards N] [--event-days D]
                            [--sync-store PATH] [--seed S] [--staff-password-file FILE]
    menwei-desk serve       [--db URL] [--host HOST] [--port PORT] [--header-timeout S]
                            [--sync-config FILE | --sync-store SITE=PATH ...]

The database defaults to ``$MENWEI_DESK_DB`` or ``sqlite:///var/desk/desk.db``; a company's
PostgreSQL is ``postgresql://USER@HOST/DATABASE`` (docs/company.md).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from central.db import (
    DEFAULT_URL,
    DatabaseUnavailableError,
    SchemaOutOfDateError,
    make_engine,
    shown_url,
    upgrade,
)
from central.models import Role
from central.refusals import DeskError, InvalidInputError
from central.services.context import Desk
from central.services.sites import load_site
from central.services.staff import (
    NewStaff,
    StaffSiteRoleInput,
    create_staff,
    give_site_role,
    staff_id_of,
    take_site_role,
)
from central.site_file import read_site_file
from sync.hub.store import CentralStore


def _print_error(exc: DeskError, where: str = "") -> None:
    prefix = f"{where}: " if where else ""
    if isinstance(exc, InvalidInputError):
        print(f"{prefix}nothing written, {len(exc.errors)} problem(s):", file=sys.stderr)
        for e in exc.errors:
            print(f"  - {e.field}: {e.message_en} / {e.message_zh}", file=sys.stderr)
    else:
        print(f"{prefix}{exc}", file=sys.stderr)


def _open(url: str) -> Desk:
    try:
        return Desk.open(url)
    except SchemaOutOfDateError as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(2) from exc


def _cmd_sweep(args: argparse.Namespace) -> int:
    from datetime import date  # noqa: PLC0415

    from central.services.sweep import sweep_date_changes  # noqa: PLC0415

    today = None
    if args.date:
        try:
            today = date.fromisoformat(args.date)
        except ValueError:
            print(f"--date {args.date!r}: expected YYYY-MM-DD", file=sys.stderr)
            return 2
    desk = _open(args.db)
    try:
        n = sweep_date_changes(desk, today, site=args.site)
    finally:
        desk.close()
    print(f"{n} card record(s) changed with the date and were sent to the gates")
    return 0


def _cmd_create_db(args: argparse.Namespace) -> int:
    engine = make_engine(args.db)
    try:
        head = upgrade(engine)
    finally:
        engine.dispose()
    print(f"{shown_url(args.db)}: schema at migration {head}")
    return 0


def _read_password(args: argparse.Namespace) -> str | None:
    if args.password_file:
        try:
            lines = Path(args.password_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            print(f"{args.password_file}: cannot read: {exc.strerror}", file=sys.stderr)
            return None
        return lines[0] if lines else ""
    first = getpass.getpass(f"password for {args.username}: ")
    if getpass.getpass("again: ") != first:
        print("the two passwords differ; nothing written", file=sys.stderr)
        return None
    return first


def _cmd_create_staff(args: argparse.Namespace) -> int:
    password = _read_password(args)
    if password is None:
        return 2
    desk = _open(args.db)
    try:
        inp = NewStaff.from_form({"username": args.username, "display_name": args.name,
                                  "role": args.role, "password": password, "site": args.site})
        staff_id = create_staff(desk, inp)
    except DeskError as exc:
        _print_error(exc)
        return 2
    finally:
        desk.close()
    print(f"staff account {inp.username} ({inp.role.value}) created, id {staff_id}")
    return 0


def _cmd_site_role(args: argparse.Namespace) -> int:
    desk = _open(args.db)
    try:
        staff_id = staff_id_of(desk, args.username)
        if args.take:
            take_site_role(desk, None, staff_id, args.site)
        else:
            give_site_role(desk, None, staff_id, StaffSiteRoleInput.from_form(
                {"site": args.site, "role": args.role}))
    except DeskError as exc:
        _print_error(exc)
        return 2
    finally:
        desk.close()
    said = "no longer has a role" if args.take else f"is {args.role}"
    print(f"{args.username.strip().lower()} {said} at {args.site}")
    return 0


def _cmd_load_site(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        desc = read_site_file(path)
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror}", file=sys.stderr)
        return 2
    except DeskError as exc:
        _print_error(exc, str(path))
        return 2
    desk = _open(args.db)
    try:
        report = load_site(desk, desc)
    except DeskError as exc:
        _print_error(exc, str(path))
        return 2
    finally:
        desk.close()
    verb = "created" if report.site_created else "updated"
    print(f"site {desc.site.code} {verb}")
    for what in ("access_groups", "gates", "booths", "buildings", "units", "households",
                 "persons"):
        added, existing = report.added.get(what, 0), report.existing.get(what, 0)
        if added or existing:
            print(f"  {what}: {added} added, {existing} already there")
    for warning in report.warnings:
        print(f"  warning: {warning}")
    return 0


def _cmd_populate_demo(args: argparse.Namespace) -> int:
    from central.demo_population import (  # noqa: PLC0415
        PopulationError,
        PopulationSize,
        populate,
    )

    password = None
    if args.staff_password_file:
        password = _read_password(args)
        if password is None:
            return 2
    size = PopulationSize(args.households, args.cards, args.event_days, seed=args.seed)
    try:
        report = populate(args.db, size, site_code=args.site,
                          sync_store=store_location(args.sync_store) if args.sync_store else None,
                          staff_password=password, progress=print)
    except PopulationError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except DeskError as exc:
        _print_error(exc)
        return 2
    print(report.summary())
    return 0


def store_location(text: str) -> Path | str:
    """A central store given on the command line: a PostgreSQL URL (the site's schema in
    that database) or a SQLite file's path."""
    return text if text.startswith("postgresql") else Path(text)


def _sync_stores(specs: list[str]) -> list[CentralStore] | None:
    stores: list[CentralStore] = []
    for spec in specs:
        site, sep, path = spec.partition("=")
        if not sep or not site or not path:
            print(f"--sync-store {spec!r}: expected SITE=PATH", file=sys.stderr)
            for store in stores:
                store.close()
            return None
        stores.append(CentralStore(store_location(path), site))
    return stores


def _cmd_serve(args: argparse.Namespace) -> int:
    # Imported here: the other commands need neither the web stack nor uvicorn.
    import uvicorn  # noqa: PLC0415

    from central.api import create_app  # noqa: PLC0415
    from central.api.slow_clients import header_deadline_protocol  # noqa: PLC0415
    from central.desk_sync import (  # noqa: PLC0415
        DeskSync,
        DeskSyncConfigError,
        load_desk_sync_config,
    )

    if args.sync_config and args.sync_store:
        # Two writers of one site's central store would race; one source of gate events.
        print("--sync-config and --sync-store cannot be used together: the sync config "
              "already names each site's store", file=sys.stderr)
        return 2
    sync_config = None
    if args.sync_config:
        # Checked before anything is started, so a wrong file costs nothing.
        try:
            sync_config = load_desk_sync_config(Path(args.sync_config))
        except DeskSyncConfigError as exc:
            print(str(exc), file=sys.stderr)
            return 2
    engine = make_engine(args.db)
    try:
        head = upgrade(engine)
    finally:
        engine.dispose()
    print(f"{shown_url(args.db)}: schema at migration {head}")
    stores = _sync_stores(args.sync_store)
    if stores is None:
        return 2
    gate_events: list[Any] = list(stores)
    gate_links: list[Any] = []
    desk_sync: DeskSync | None = None
    sync_engine = None
    try:
        if sync_config is not None:
            # The gate link reports connects, drops and refused messages through logging;
            # without a handler only warnings would reach the journal.
            logging.basicConfig(level=logging.INFO,
                                format="%(asctime)s %(levelname)s %(name)s: %(message)s")
            # The relay reads the desk's auth_log through its own engine: it polls from a
            # thread of its own, apart from the API's request sessions.
            sync_engine = make_engine(args.db)
            desk_sync = DeskSync(sync_config, sync_engine)
            desk_sync.start()
            gate_events = desk_sync.stores
            gate_links = list(desk_sync.syncs.values())
            print(f"gate link: sites {', '.join(sync_config.sites)} via "
                  f"{sync_config.broker_host}:{sync_config.broker_port}", flush=True)
        app = create_app(args.db, gate_events=gate_events, gate_links=gate_links)
        # uvicorn has no deadline for a request's headers: central/api/slow_clients.py.
        uvicorn.run(app, host=args.host, port=args.port, log_level="info",
                    http=header_deadline_protocol(args.header_timeout))
    finally:
        if desk_sync is not None:
            desk_sync.stop()
        if sync_engine is not None:
            sync_engine.dispose()
        for store in stores:
            store.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the docs test)."""
    summary = (__doc__ or "").split("\n")[0].replace("``", "")
    parser = argparse.ArgumentParser(prog="menwei-desk", description=summary)
    sub = parser.add_subparsers(dest="command", required=True)
    db_default = os.environ.get("MENWEI_DESK_DB", DEFAULT_URL)

    def with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--db", default=db_default,
                       help="database URL (default $MENWEI_DESK_DB or %(default)s)")
        return p

    p = with_db(sub.add_parser("create-db", help="create the database or bring it up to date"))
    p.set_defaults(func=_cmd_create_db)
    p = with_db(sub.add_parser("create-staff", help="create a staff account"))
    p.add_argument("--role", required=True, choices=[r.value for r in Role])
    p.add_argument("--username", required=True)
    p.add_argument("--name", help="display name (default: the user name)")
    p.add_argument("--site", help="site code the account serves (default: every site)")
    p.add_argument("--password-file", help="read the password from the first line of FILE "
                   "(default: prompt twice)")
    p.set_defaults(func=_cmd_create_staff)
    p = with_db(sub.add_parser("site-role", help="give an account a role at another site, "
                               "or take it back (docs/company.md)"))
    p.add_argument("--username", required=True)
    p.add_argument("--site", required=True, help="the other site's code")
    given = p.add_mutually_exclusive_group(required=True)
    given.add_argument("--role", choices=[r.value for r in Role if r is not Role.ADMIN],
                       help="not admin: an admin is made at its own site (create-staff)")
    given.add_argument("--take", action="store_true", help="take back its role there")
    p.set_defaults(func=_cmd_site_role)
    p = with_db(sub.add_parser("load-site", help="create or extend a site from a TOML or CSV "
                               "description"))
    p.add_argument("file", help="site description, .toml or .csv (see docs/central.md)")
    p.set_defaults(func=_cmd_load_site)
    p = with_db(sub.add_parser("sweep", help="send the gates the cards whose record changes "
                               "with the date alone (parking months starting or lapsing); "
                               "run daily, e.g. by systemd/menwei-desk-sweep.timer"))
    p.add_argument("--date", help="the site-local date to sweep for (default: each site's "
                   "today)")
    p.add_argument("--site", help="only this site's code")
    p.set_defaults(func=_cmd_sweep)
    p = with_db(sub.add_parser("populate-demo", help="fill a loaded site with made-up "
                               "households and a year of desk work done through the desk's "
                               "own rules, and a month of gate events: a demo or benchmark "
                               "site, never a real one"))
    p.add_argument("--site", help="the site's code (default: the only site)")
    p.add_argument("--households", type=int, default=300, help="households to add "
                   "(%(default)s)")
    p.add_argument("--cards", type=int, default=1200, help="cards to issue in all "
                   "(%(default)s)")
    p.add_argument("--event-days", type=int, default=30, help="days of gate events, ending "
                   "now, when --sync-store is given (%(default)s)")
    p.add_argument("--sync-store", metavar="PATH", help="the site's central store (the "
                   "sync side's database) to write the gate events into")
    p.add_argument("--seed", type=int, default=2026, help="the same seed gives the same "
                   "site (%(default)s)")
    p.add_argument("--staff-password-file", help="password of the staff accounts the "
                   "history is done by (default: a random one nobody knows)")
    p.set_defaults(func=_cmd_populate_demo, username="the demo staff")
    p = with_db(sub.add_parser("serve", help="run the JSON API (docs/api.md); brings the "
                               "database up to date first"))
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    p.add_argument("--port", type=int, default=8080, help="port (%(default)s)")
    p.add_argument("--header-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="close a connection whose request headers are not complete this "
                   "long after it opened or after its last response (%(default)s)")
    p.add_argument("--sync-store", action="append", default=[], metavar="SITE=PATH",
                   help="the sync side's central store of a site (gate events, device "
                   "status); repeat per site")
    p.add_argument("--sync-config", metavar="FILE",
                   help="link the desk to its sites' gates (TOML: broker_host, broker_port, "
                   "username, password_file, signing_key, data_dir, sites, tls_ca_file; "
                   "docs/central.md): publish card changes, store the gates' events")
    p.set_defaults(func=_cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``menwei-desk``."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
    except DatabaseUnavailableError as exc:
        # A wrong --db is the operator's input: one line, the status of bad input.
        print(str(exc), file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())
