"""Running the gate link inside the desk service: one CentralSync per site (signing and
publishing to the site broker, storing the gates' events, keeping each guard booth's list
and the site's rules retained) and the relay from the desk's auth log into them.
Configured by a small TOML file, validated once at start."""

from __future__ import annotations

import logging
import socket
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from central.clock import utc_now
from central.gate_link import DeskToGates
from central.list_changes import ListChangeWatch
from central.services.booth_list import booth_lists
from central.services.context import Desk
from central.services.site_rules import site_rules_payloads
from edge.site_rules import SiteRules
from sync.broker.config import VALID_ID
from sync.hub.bridge import CentralSync
from sync.hub.ingest_lanes import IngestLanes
from sync.hub.quotas import QuotaLimits
from sync.hub.site_lease import LeaseBalance, LeaseConnection, PostgresSiteLease
from sync.mqtt.link import TlsFiles
from sync.wire.booth_list import BoothList
from sync.wire.signing import load_private_key
from sync.wire.topics import CENTRAL_USER

log = logging.getLogger("menwei.desk.sync")

# The threads a worker stores the gates' events on, for all its sites (sync/hub/
# ingest_lanes.py): enough to keep the database's commits overlapping, few enough that the
# relay and the clerks' requests are not queued behind a storing thread per site.
INGEST_LANES = 2
# A company's hubs rebuild a site's booth lists and rules when any desk worker changes what
# they hold (central/list_changes.py) and at least this often, for a day passing or a write
# not seen. One compound's hub (SQLite) keeps building them every few seconds: one site
# costs little, and a change another process wrote (``sweep``, ``load-site``) has no
# notification there.
COMPANY_LISTS_REFRESH_S = 60.0


class DeskSyncConfigError(ValueError):
    """A desk sync file that cannot be used; the message lists every problem."""


@dataclass(frozen=True)
class DeskSyncConfig:
    """Where the site brokers are and how the desk signs what it sends."""

    broker_host: str
    broker_port: int
    username: str
    password: str
    signing_key: Path
    data_dir: Path
    sites: tuple[str, ...]
    tls_ca_file: Path | None
    quota: QuotaLimits = field(default_factory=QuotaLimits)
    # The desk's own certificate, for a broker listener that requires one.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # This worker's name among several ``serve`` processes of one company (PostgreSQL):
    # its MQTT client id per site, and what the database shows as holding a site's lease.
    worker_id: str = field(default_factory=socket.gethostname)

    def tls(self) -> TlsFiles | None:
        """The TLS files of the link to the broker, or None for a plain connection."""
        if self.tls_ca_file is None:
            return None
        return TlsFiles(self.tls_ca_file, self.tls_cert_file, self.tls_key_file)


def _quota(table: object, errors: list[str]) -> QuotaLimits:
    """The optional ``[device_quota]`` table: what one device may cost (sync/hub/quotas.py
    has the defaults and why)."""
    if table is None:
        return QuotaLimits()
    if not isinstance(table, dict):
        errors.append("device_quota: must be a table")
        return QuotaLimits()
    defaults = {f.name: f.default for f in fields(QuotaLimits)}
    given: dict[str, Any] = {}
    for key in sorted(table):
        default, value = defaults.get(key), table[key]
        if default is None:
            errors.append(f"device_quota.{key}: is not a known setting")
        elif isinstance(value, bool) or not isinstance(value, int | float) \
                or (isinstance(default, int) and not isinstance(value, int)) or value <= 0:
            errors.append(f"device_quota.{key}: must be a positive "
                          f"{'whole ' if isinstance(default, int) else ''}number")
        else:
            given[key] = value
    return QuotaLimits(**given)


def load_desk_sync_config(path: Path) -> DeskSyncConfig:
    """Read ``path`` (TOML): broker_host, broker_port, username, password_file, signing_key,
    data_dir, sites, tls_ca_file (with tls_cert_file and tls_key_file where the broker's
    listener asks for a client certificate) and an optional ``[device_quota]`` table. Relative paths
    are read from the file's folder."""
    try:
        doc: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DeskSyncConfigError(f"{path}: {exc}") from exc
    errors: list[str] = []
    known = {"broker_host", "broker_port", "username", "password_file", "signing_key",
             "data_dir", "sites", "tls_ca_file", "tls_cert_file", "tls_key_file",
             "device_quota", "worker_id"}
    errors += [f"{key}: is not a known setting" for key in sorted(set(doc) - known)]

    def file(key: str, required: bool = True) -> Path | None:
        value = doc.get(key)
        if value is None:
            if required:
                errors.append(f"{key}: is required")
            return None
        if not isinstance(value, str) or not value:
            errors.append(f"{key}: must be a path")
            return None
        p = Path(value)
        return p if p.is_absolute() else (path.parent / p).resolve()

    host = doc.get("broker_host", "127.0.0.1")
    port = doc.get("broker_port", 1883)
    if not isinstance(host, str) or not host:
        errors.append("broker_host: must be a host name")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        errors.append("broker_port: must be a TCP port")
    username = doc.get("username", CENTRAL_USER)
    sites = doc.get("sites", [])
    if not isinstance(sites, list) or not all(isinstance(s, str) and s for s in sites) \
            or not sites:
        errors.append("sites: must list the site codes this desk links to its gates")
    password_file, key, data_dir = file("password_file"), file("signing_key"), file("data_dir")
    ca = file("tls_ca_file", required=False)
    cert, cert_key = file("tls_cert_file", required=False), file("tls_key_file", required=False)
    if (cert is None) != (cert_key is None):
        errors.append("tls_cert_file and tls_key_file: give both or neither")
    if cert is not None and ca is None:
        errors.append("tls_cert_file: needs tls_ca_file (the broker is checked by the site CA)")
    quota = _quota(doc.get("device_quota"), errors)
    worker_id = doc.get("worker_id", socket.gethostname())
    if not isinstance(worker_id, str) or not VALID_ID.match(worker_id):
        errors.append("worker_id: letters, digits, '.', '_' and '-' only (it becomes part of "
                      "MQTT client ids)")
    password = ""
    if password_file is not None:
        try:
            password = password_file.read_text().strip()
        except OSError as exc:
            errors.append(f"password_file: cannot read {password_file}: {exc.strerror}")
    if key is not None and not key.exists():
        errors.append(f"signing_key: {key} does not exist (menwei-sync keygen --out {key})")
    if errors:
        raise DeskSyncConfigError(f"{path}: " + "; ".join(errors))
    assert key is not None and data_dir is not None
    return DeskSyncConfig(str(host), int(port), str(username), password, key, data_dir,
                          tuple(sites), ca, quota, cert, cert_key, str(worker_id))


# At most about how many connections a desk worker keeps to a company's PostgreSQL for each
# site, when it publishes them all (the first worker to start does, until the others take
# their shares): one for each of the site's own threads that reads or writes its store
# (its three publishers, its catch-ups), since the threads that serve every site (storing,
# the relay, the pages) and the leases keep one each for all the sites. And for itself: its
# pool, its listeners, those shared threads. bench/company.py counted 240 at 100 sites on two
# workers (1,127 when every thread kept one a site, and every lease one of its own) and 58
# at 20 sites on one.
CONNECTIONS_PER_SITE = 4
CONNECTIONS_OF_ITS_OWN = 20


def connections_short(engine: Engine, sites: int) -> str | None:
    """On PostgreSQL, what to do when the server's ``max_connections`` leaves this worker
    fewer than it will keep for ``sites`` sites (Debian's default, 100, is short from about a
    dozen compounds): the server would refuse its connections one by one, far from here.
    None when there is room, or on SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        limit = int(conn.execute(text("SHOW max_connections")).scalar_one())
        reserved = int(conn.execute(text("SHOW superuser_reserved_connections")).scalar_one())
        used = int(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"))
            .scalar_one())
    need = sites * CONNECTIONS_PER_SITE + CONNECTIONS_OF_ITS_OWN
    if used + need <= limit - reserved:
        return None
    return (f"PostgreSQL allows {limit} connections and {used} are open; this worker keeps "
            f"about {need} for its {sites} sites: set max_connections to at least "
            f"{used + need + reserved} (more for each further worker) and restart PostgreSQL "
            "(docs/company.md, \"PostgreSQL's connections\")")


class DeskSync:
    """The running gate link of a desk service."""

    def __init__(self, config: DeskSyncConfig, engine: Engine) -> None:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = engine
        key = load_private_key(config.signing_key)
        desk = Desk(engine)
        # On PostgreSQL several workers may serve the company: each connects as itself and
        # serves the sites whose lease it holds (publishes them and takes their gates'
        # messages in).
        company = engine.dialect.name == "postgresql"
        balance = LeaseBalance(len(config.sites))  # this worker's share of the sites
        leases = LeaseConnection(_url_of(engine), config.worker_id) if company else None
        self.lanes = IngestLanes(INGEST_LANES)
        self.syncs = {
            site: CentralSync(hub_store_of(engine, config.data_dir, site), site, key,
                              config.broker_host, config.broker_port,
                              username=config.username, password=config.password,
                              quota=config.quota, tls=config.tls(),
                              booth_lists=_lists_of(desk, site),
                              site_rules=_rules_of(desk, site),
                              client_id=(f"{CENTRAL_USER}-{site}-{config.worker_id}"
                                         if company else None),
                              lease=(PostgresSiteLease(_url_of(engine), site,
                                                       config.worker_id, balance, leases)
                                     if leases is not None else None),
                              ingest_lanes=self.lanes,
                              lists_refresh_s=COMPANY_LISTS_REFRESH_S if company else None)
            for site in config.sites
        }
        self.relay = DeskToGates(engine, self.syncs, config.data_dir / "relay-state.json")
        self.list_changes = ListChangeWatch(
            engine, {site: sync.desk_changed for site, sync in self.syncs.items()})

    @property
    def stores(self) -> list[Any]:
        """The event and device-status stores, one per site, for the API."""
        return [sync.store for sync in self.syncs.values()]

    def start(self) -> None:
        """Connect to the brokers (in the background) and start relaying; warn when the
        company's PostgreSQL allows too few connections for this worker's sites."""
        short = connections_short(self.engine, len(self.syncs))
        if short:
            log.warning("%s", short)
        self.lanes.start()
        self.list_changes.start()
        for sync in self.syncs.values():
            sync.start()
        self.relay.start()

    def stop(self) -> None:
        """Stop relaying and disconnect."""
        self.relay.stop()
        self.list_changes.stop()
        for sync in self.syncs.values():
            sync.close()
        self.lanes.stop()


def hub_store_of(engine: Engine, data_dir: Path, site: str) -> Path | str:
    """Where a site's hub keeps the gates' events and its signed log: in the desk's own
    database on PostgreSQL (a company's; the site's schema in it), else a SQLite file of its
    own in ``data_dir`` (one compound: the desk's file is not also written by every gate's
    events)."""
    if engine.dialect.name == "postgresql":
        return _url_of(engine)
    return data_dir / f"sync-{site}.db"


def _url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _lists_of(desk: Desk, site: str) -> Callable[[], Sequence[BoothList]]:
    """The booths' lists of one site, read from the desk's database when the hub asks."""
    return lambda: booth_lists(desk, site)


def _rules_of(desk: Desk, site: str) -> Callable[[], Sequence[SiteRules]]:
    """The site's rules (car park policy, lots, holidays, timed modes), read from the desk's
    database when the hub asks (central/services/site_rules.py); the hub numbers and signs
    them."""
    return lambda: site_rules_payloads(desk, utc_now(desk.clock), site=site)
