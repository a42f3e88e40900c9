"""The post's car park as its lanes count it (issue 12): the free spaces per class, the lanes
the count may be missing cars from, the last guard count, and the guard's own count typed
at the booth (a correction).

The booth counts nothing itself. Each car-park lane of the post is asked ``lot_status`` on
its control socket (edge/lot_commands.py); a lane knows its car park's occupancy by the
recount rule (edge/lot_counts.py) from its own counters and those its sync agent heard from
the other lanes. Of the post's lanes of one car park, the one that has heard from the most
lanes is shown (the others would miss more cars), and a correction goes to that lane: it
journals it with the guard and the reason before it applies it, and its sync agent carries
it to every other lane of the car park.

A correction is parsed here from what the guard typed (``parse_correction``): a whole
number of cars per class, at least one class, a reason. Whether the numbers fit the car
park (the classes it counts, at most its spaces) is checked against what the lane says when
it is sent (booth/gate_controls.py, ``GateControls.correct_lot``), where it is recorded
like every other control of the post."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from booth.post_gates import PostGate, PostGates
from booth.refusals import BoothRefusal
from edge.site_rules import SpaceClass

# A count typed by a guard: a compound's car park, not a city's.
MAX_TYPED_COUNT = 100_000
# The classes in the order a guard reads them: the temporary spaces are what a visitor's
# car needs, so they come first.
CLASS_ORDER = (SpaceClass.TEMPORARY, SpaceClass.MONTHLY, SpaceClass.FIXED)
CLASS_ZH = {SpaceClass.TEMPORARY: "临时车位", SpaceClass.MONTHLY: "月租",
            SpaceClass.FIXED: "固定"}
CLASS_EN = {SpaceClass.TEMPORARY: "temporary", SpaceClass.MONTHLY: "monthly",
            SpaceClass.FIXED: "fixed"}


class NoCarPark(BoothRefusal):
    """The lane counts no car park (the site's rules name none with it, or have not
    arrived): nothing to show, nothing to correct."""


@dataclass(frozen=True)
class ClassCount:
    """One class of spaces: how many there are (None: the car park has none of the class
    but cars of it are counted), occupied, and free."""

    space_class: str
    spaces: int | None
    occupied: int
    free: int | None


@dataclass(frozen=True)
class SilentLane:
    """A lane of the car park the shown lane has not heard for a while: the count may miss
    its cars. ``silent_s`` is None when it has never been heard."""

    device: str
    silent_s: float | None

    @property
    def minutes(self) -> int | None:
        """Whole minutes of silence (None: never heard)."""
        return None if self.silent_s is None else int(self.silent_s // 60)


@dataclass(frozen=True)
class LastCount:
    """The newest guard count of the car park known to the lane."""

    guard: str
    reason: str
    wall: float
    device: str


@dataclass(frozen=True)
class LotView:
    """One car park as one lane of the post knows it."""

    lot: str
    name: str
    lane: str  # the post's lane asked (and the one a correction goes to)
    classes: tuple[ClassCount, ...]
    silent: tuple[SilentLane, ...]
    last_count: LastCount | None

    def space_class(self, name: str) -> ClassCount | None:
        """The figures of one class, if the car park counts it."""
        return next((c for c in self.classes if c.space_class == name), None)


@dataclass(frozen=True)
class CarParkView:
    """The post's car parks, and the post's lanes that could not say (not answering), with
    the reason. A lane in no car park is neither: a post whose lanes count no car park shows
    nothing of it."""

    lots: tuple[LotView, ...]
    unknown: tuple[tuple[str, str, str], ...]  # (lane, message_zh, message_en)

    @property
    def has_lanes(self) -> bool:
        """Whether the post has a car park to show (or a lane that could not say)."""
        return bool(self.lots or self.unknown)


@dataclass(frozen=True)
class LotCorrection:
    """A guard's count as typed: cars per class (the classes left blank keep their count)
    and the reason."""

    occupied: Mapping[SpaceClass, int]
    reason: str


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def lot_view(lane: str, status: Mapping[str, Any]) -> LotView:
    """A lane's ``lot_status`` answer as the page shows it."""
    raw = status.get("classes") or {}
    classes = []
    for space_class in CLASS_ORDER:
        figures = raw.get(space_class.value)
        if not isinstance(figures, dict):
            continue
        classes.append(ClassCount(space_class.value, _int(figures.get("spaces")),
                                  _int(figures.get("occupied")) or 0, _int(figures.get("free"))))
    wall = status.get("wall")
    heard_at = status.get("heard_at") or {}
    silent = []
    for device in status.get("stale_lanes") or ():
        at = heard_at.get(device)
        silent_s = (float(wall) - float(at)
                    if isinstance(wall, int | float) and isinstance(at, int | float) else None)
        silent.append(SilentLane(str(device), silent_s))
    last = status.get("last_correction")
    last_count = None
    if isinstance(last, dict):
        last_count = LastCount(str(last.get("guard") or ""), str(last.get("reason") or ""),
                               float(last.get("wall") or 0.0), str(last.get("device") or ""))
    return LotView(str(status.get("lot") or ""), str(status.get("name") or ""), lane,
                   tuple(classes), tuple(silent), last_count)


def parse_correction(counts: Mapping[str, str], reason: str) -> LotCorrection:
    """The guard's count from the form (``counts``: class name → the text typed), refused
    with the field at fault: not a whole number from 0, nothing typed, no reason."""
    occupied: dict[SpaceClass, int] = {}
    for space_class in CLASS_ORDER:
        text = counts.get(space_class.value, "").strip()
        if not text:
            continue
        field = f"occupied_{space_class.value}"
        if not text.isascii() or not text.isdigit():
            raise BoothRefusal(f"{CLASS_ZH[space_class]}：“{text}”不是车辆数（填 0 或正整数）",
                               f"{CLASS_EN[space_class]}: {text!r} is not a number of cars "
                               "(0 or more)", field)
        number = int(text)
        if number > MAX_TYPED_COUNT:
            raise BoothRefusal(f"{CLASS_ZH[space_class]}：{number} 辆不可能，请核对",
                               f"{CLASS_EN[space_class]}: {number} cars cannot be right",
                               field)
        occupied[space_class] = number
    if not occupied:
        raise BoothRefusal("请至少填写一类车位的已停车数", "type the cars parked in at least "
                           "one class of spaces", "occupied")
    reason = " ".join(reason.split())
    if not reason:
        raise BoothRefusal("请填写校正原因（如：夜间清点）", "write the reason (e.g. night count)",
                           "reason")
    if len(reason) > 200:
        raise BoothRefusal("原因不能超过 200 个字", "the reason is over 200 characters",
                           "reason")
    return LotCorrection(occupied, reason)


def check_against(correction: LotCorrection, view: LotView) -> None:
    """Refuse a count the car park cannot hold: a class it does not count, or more cars than
    its spaces of the class (a typo, most likely: 300 for 30)."""
    for space_class, number in correction.occupied.items():
        figures = view.space_class(space_class.value)
        field = f"occupied_{space_class.value}"
        if figures is None or figures.spaces is None:
            raise BoothRefusal(f"{view.name or view.lot} 没有{CLASS_ZH[space_class]}，不能校正",
                               f"{view.name or view.lot} has no {CLASS_EN[space_class]} "
                               "spaces", field)
        if number > figures.spaces:
            raise BoothRefusal(
                f"{CLASS_ZH[space_class]}共 {figures.spaces} 个，已停车数不能超过 "
                f"{figures.spaces}", f"{CLASS_EN[space_class]}: {figures.spaces} spaces, "
                f"so at most {figures.spaces} cars", field)


def counts_text(classes: tuple[ClassCount, ...], *, zh: bool) -> str:
    """``临时车位 余12/共30 · 月租 余5/共60`` (or in English), for an outcome's message."""
    parts = []
    for c in classes:
        space_class = SpaceClass(c.space_class)
        if zh:
            word = CLASS_ZH[space_class]
            parts.append(f"{word} 余{c.free}/共{c.spaces}" if c.spaces is not None
                         else f"{word} 已停{c.occupied}")
        else:
            word = CLASS_EN[space_class]
            parts.append(f"{word} {c.free} free of {c.spaces}" if c.spaces is not None
                         else f"{word} {c.occupied} parked")
    return " · ".join(parts)


class CarPark:
    """The post's car parks as its lanes count them; see the module docstring."""

    def __init__(self, gates: PostGates) -> None:
        self.gates = gates

    def lanes(self) -> tuple[PostGate, ...]:
        """The post's car-park lanes."""
        return tuple(g for g in self.gates.gates if g.is_barrier)

    def ask(self, device: str) -> LotView:
        """The car park of the lane ``device`` as it knows it; refused when it is not a lane
        of the post, does not answer, or counts no car park."""
        gate = self.gates.gate(device)
        if not gate.is_barrier:
            raise BoothRefusal(f"{self.gates.gate_name(device)} 不是停车场车道",
                               f"{device} is not a car-park lane", "gate")
        try:
            status = self.gates.call(device, "lot_status")
        except BoothRefusal as refusal:
            if "in no car park" in refusal.message_en:
                name = self.gates.gate_name(device)
                raise NoCarPark(f"{name} 未划入任何停车场（小区规则尚未下发或未设置车位）",
                                f"{name} is in no car park by the site's rules",
                                "gate") from refusal
            raise
        if not isinstance(status, dict):
            raise BoothRefusal(f"{self.gates.gate_name(device)} 的车位应答无法识别",
                               f"{device} answered lot_status with {status!r}", "gate")
        return lot_view(device, status)

    def view(self) -> CarParkView:
        """Each car park of the post's lanes, from the lane that has heard from the most
        lanes of it (ties: the post's first)."""
        best: dict[str, LotView] = {}
        unknown: list[tuple[str, str, str]] = []
        for lane in self.lanes():
            try:
                view = self.ask(lane.device)
            except NoCarPark:
                continue
            except BoothRefusal as refusal:
                unknown.append((lane.device, refusal.message_zh, refusal.message_en))
                continue
            known = best.get(view.lot)
            if known is None or len(view.silent) < len(known.silent):
                best[view.lot] = view
        return CarParkView(tuple(best.values()), tuple(unknown))

    def lot(self, lot: str) -> LotView:
        """One car park of the post as ``view`` shows it; refused when no lane of the post
        answers for it."""
        view = self.view()
        found = next((v for v in view.lots if v.lot == lot), None)
        if found is None:
            reasons = "；".join(zh for _lane, zh, _en in view.unknown)
            raise BoothRefusal(f"本岗没有车道能报停车场 {lot} 的车位数" +
                               (f"：{reasons}" if reasons else ""),
                               f"no lane of this post answers for car park {lot}", "gate")
        return found
