"""The desk's search box: a unit's search key, a person's phone digits, and the indexes a
search-as-you-type query needs on a site of thousands of households (central/services/
search.py). Existing rows get their keys here; the models keep them from now on.

Revision ID: 0008_search
Revises: 0007_gate_commands
Create Date: 2026-12-09
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from central.search_keys import phone_digits, unit_search_key

revision: str = '0008_search'
down_revision: str | None = '0007_gate_commands'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply."""
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_key', sa.String(length=80), nullable=False,
                                      server_default=''))
        batch_op.create_index(batch_op.f('ix_units_search_key'), ['search_key'], unique=False)
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_digits', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('phone_digits_reversed', sa.String(length=32),
                                      nullable=True))
        batch_op.create_index('ix_persons_site_name', ['site_id', 'name'], unique=False)
        batch_op.create_index('ix_persons_site_phone_digits', ['site_id', 'phone_digits'],
                              unique=False)
        batch_op.create_index('ix_persons_site_phone_digits_reversed',
                              ['site_id', 'phone_digits_reversed'], unique=False)
    bind = op.get_bind()
    # The keys of the rows already there, computed as the models compute them.
    units = bind.execute(sa.text(
        "SELECT units.id, buildings.code, units.number FROM units "
        "JOIN buildings ON buildings.id = units.building_id")).all()
    for unit_id, code, number in units:
        bind.execute(sa.text("UPDATE units SET search_key = :key WHERE id = :id"),
                     {"key": unit_search_key(code, number), "id": unit_id})
    people = bind.execute(sa.text(
        "SELECT id, phone FROM persons WHERE phone IS NOT NULL")).all()
    for person_id, phone in people:
        digits = phone_digits(phone)
        bind.execute(sa.text("UPDATE persons SET phone_digits = :digits, "
                             "phone_digits_reversed = :reversed WHERE id = :id"),
                     {"digits": digits, "reversed": digits[::-1] if digits else None,
                      "id": person_id})


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_index('ix_persons_site_phone_digits_reversed')
        batch_op.drop_index('ix_persons_site_phone_digits')
        batch_op.drop_index('ix_persons_site_name')
        batch_op.drop_column('phone_digits_reversed')
        batch_op.drop_column('phone_digits')
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_units_search_key'))
        batch_op.drop_column('search_key')
