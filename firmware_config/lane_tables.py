"""The car-park lane's tables: ``[lane]`` (which credentials open it, how plates match, the
lot counts file), ``[display]`` (its LED display and voice module) and ``[camera]`` (its
licence-plate camera). Only a barrier lane takes them. Declared once here; the reader and
the reference come from it."""
# No `from __future__ import annotations`: see firmware_config.operation_tables.

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from firmware_config.settings import Choice, Derived, Duration, FilePath, Flag, Text, Whole
from firmware_config.table_shapes import Absent, Table


class LaneCredentials(enum.StrEnum):
    """What opens a lane."""

    CARD = "card"  # a card tap alone (plates are journalled if a camera is fitted)
    PLATE = "plate"  # the plate camera's read alone
    CARD_OR_PLATE = "card_or_plate"  # either
    CARD_AND_PLATE = "card_and_plate"  # both, and the plate must be the card's: one card, one car


class PlateTolerance(enum.StrEnum):
    """How far a read plate may differ from the card's plate and still match (edge.plates)."""

    EXACT = "exact"  # the same characters
    CONFUSIONS = "confusions"  # also the look-alikes (0/D, 8/B, 1/I, 2/Z, 5/S)
    CONFUSIONS_AND_PROVINCE = "confusions_and_province"  # also a misread province character


@dataclass(frozen=True)
class LaneConfig:
    """How a barrier lane takes its credentials."""

    credentials: Annotated[LaneCredentials, Choice(of=LaneCredentials, default="card", doc=(
        "`\"card\"`, `\"plate\"` (the camera alone), `\"card_or_plate\"`, or "
        "`\"card_and_plate\"` (both within `pair_window`, and the plate read must be the "
        "card's: one card, one car). Plate modes need a `[camera]`."))]
    plate_tolerance: Annotated[PlateTolerance, Choice(
        of=PlateTolerance, default="confusions", doc=(
            "`\"exact\"`, `\"confusions\"` (also 0/D, 8/B, 1/I, 2/Z, 5/S) or "
            "`\"confusions_and_province\"` (also a misread province character). A tolerant "
            "match opens only when exactly one card matches."))]
    min_confidence: Annotated[int, Whole(0, 100, default=80, doc=(
        "Plate reads the camera scores lower are journalled but open nothing."))]
    plate_window: Annotated[float, Duration("1s", "5m", default="10s", doc=(
        "The same plate read again within this counts once (a camera pushes a car several "
        "times while it waits)."))]
    pair_window: Annotated[float, Duration("1s", "2m", default="15s", doc=(
        "`card_and_plate`: the card and the plate must come within this of each other."))]
    admit_temporary: Annotated[bool, Flag(default=False, doc=(
        "An entry lane with a camera lets a car whose plate is on no card in as a temporary "
        "car (charged at the exit booth), while the lot has temporary spaces free."))]
    lot_db: Annotated[Path, FilePath(
        default=Derived("`<data_dir>/lot.db`", lambda device: device.data_dir / "lot.db"),
        doc=("The lot's counts: this lane's entries and exits, and the other lanes' as the "
             "sync agent last heard them."))]


class DisplayKind(enum.StrEnum):
    """How the lane display is attached."""

    SERIAL = "serial"


@dataclass(frozen=True)
class DisplayConfig:
    """The lane's LED display and voice module (docs/lane-display.md has the protocol)."""

    kind: Annotated[DisplayKind, Choice(of=DisplayKind, default="serial", doc=(
        "`\"serial\"`: an RS-485 or RS-232 display on a serial line."))]
    path: Annotated[str, Text(doc=(
        "The serial device, e.g. `\"/dev/ttyUSB1\"`; the simulator's pty path in "
        "simulation."))]
    baudrate: Annotated[int, Whole(1200, 115200, default=9600, doc="Line speed.")]
    idle_text: Annotated[str, Text(default="欢迎光临", doc=(
        "What the display shows between vehicles."))]


class CameraKind(enum.StrEnum):
    """How the plate camera delivers its reads."""

    HTTP_PUSH = "http_push"


@dataclass(frozen=True)
class CameraConfig:
    """The lane's licence-plate camera, pushing each recognition over HTTP."""

    kind: Annotated[CameraKind, Choice(of=CameraKind, default="http_push", doc=(
        "`\"http_push\"`: the camera POSTs each plate (the `AlarmInfoPlate` JSON of the "
        "common Chinese ANPR cameras) to this controller."))]
    listen_host: Annotated[str, Text(default="127.0.0.1", doc=(
        "The address the controller listens on for the camera: its address on the lane's "
        "own segment, never the site-wide network."))]
    listen_port: Annotated[int, Whole(1, 65535, default=8001, doc="The port the camera pushes to.")]
    camera_address: Annotated[str, Text(doc=(
        "The camera's IP address; a push from any other address is refused and counted."))]
    path: Annotated[str, Text(default="/plate", doc="The path the camera pushes to.")]


LANE = Table("lane", LaneConfig, Absent.DEFAULTS,
             "Barrier lanes only. Every key has a default (card only).")
DISPLAY = Table("display", DisplayConfig, Absent.NONE,
                "Optional, barrier lanes only: the lane's LED display and voice module.")
CAMERA = Table("camera", CameraConfig, Absent.NONE,
               "Optional, barrier lanes only: the lane's licence-plate camera.")
