"""The exit codes of ``menwei-edge`` and ``menwei-sync``, as systemd's units read them.

A permanent fault (one a restart cannot fix) has its own code, listed in the units'
``RestartPreventExitStatus=``, so systemd does not retry it every few seconds for ever;
anything else (a crash) is restarted. Storage faults are not exits at all: the gate keeps
running without what it cannot use. systemd/README.md lists the codes for installers.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Why the process ended."""

    OK = 0  # stopped by SIGTERM or SIGINT
    FAILED = 1  # an unexpected error (Python's own code for an uncaught exception): restarted
    CONFIG = 2  # the config file or the command line was refused: fix it, then restart
    DATA_TOO_NEW = 3  # a data file was written by newer software: install that release
    DATA_DIR = 4  # the data folder cannot be created or written (owner, mode, path)


PERMANENT = (ExitCode.CONFIG, ExitCode.DATA_TOO_NEW, ExitCode.DATA_DIR)
