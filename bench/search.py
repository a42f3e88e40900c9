"""The desk's search box on a big site: how long one search takes, typed as a clerk types.

    python -m bench.search --households 5000 --cards 20000

Builds a desk database (the example site, plus buildings of units with entrances, one
household per unit and a tenancy in one in ten, three people each, cards, vehicles),
written through the models so every search key is kept as in service. Then searches
what a clerk types — units (``12栋2单元1503``, ``12-2-1503``, ``2单元15``), names whole and
by their first character, phones whole and by their last four digits, card UIDs in hex
with colons in lower case and as the desk reader's decimal, plates in lower case with a
dot — each also keystroke by keystroke (search-as-you-type), through the service and
through the HTTP API (in process). Prints p50/p99 per kind; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from argon2 import PasswordHasher
from sqlalchemy import select

from bench.common import percentile
from central.api import create_app
from central.db import make_engine, upgrade
from central.models import (
    Building,
    Card,
    CardState,
    HolderKind,
    Household,
    HouseholdKind,
    Person,
    Relationship,
    Role,
    Site,
    Staff,
    Unit,
    Vehicle,
)
from central.services.context import Actor, Desk
from central.services.search import search_desk
from central.services.sites import load_site
from central.services.staff import NewStaff, create_staff
from central.site_file import read_site_file

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

EXAMPLE = Path(__file__).resolve().parent.parent / "central" / "examples" / "site.toml"
SITE = "sunrise-garden"
PASSWORD = "correct horse battery"
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
GIVEN = "伟芳娜秀敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂英华建国小红玉兰志宏文斌海燕鹏飞"
PROVINCES = "粤京沪浙苏川鄂湘闽鲁"
NOW = datetime(2026, 6, 9, 2, 0, tzinfo=UTC)


def _units(households: int) -> list[tuple[str, str, int, int, int]]:
    """(building code, unit number, building, entrance, room) for ``households`` units:
    buildings of 2 entrances, 25 floors, 4 rooms a floor."""
    out = []
    for i in range(households):
        building, rest = divmod(i, 200)
        entrance, rest = divmod(rest, 100)
        floor, room = divmod(rest, 4)
        number = f"{floor + 1}{room + 1:02d}"
        out.append((f"{building + 10}", f"{entrance + 1}-{number}", building + 10,
                    entrance + 1, int(number)))
    return out


def build(url: str, households: int, cards: int, seed: int = 7) -> dict[str, list[str]]:
    """The site; returns what to search for, by kind."""
    rng = random.Random(seed)
    engine = make_engine(url)
    upgrade(engine)
    desk = Desk(engine, hasher=CHEAP)
    load_site(desk, read_site_file(EXAMPLE))
    targets: dict[str, list[str]] = {"unit": [], "name": [], "phone": [], "uid": [],
                                     "reader": [], "plate": []}
    with desk.write_sessions() as s, s.begin():
        site = s.scalars(select(Site).where(Site.code == SITE)).one()
        buildings: dict[str, Building] = {}
        people: list[Person] = []
        for code, number, b, entrance, room in _units(households):
            if code not in buildings:
                buildings[code] = Building(site_id=site.id, code=code, name=f"{code}栋")
                s.add(buildings[code])
            unit = Unit(building=buildings[code], number=number, area_m2=Decimal("98.5"))
            s.add(unit)
            if rng.random() < 0.05:
                targets["unit"].append(rng.choice([f"{b}栋{entrance}单元{room}",
                                                   f"{b}-{entrance}-{room}",
                                                   f"{entrance}单元{room}", f"{b}栋{room}"]))
            kinds = [HouseholdKind.OWNERSHIP] + (
                [HouseholdKind.TENANCY] if rng.random() < 0.1 else [])
            for kind in kinds:
                household = Household(unit=unit, kind=kind, created_at=NOW)
                s.add(household)
                for j, relation in enumerate((Relationship.SELF, Relationship.SPOUSE,
                                              Relationship.CHILD)):
                    name = rng.choice(SURNAMES) + "".join(
                        rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
                    phone = f"1{rng.choice('3589')}{rng.randrange(10**9):09d}" if j < 2 else None
                    holder = (HolderKind.OWNER if kind is HouseholdKind.OWNERSHIP
                              else HolderKind.TENANT) if j == 0 else HolderKind.FAMILY
                    p = Person(site_id=site.id, household=household, name=name,
                               holder_kind=holder, relation_to_householder=relation,
                               id_number=f"44030119{rng.randrange(10**10):010d}", phone=phone,
                               created_at=NOW)
                    s.add(p)
                    people.append(p)
                    if rng.random() < 0.02:
                        targets["name"].append(name)
                    if phone and rng.random() < 0.02:
                        targets["phone"].append(rng.choice([phone, phone[-4:]]))
        s.flush()
        states = [CardState.ACTIVE] * 17 + [CardState.LOST, CardState.REVOKED,
                                            CardState.FORMATTED]
        for _ in range(cards):
            raw = rng.randbytes(rng.choice((4, 7)))
            state = rng.choice(states)
            owner = rng.choice(people) if state is not CardState.FORMATTED else None
            s.add(Card(site_id=site.id, uid=raw.hex().upper(), state=state,
                       holder_person_id=owner.id if owner else None,
                       holder_kind=owner.holder_kind if owner else None,
                       created_at=NOW, updated_at=NOW))
            if rng.random() < 0.01:
                if len(raw) == 4:
                    targets["reader"].append(str(int.from_bytes(raw, "little")).zfill(10))
                else:
                    targets["uid"].append(":".join(f"{b:02x}" for b in raw))
        for _ in range(households // 2):
            plate = rng.choice(PROVINCES) + rng.choice("ABCDE") + "".join(
                rng.choice("0123456789ABCDEFGHJK") for _ in range(5))
            if s.scalar(select(Vehicle.id).where(Vehicle.plate == plate)) is not None:
                continue
            owner = rng.choice(people)
            s.add(Vehicle(site_id=site.id, plate=plate, owner_person_id=owner.id,
                          created_at=NOW))
            if rng.random() < 0.03:
                targets["plate"].append(plate[:2].lower() + "·" + plate[2:].lower())
    desk.close()
    return targets


def _bench_clerk(desk: Desk) -> int:
    """The clerk the searches run as (made once per database)."""
    with desk.sessions() as s:
        found = s.scalar(select(Staff.id).where(Staff.username == "bench-clerk"))
    if found is not None:
        return found
    return create_staff(desk, NewStaff("bench-clerk", "clerk", Role.CLERK, PASSWORD, SITE))


def keystrokes(text: str) -> list[str]:
    """What the box sends while ``text`` is typed: every prefix, the whole last."""
    return [text[:n] for n in range(1, len(text) + 1)]


def timed(run: Callable[[str], object], queries: list[str]) -> list[float]:
    """Milliseconds each query took."""
    out = []
    for q in queries:
        t0 = time.perf_counter()
        run(q)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def figures(ms: list[float]) -> dict[str, float]:
    """p50, p99 and max, in ms."""
    return {"p50": round(percentile(ms, 50), 2), "p99": round(percentile(ms, 99), 2),
            "max": round(max(ms), 2), "n": len(ms)}


def main() -> None:
    """Run the benchmark and print its figures; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=5000)
    parser.add_argument("--cards", type=int, default=20000)
    parser.add_argument("--db", type=Path, help="build the site in this file and keep it "
                        "(a file already there is searched as it is: quicker reruns)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="menwei-search-") as tmp:
        path = args.db or Path(tmp) / "desk.db"
        url = f"sqlite:///{path}"
        t0 = time.monotonic()
        reuse = path.exists()
        targets = (json.loads(path.with_suffix(".targets.json").read_text("utf-8")) if reuse
                   else build(url, args.households, args.cards))
        if args.db is not None and not reuse:
            path.with_suffix(".targets.json").write_text(json.dumps(targets), "utf-8")
        built_s = time.monotonic() - t0
        desk = Desk.open(url, hasher=CHEAP)
        staff_id = _bench_clerk(desk)
        actor = Actor(staff_id, SITE)
        whole = [q for qs in targets.values() for q in qs]
        typed = [k for q in whole for k in keystrokes(q)]
        timed(lambda q: search_desk(desk, actor, q), whole[:20])  # warm the page cache
        results: dict[str, object] = {"households": args.households, "cards": args.cards,
                                      "build_s": round(built_s, 1)}
        for kind, queries in targets.items():
            if queries:
                results[f"service_{kind}"] = figures(
                    timed(lambda q: search_desk(desk, actor, q), queries))
        service_typed = timed(lambda q: search_desk(desk, actor, q), typed)
        results["service_typed"] = figures(service_typed)
        app = create_app(url, hasher=CHEAP, login_refusal_delay_s=0)
        with TestClient(app) as client:
            token = client.post("/api/v1/login", json={"username": "bench-clerk",
                                                       "password": PASSWORD}).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}

            def over_http(q: str) -> None:
                response = client.get("/api/v1/search", params={"q": q}, headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(response.text)

            api_typed = timed(over_http, typed)
            results["api_typed"] = figures(api_typed)
        desk.close()
        for key, value in results.items():
            print(f"{key:>16}: {value}")
        print(json.dumps({**results,
                          "search_p50_ms": figures(api_typed)["p50"],
                          "search_p99_ms": figures(api_typed)["p99"]}))


if __name__ == "__main__":
    main()
