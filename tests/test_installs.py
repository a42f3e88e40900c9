"""A gate installs only what a gate runs (issue 8): the gate process and its sync agent import
and start with none of the desk's packages present, as on a Pi installed with plain
``pip install menwei``; and the ``desk`` extra holds everything the desk imports.

The gate side runs in a child interpreter whose import system refuses the desk's packages,
so an import added anywhere on the gate's path (even a lazy one inside a command) fails here
rather than on a Pi at a door."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "firmware_config" / "profiles"

# Distribution name -> the top-level module it installs, for the desk extra's packages.
IMPORT_NAMES = {"argon2-cffi": "argon2", "tomli-w": "tomli_w", "sqlalchemy": "sqlalchemy",
                "alembic": "alembic", "fastapi": "fastapi", "uvicorn": "uvicorn",
                "openpyxl": "openpyxl", "jinja2": "jinja2", "babel": "babel",
                "python-multipart": "python_multipart", "segno": "segno", "psycopg": "psycopg"}
# Everything a gate imports: the gate, its config, the sync agent and the protocol it speaks.
GATE_PACKAGES = ("edge", "firmware_config", "sync.agent", "sync.wire", "sync.mqtt")


def _project() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    return project["project"]  # type: ignore[no-any-return]


def _names(requirements: list[str]) -> list[str]:
    """The distribution names of requirement lines (``"sqlalchemy>=2.0"`` -> sqlalchemy)."""
    return [re.split(r"[<>=\[;~! ]", req, maxsplit=1)[0].lower() for req in requirements]


def _desk_extra() -> list[str]:
    return _names(_project()["optional-dependencies"]["desk"])


BLOCKER = """
import importlib.abc, sys
BLOCKED = {blocked!r}
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is a desk package; a gate does not install it")
        return None
sys.meta_path.insert(0, Refuse())
"""

GATE_SIDE = """
import importlib, pkgutil, sys
for package in {packages!r}:
    try:
        root = importlib.import_module(package)
    except ModuleNotFoundError as missing:
        if missing.name != package:
            raise
        continue
    for module in pkgutil.walk_packages(getattr(root, "__path__", []), package + "."):
        importlib.import_module(module.name)
from edge.cli import main as edge_main
from sync.cli import main as sync_main
for profile in {profiles!r}:
    assert edge_main(["check-config", profile]) == 0, profile
for command in (["run", "--help"], ["--help"]):
    try:
        sync_main(command)
    except SystemExit as done:
        assert done.code == 0, (command, done.code)
print("gate side imported without the desk's packages")
"""


def test_every_desk_package_is_in_the_desk_extra_and_none_in_the_gates_install() -> None:
    base = set(_names(_project()["dependencies"]))
    desk = set(_desk_extra())
    assert desk == set(IMPORT_NAMES), "name the import of each desk package here"
    assert not base & desk
    assert "sqlite-utils" not in base | desk, "dropped: plain sqlite3 serves (docs/edge.md)"


def test_the_gate_and_its_agent_run_without_the_desks_packages() -> None:
    blocked = sorted(IMPORT_NAMES[name] for name in _desk_extra())
    profiles = sorted(str(p) for p in PROFILES.glob("*.toml"))
    assert profiles
    script = BLOCKER.format(blocked=blocked) + GATE_SIDE.format(
        packages=GATE_PACKAGES, profiles=profiles)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "without the desk's packages" in done.stdout


def test_the_blocker_refuses_what_it_should() -> None:
    """The check above can fail: importing the desk under the same blocker is refused."""
    blocked = sorted(IMPORT_NAMES[name] for name in _desk_extra())
    script = BLOCKER.format(blocked=blocked) + "import central.db\n"
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode != 0
    assert "is a desk package; a gate does not install it" in done.stderr
