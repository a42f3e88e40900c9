"""The desk pages: each account's page language, and the idle limit of a browser session.

Revision ID: 0006_desk_pages
Revises: 0005_desk_abuse
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006_desk_pages'
down_revision: str | None = '0005_desk_abuse'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply."""
    with op.batch_alter_table('staff') as batch:
        batch.add_column(sa.Column('locale', sa.String(length=16), nullable=True))
    with op.batch_alter_table('staff_sessions') as batch:
        batch.add_column(sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('idle_timeout_s', sa.Integer(), nullable=True))


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table('staff_sessions') as batch:
        batch.drop_column('idle_timeout_s')
        batch.drop_column('last_seen_at')
    with op.batch_alter_table('staff') as batch:
        batch.drop_column('locale')
