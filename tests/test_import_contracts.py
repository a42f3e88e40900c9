"""The boundaries between the parts hold (issue 8): the contracts in pyproject.toml's
``[tool.importlinter]`` — the gate never imports the desk or the sync side, domain code
touches no hardware, network, HTTP or SQL, only the adapters import the hardware libraries,
the sync agent and hub never import each other, the simulated compound reaches the desk only
through its API — checked by import-linter over the whole tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_every_import_contract_is_kept() -> None:
    done = _lint()
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_a_broken_contract_is_reported(tmp_path: Path) -> None:
    """The check can fail: a contract the tree breaks (the desk reads the gate's card
    schedules) is reported, with the import that breaks it."""
    config = tmp_path / "contracts.toml"
    config.write_text("""
[tool.importlinter]
root_packages = ["edge", "central"]

[[tool.importlinter.contracts]]
name = "deliberately false: the desk never imports the gate"
type = "forbidden"
source_modules = ["central"]
forbidden_modules = ["edge"]
""", "utf-8")
    done = _lint("--config", str(config))
    assert done.returncode != 0
    assert "BROKEN" in done.stdout and "-> edge" in done.stdout
