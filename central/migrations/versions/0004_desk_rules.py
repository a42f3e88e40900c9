"""Desk rules of issue 9: the seeds' approval steps as site settings, the goods slip's
approval (seed 003), the owner unit's signature on a monthly card (seed 000).

Revision ID: 0004_desk_rules
Revises: 0003_stored_value
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004_desk_rules'
down_revision: str | None = '0003_stored_value'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _add_staff_reference(table: str, column: str) -> None:
    """A nullable column referring to ``staff.id``. SQLite cannot add a constraint to a
    table, only a column carrying its own ``REFERENCES`` — and rebuilding the table (batch
    mode) would trip over the rows that refer to it while foreign keys are enforced."""
    name = f'fk_{table}_{column}_staff'
    if op.get_context().dialect.name == 'sqlite':
        op.execute(f'ALTER TABLE {table} ADD COLUMN {column} INTEGER '
                   f'CONSTRAINT {name} REFERENCES staff (id)')
    else:
        op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
        op.create_foreign_key(name, table, 'staff', [column], ['id'])


def upgrade() -> None:
    """Apply: columns added in place, no table rebuilt."""
    for column in ('goods_slip_approval', 'renovation_manager_approval',
                   'parking_owner_unit_approval'):
        op.add_column('site_settings', sa.Column(column, sa.Boolean(),
                                                 server_default=sa.true(), nullable=False))
    _add_staff_reference('goods_release_slips', 'approved_by_staff_id')
    op.add_column('goods_release_slips', sa.Column('approved_at', sa.DateTime(timezone=True),
                                                   nullable=True))
    op.add_column('parking_subscriptions', sa.Column('owner_unit_signer',
                                                     sa.String(length=100), nullable=True))
    op.add_column('parking_subscriptions', sa.Column(
        'owner_unit_signed_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('parking_subscriptions', sa.Column(
        'owner_unit_reference', sa.String(length=200), nullable=True))
    _add_staff_reference('parking_subscriptions', 'owner_unit_recorded_by_staff_id')


def downgrade() -> None:
    """Revert (batch mode: the columns carrying a foreign key go with a table rebuild)."""
    with op.batch_alter_table('parking_subscriptions', schema=None) as batch_op:
        for column in ('owner_unit_recorded_by_staff_id', 'owner_unit_reference',
                       'owner_unit_signed_at', 'owner_unit_signer'):
            batch_op.drop_column(column)
    with op.batch_alter_table('goods_release_slips', schema=None) as batch_op:
        batch_op.drop_column('approved_at')
        batch_op.drop_column('approved_by_staff_id')
    with op.batch_alter_table('site_settings', schema=None) as batch_op:
        for column in ('parking_owner_unit_approval', 'renovation_manager_approval',
                       'goods_slip_approval'):
            batch_op.drop_column(column)
