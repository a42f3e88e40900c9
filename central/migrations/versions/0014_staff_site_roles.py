"""An account's role at one site other than its own (issue 14: a company's staff who work at
several compounds): ``staff_site_roles``.

Revision ID: 0014_staff_site_roles
Revises: 0013_auth_log_site_order
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014_staff_site_roles'
down_revision: str | None = '0013_auth_log_site_order'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply."""
    op.create_table(
        'staff_site_roles',
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('site_id', sa.Integer(), nullable=False),
        sa.Column('role', sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(['site_id'], ['sites.id'],
                                name=op.f('fk_staff_site_roles_site_id_sites')),
        sa.ForeignKeyConstraint(['staff_id'], ['staff.id'],
                                name=op.f('fk_staff_site_roles_staff_id_staff')),
        sa.PrimaryKeyConstraint('staff_id', 'site_id', name=op.f('pk_staff_site_roles')))
    op.create_index(op.f('ix_staff_site_roles_site_id'), 'staff_site_roles', ['site_id'],
                    unique=False)


def downgrade() -> None:
    """Revert."""
    op.drop_index(op.f('ix_staff_site_roles_site_id'), table_name='staff_site_roles')
    op.drop_table('staff_site_roles')
