"""The commissioning CSV: a whitelist loaded into ``auth.db`` before a gate ever syncs
(``menwei-edge load-cards``), all rows or, on any error, none."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

from edge.auth_store import AuthStore
from edge.card_record import CardRow
from edge.cards import CardStatus, parse_schedule
from edge.uid import normalize_uid

CSV_COLUMNS = ("uid", "status", "valid_from", "valid_until", "access_groups", "schedule",
               "holder_kind", "plate")


class CardCsvError(ValueError):
    """A commissioning CSV with problems; ``errors`` names each by line and column."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


def _optional_date(value: str, where: str, errors: list[str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(f"{where}: {value!r} is not a date like 2026-07-08")
        return None


def parse_cards_csv(text: str) -> list[CardRow]:
    """Parse a commissioning CSV (header row with the CSV_COLUMNS; only ``uid`` required).

    ``access_groups`` are separated by ``|`` or ``;``; ``schedule`` is written as
    ``Mon-Sat 08:00-12:00 14:00-18:00``. Every problem is collected, then raised together.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    errors: list[str] = []
    header = [h.strip() for h in (reader.fieldnames or [])]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if "uid" not in header:
        raise CardCsvError(["line 1: the header must name a 'uid' column"])
    if unknown:
        errors.append(f"line 1: unknown column(s) {', '.join(unknown)}; "
                      f"known: {', '.join(CSV_COLUMNS)}")
    rows: list[CardRow] = []
    seen: dict[str, int] = {}
    for line_no, raw in enumerate(reader, start=2):
        rec = {(k or "").strip(): (v or "").strip() for k, v in raw.items()
               if isinstance(v, str) or v is None}
        where = f"line {line_no}"
        try:
            uid = normalize_uid(rec.get("uid", ""))
        except ValueError as exc:
            errors.append(f"{where}, uid: {exc}")
            continue
        if uid in seen:
            errors.append(f"{where}, uid: {uid} already given on line {seen[uid]}")
            continue
        seen[uid] = line_no
        try:
            status = CardStatus(rec.get("status") or "active")
        except ValueError:
            errors.append(f"{where}, status: {rec.get('status')!r} is not one of "
                          "active, lost, revoked")
            continue
        valid_from = _optional_date(rec.get("valid_from", ""), f"{where}, valid_from", errors)
        valid_until = _optional_date(rec.get("valid_until", ""), f"{where}, valid_until",
                                     errors)
        if valid_from and valid_until and valid_until < valid_from:
            errors.append(f"{where}, valid_until: ends before valid_from")
        groups = tuple(g.strip() for g in
                       rec.get("access_groups", "").replace(";", "|").split("|") if g.strip())
        schedule = rec.get("schedule") or None
        if schedule:
            try:
                schedule = parse_schedule(schedule).spec
            except ValueError as exc:
                errors.append(f"{where}, schedule: {exc}")
        rows.append(CardRow(uid, status, valid_from, valid_until, groups, schedule,
                            rec.get("holder_kind", ""), rec.get("plate") or None))
    if errors:
        raise CardCsvError(errors)
    return rows


def load_cards_csv(store: AuthStore, path: Path) -> int:
    """Load a commissioning CSV into the store atomically: all rows or, on any error, none."""
    rows = parse_cards_csv(path.read_text(encoding="utf-8"))
    return store.upsert(rows)

