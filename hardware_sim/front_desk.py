"""The simulated compound's people at the desk, reaching it only as a real site's do: the
installer runs ``menwei-desk`` commands (``serve``, which creates the database; ``load-site``
with the site file; ``create-staff`` for the site's admin), everyone else uses the HTTP API
(the admin creates the demo logins; the clerk issues cards and reports one lost; the
director approves a parking month).

Nothing here imports the desk's code or opens its database: what the simulation does, an
installer or a clerk with ``curl`` could do the same way.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

API = "/api/v1"
ADMIN = "admin"
# Demo logins the admin creates through the API: user name, role. One password for all,
# written next to the database and printed: a simulated compound on a developer's machine.
STAFF = (("clerk", "clerk"), ("lead", "front_desk_lead"), ("director", "director"),
         ("guard", "guard"))
TIMEOUT_S = 30.0


class DeskRefusedError(RuntimeError):
    """The desk refused a step of the simulated set-up or of the demo's desk work."""


@dataclass(frozen=True)
class SiteFile:
    """The parts of the installer's site description (TOML) the simulation reads itself:
    the site code, and each person's ID number (what their ID card shows at the desk)."""

    code: str
    id_numbers: dict[str, str]

    @classmethod
    def read(cls, path: Path) -> SiteFile:
        """Read ``path``; the desk itself validates it in ``menwei-desk load-site``."""
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
        return cls(str(doc["site"]["code"]),
                   {str(p["name"]): str(p.get("id_number", ""))
                    for p in doc.get("persons", ())})


class DeskInstall:
    """What an installer does with ``menwei-desk`` commands once the desk's database is up
    to date (``create-db``, or ``serve`` started): load the site file, then create the
    site's admin account. ``begin`` starts it and returns; ``finish`` waits for the end.
    Each command's output goes to ``log``; a failed one raises DeskRefusedError."""

    def __init__(self, log: Path, steps: list[list[str]]) -> None:
        self.log = log
        self._steps = steps
        self._running: tuple[list[str], subprocess.Popen[bytes]] | None = None

    @classmethod
    def begin(cls, db_url: str, site_file: Path, admin_password_file: Path, site: str,
              log: Path) -> DeskInstall:
        """Start loading the site (the admin account comes after: it serves the site)."""
        install = cls(log, [
            ["load-site", "--db", db_url, str(site_file)],
            ["create-staff", "--db", db_url, "--role", "admin", "--username", ADMIN,
             "--site", site, "--password-file", str(admin_password_file)]])
        install._next()
        return install

    @classmethod
    def populated(cls, db_url: str, site_file: Path, admin_password_file: Path, *,
                  site: str, log: Path, households: int, cards: int,
                  sync_store: Path | str) -> DeskInstall:
        """The database made, the site loaded, its admin created, then a made-up year of
        desk work on ``households`` more households with ``cards`` cards, and a month of
        gate events in the central store ``sync_store`` (``populate-demo``); not started
        yet: ``finish`` runs it all."""
        return cls(log, [
            ["create-db", "--db", db_url],
            ["load-site", "--db", db_url, str(site_file)],
            ["create-staff", "--db", db_url, "--role", "admin", "--username", ADMIN,
             "--site", site, "--password-file", str(admin_password_file)],
            ["populate-demo", "--db", db_url, "--site", site, "--households",
             str(households), "--cards", str(cards), "--sync-store", str(sync_store)]])

    def finish(self) -> None:
        """Run what is left, one command after the other."""
        self._wait()
        while self._steps:
            self._next()
            self._wait()

    def _next(self) -> None:
        argv = self._steps.pop(0)
        self._running = argv, subprocess.Popen([sys.executable, "-m", "central.cli", *argv],
                                               stdout=subprocess.PIPE,
                                               stderr=subprocess.STDOUT)

    def _wait(self) -> None:
        if self._running is None:
            return
        (argv, proc), self._running = self._running, None
        out, _ = proc.communicate(timeout=120)
        with self.log.open("ab") as f:
            f.write(f"$ menwei-desk {' '.join(argv)}\n".encode() + out)
        if proc.returncode != 0:
            raise DeskRefusedError(f"menwei-desk {argv[0]} failed ({proc.returncode}): "
                                   + out.decode(errors="replace")[-2000:])


@dataclass(frozen=True)
class Person:
    """A person on record as the desk shows them, and the ID card they carry."""

    id: int
    household_id: int | None
    id_number: str


@dataclass
class FrontDesk:
    """The desk's API at ``api`` as the demo staff use it (password ``password`` for all)."""

    api: str
    password: str
    site: SiteFile
    _sessions: dict[str, dict[str, str]] = field(default_factory=dict)

    def login(self, username: str) -> dict[str, str]:
        """Log in as a demo account; the Authorization header."""
        response = httpx.post(f"{self.api}/login", json={"username": username,
                                                         "password": self.password},
                              timeout=TIMEOUT_S)
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['token']}"}

    def create_demo_staff(self) -> None:
        """The admin creates the demo logins (STAFF), each serving the site."""
        admin = self.login(ADMIN)
        for username, role in STAFF:
            self._ok(f"creating {username}", httpx.post(
                f"{self.api}/staff", headers=admin, timeout=TIMEOUT_S,
                json={"username": username, "role": role, "password": self.password,
                      "site": self.site.code}))

    def person(self, headers: dict[str, str], name: str) -> Person:
        """A person on record, looked up by name as the desk would."""
        found = self._ok(f"looking up {name}", httpx.get(
            f"{self.api}/people", params={"name": name}, headers=headers, timeout=TIMEOUT_S))
        exact = [p for p in found.json() if p["name"] == name]
        if len(exact) != 1:
            raise DeskRefusedError(f"{len(exact)} people named {name} on record")
        p = exact[0]
        # The clerk sees the number masked (rule G5); the ID card shown has it whole.
        return Person(int(p["id"]), p["household_id"], self.site.id_numbers.get(name, ""))

    def issue_resident_card(self, headers: dict[str, str], holder: str, uid: str,
                            relationship: str = "self",
                            applicant: str | None = None) -> httpx.Response:
        """POST cards/resident for one card of a person on record (ID shown, signed)."""
        person = self.person(headers, holder)
        applicant_id = self.person(headers, applicant).id if applicant else person.id
        signoff = {"signer_name": holder, "reference": "登记表 p.1"}
        form = {"household_id": person.household_id, "applicant_person_id": applicant_id,
                "applicant_in_person": True,
                "lines": [{"uid": uid, "relationship": relationship,
                           "holder_person_id": person.id,
                           "id_number_presented": person.id_number,
                           "holder_signoff": signoff}]}
        return httpx.post(f"{self.api}/cards/resident", json=form, headers=headers,
                          timeout=TIMEOUT_S)

    def report_lost(self, headers: dict[str, str], uid: str, reporter: str) -> httpx.Response:
        """POST cards/{uid}/report-lost: in person, a zero balance, the holder agreeing."""
        form = {"reporter_person_id": self.person(headers, reporter).id, "in_person": True,
                "balance_shown_yuan": "0.00", "holder_agrees": True,
                "signoff": {"signer_name": reporter, "reference": "挂失单 p.1"}}
        return httpx.post(f"{self.api}/cards/{uid}/report-lost", json=form, headers=headers,
                          timeout=TIMEOUT_S)

    def grant_parking(self, holder: str, uid: str, plate: str, *, new_card: bool) -> None:
        """A monthly parking card through the desk's rules: the clerk applies (P1) and
        records the owner unit's signature, the director approves (P3), the clerk takes one
        month (P2). ``new_card`` buys a parking-only card; otherwise ``uid`` is the holder's
        existing card, which then opens the barriers too."""
        clerk, director = self.session("clerk"), self.session("director")
        person = self.person(clerk, holder)
        form: dict[str, Any] = {
            "holder_person_id": person.id, "plate": plate,
            "documents": {"id_number_presented": person.id_number,
                          "driving_licence_ref": "驾驶证 demo",
                          "vehicle_licence_ref": f"行驶证 {plate}",
                          "parking_agreement_ref": "车位使用协议 demo"}}
        if new_card:
            form |= {"existing_uid": None, "new_uid": uid,
                     "holder_signoff": {"signer_name": holder}}
        else:
            form["existing_uid"] = uid
        applied = self._post(clerk, "/parking/subscriptions", form)
        subscription = f"/parking/subscriptions/{applied['subscription_id']}"
        # Seed 000: the owner unit signs the application as well as the director.
        self._post(clerk, f"{subscription}/owner-unit-approval", {
            "signer_name": "业主单位 行政部", "signed_at": datetime.now(UTC).isoformat(),
            "reference": "车位使用申请表 demo"})
        self._post(director, f"{subscription}/approve", {"fee_per_month_yuan": "300",
                                                        "space_kind": "floating"})
        self._post(clerk, f"/cards/{uid}/parking/top-ups", {"months": 1})

    def session(self, username: str) -> dict[str, str]:
        """The Authorization header of ``username``, logging in the first time only."""
        # One login per account: each costs an argon2 verification at the desk.
        if username not in self._sessions:
            self._sessions[username] = self.login(username)
        return self._sessions[username]

    def _post(self, headers: dict[str, str], path: str, body: dict[str, Any]) -> Any:
        return self._ok(f"POST {path}", httpx.post(f"{self.api}{path}", json=body,
                                                   headers=headers, timeout=TIMEOUT_S)).json()

    @staticmethod
    def _ok(what: str, response: httpx.Response) -> httpx.Response:
        if response.is_error:
            raise DeskRefusedError(f"{what}: {response.status_code} {response.text}")
        return response
