"""``menwei-sync run``: the sync agent as a service — signals, systemd's notify and watchdog,
exit codes, and the in-process restarts that keep it alive through storage faults."""

from __future__ import annotations

import logging
import signal
import threading
import time

from edge import sd_notify
from edge.exit_codes import ExitCode
from edge.migrations import SchemaTooNewError
from edge.shared_store import StoreUnavailable
from edge.storage_check import UnusableFolderError, check_folder, describe, is_storage_error
from firmware_config.schema import EdgeConfig
from sync.agent.edge_agent import EdgeAgent

log = logging.getLogger(__name__)

START_RETRY_S = 2.0  # a start that failed on storage (a full disk) is tried again after this,
START_RETRY_MAX_S = 60.0  # doubling up to this


def run(config: EdgeConfig) -> int:
    """Run the agent until SIGTERM or SIGINT; return the process exit code (``ExitCode``).

    A storage fault never ends it: a start that fails on storage is retried (every
    ``START_RETRY_S``, doubling up to ``START_RETRY_MAX_S``), and an agent whose file must
    be replaced is restarted in-process. Permanent faults exit with their own codes.
    """
    try:
        agent: EdgeAgent | None = EdgeAgent(config)
        check_folder(config.device.data_dir)
    except ValueError as exc:
        log.error("cannot start: %s", exc)
        return ExitCode.CONFIG
    except UnusableFolderError as exc:
        log.error("cannot start: %s", exc)
        return ExitCode.DATA_DIR
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    watchdog = sd_notify.watchdog_interval()
    ready = False
    retry_in, next_try = START_RETRY_S, 0.0
    while not stopping.is_set():
        if agent is not None and agent.needs_restart:
            agent.stop()
            agent = None
            next_try = 0.0
        if agent is None and time.monotonic() >= next_try:
            agent = EdgeAgent(config)
        if agent is not None and not agent.started:
            try:
                agent.start()
            except SchemaTooNewError as exc:
                log.error("cannot start: %s", exc)
                return ExitCode.DATA_TOO_NEW
            except Exception as exc:
                if not isinstance(exc, StoreUnavailable) and not is_storage_error(exc):
                    raise
                log.error("cannot open the files (%s); trying again in %.0f s",
                          describe(exc), retry_in)
                sd_notify.status(f"waiting for storage: {describe(exc)}")
                agent, next_try = None, time.monotonic() + retry_in
                retry_in = min(retry_in * 2, START_RETRY_MAX_S)
            else:
                retry_in = START_RETRY_S
                if ready:
                    sd_notify.status(f"sync agent of {config.device.id} started")
                log.info("sync agent of %s started; broker %s:%d", config.device.id,
                         agent.sync.broker_host, agent.sync.broker_port)
        if not ready:
            # Ready once started (or waiting for storage), not once connected: the agent
            # works offline too, and systemd must not hold the unit for a broker or a disk.
            sd_notify.ready(f"sync agent of {config.device.id} started")
            ready = True
        if agent is None or agent.healthy():
            sd_notify.watchdog_ping()
        stopping.wait(min(1.0, watchdog / 2) if watchdog else 1.0)
    sd_notify.stopping()
    if agent is not None:
        agent.stop()
    log.info("sync agent of %s stopped", config.device.id)
    return ExitCode.OK
