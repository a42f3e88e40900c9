"""The declarative base, its naming convention and the column types every model shares.

Portable by design: the same models run on SQLite (the default) and on PostgreSQL (a company
running many sites). Enumerations are stored as their text values without CHECK constraints,
so adding a value later needs no table rebuild on SQLite; the ORM validates them instead.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import DateTime, Dialect, Enum, MetaData, Numeric
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Named constraints, so later migrations can alter them by name (SQLite batch mode included).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """An instant, always timezone-aware UTC in Python.

    SQLite has no time zone type: the value is stored as naive UTC text and read back as
    aware UTC, so no code ever compares a naive local time with an aware one.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes: an instant without a zone is a bug waiting to happen."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware UTC instant")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware UTC whatever the backend returned."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _enum_values(cls: type[enum.Enum]) -> list[str]:
    return [str(member.value) for member in cls]


class Base(DeclarativeBase):
    """Every table of the desk."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        # Stored as the member's value ("owner"), which is also what the wire and raw SQL see.
        enum.StrEnum: Enum(enum.StrEnum, native_enum=False, length=32,
                           values_callable=_enum_values, validate_strings=True),
        datetime: UtcDateTime(),
        # Areas in m² with two decimals; money is integer fen (分) and never uses this.
        Decimal: Numeric(10, 2, asdecimal=True),
    }


class AppendOnly:
    """Marker: rows of this model are written once and never updated or deleted.

    Enforced by the session guard in central/db.py (and by triggers on SQLite).
    """


class FrozenColumns:
    """Marker: the columns named in ``__frozen__`` never change after the row is written,
    and the row is never deleted (e.g. a receipt's number, date and amount, rule I7)."""

    __frozen__: ClassVar[frozenset[str]] = frozenset()
