"""PostgreSQL keeps the same guards as SQLite (issue 14): the append-only records (register,
authorisation log, receipt lines, top-ups, filing extensions, balance movements, failed ID
checks, remote commands) refuse UPDATE and DELETE in the database itself, a receipt's
issued fields never change, a card's balance is the sum of its ledger. On SQLite the
earlier migrations made these triggers already; this one adds them on PostgreSQL.

A site's rules version is the wall clock in milliseconds: a 64-bit integer (SQLite's
INTEGER always was; PostgreSQL's INTEGER is 32-bit).

Revision ID: 0012_postgresql_guards
Revises: 0011_site_rules
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012_postgresql_guards'
down_revision: str | None = '0011_site_rules'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same tables and words as the SQLite triggers of 0001, 0003, 0005 and 0007.
_APPEND_ONLY = {
    "register_entries": "the register is append-only (rule I1)",
    "auth_log": "the authorisation log is append-only",
    "receipt_lines": "receipt lines are never changed (rule I7)",
    "parking_top_ups": "top-ups are never changed",
    "renovation_extensions": "filing extensions are never changed",
    "card_balance_entries": "balance movements are never changed",
    "id_check_failures": "failed ID checks are an alarm: never changed",
    "gate_commands": "a remote command sent is never changed",
}
_RECEIPT_FROZEN = ("site_id", "number", "issued_on", "issued_at", "payer_name", "household_id",
                   "person_id", "amount_fen", "method", "issued_by_staff_id",
                   "replaces_receipt_id")


def _refuse(name: str, why: str) -> str:
    return (f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{why}' USING ERRCODE = 'restrict_violation'; END $$")


def _postgresql_statements() -> list[str]:
    sql = []
    for table, why in _APPEND_ONLY.items():
        sql.append(_refuse(f"menwei_{table}_append_only", why))
        sql.append(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION menwei_{table}_append_only()")
    sql.append(_refuse("menwei_receipts_frozen", "a receipt is voided, never altered (rule I7)"))
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _RECEIPT_FROZEN)
    sql.append(f"CREATE TRIGGER receipts_frozen BEFORE UPDATE ON receipts FOR EACH ROW "
               f"WHEN ({changed}) EXECUTE FUNCTION menwei_receipts_frozen()")
    sql.append(_refuse("menwei_receipts_no_delete", "a receipt is voided, never deleted (rule I7)"))
    sql.append("CREATE TRIGGER receipts_no_delete BEFORE DELETE ON receipts FOR EACH ROW "
               "EXECUTE FUNCTION menwei_receipts_no_delete()")
    # A card's balance is the sum of its movements: the column may only ever hold that sum.
    sql.append("CREATE FUNCTION menwei_cards_balance_is_the_ledger() RETURNS trigger "
               "LANGUAGE plpgsql AS $$ BEGIN "
               "IF NEW.balance_fen <> (SELECT COALESCE(SUM(amount_fen), 0) "
               "FROM card_balance_entries WHERE card_id = NEW.id) THEN "
               "RAISE EXCEPTION 'a card balance is the sum of its ledger' "
               "USING ERRCODE = 'restrict_violation'; END IF; RETURN NEW; END $$")
    sql.append("CREATE TRIGGER cards_balance_is_the_ledger BEFORE UPDATE OF balance_fen ON cards "
               "FOR EACH ROW EXECUTE FUNCTION menwei_cards_balance_is_the_ledger()")
    sql.append(_refuse("menwei_cards_balance_starts_at_zero",
                       "a new card has no balance until money is put on it"))
    sql.append("CREATE TRIGGER cards_balance_starts_at_zero BEFORE INSERT ON cards FOR EACH ROW "
               "WHEN (NEW.balance_fen <> 0) "
               "EXECUTE FUNCTION menwei_cards_balance_starts_at_zero()")
    return sql


def upgrade() -> None:
    """Apply."""
    with op.batch_alter_table('site_rules_versions', schema=None) as batch_op:
        batch_op.alter_column('version', existing_type=sa.Integer(), type_=sa.BigInteger(),
                              existing_nullable=False)
    if op.get_bind().dialect.name == "postgresql":
        for statement in _postgresql_statements():
            op.execute(statement)


def downgrade() -> None:
    """Revert."""
    if op.get_bind().dialect.name == "postgresql":
        triggers = {f"{t}_append_only": t for t in _APPEND_ONLY}
        triggers |= {"receipts_frozen": "receipts", "receipts_no_delete": "receipts",
                     "cards_balance_is_the_ledger": "cards",
                     "cards_balance_starts_at_zero": "cards"}
        for trigger, table in triggers.items():
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        for name in [*(f"menwei_{t}_append_only" for t in _APPEND_ONLY), "menwei_receipts_frozen",
                     "menwei_receipts_no_delete", "menwei_cards_balance_is_the_ledger",
                     "menwei_cards_balance_starts_at_zero"]:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    with op.batch_alter_table('site_rules_versions', schema=None) as batch_op:
        batch_op.alter_column('version', existing_type=sa.BigInteger(), type_=sa.Integer(),
                              existing_nullable=False)
