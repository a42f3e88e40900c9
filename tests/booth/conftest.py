"""Fixtures for booth tests: the rig (booth_rig.py) with its gates stopped at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.booth.booth_rig import BoothRig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[BoothRig]:
    """A booth's config over a door and a lane pair (not started: ``rig.start_gates()``)."""
    built = BoothRig(tmp_path)
    built.write()
    try:
        yield built
    finally:
        built.stop_gates()
