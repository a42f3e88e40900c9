"""The authorisation log numbered per site, in commit order (issue 14): each entry takes its
site's next number (``auth_log.site_seq``) from ``sites.auth_log_head``, under the site row's
lock, in the transaction that writes it. The relay to the gates follows each site's numbers,
so an entry whose global ``seq`` was taken before another site's but committed after it is
never skipped (on PostgreSQL, where such transactions run at once).

Existing entries are numbered per site in ``seq`` order.

Revision ID: 0013_auth_log_site_order
Revises: 0012_postgresql_guards
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013_auth_log_site_order'
down_revision: str | None = '0012_postgresql_guards'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply."""
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('auth_log_head', sa.BigInteger(), server_default='0',
                                      nullable=False))
    op.add_column('auth_log', sa.Column('site_seq', sa.BigInteger(), nullable=True))
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    # auth_log refuses UPDATE (append-only triggers): lifted for the numbering only.
    if postgresql:
        op.execute("ALTER TABLE auth_log DISABLE TRIGGER auth_log_append_only")
    else:
        for event in ("update", "delete"):
            op.execute(f"DROP TRIGGER auth_log_no_{event}")
    op.execute("UPDATE auth_log SET site_seq = (SELECT COUNT(*) FROM auth_log AS earlier "
               "WHERE earlier.site = auth_log.site AND earlier.seq <= auth_log.seq)")
    op.execute("UPDATE sites SET auth_log_head = (SELECT COUNT(*) FROM auth_log "
               "WHERE auth_log.site = sites.code)")
    if postgresql:
        op.alter_column('auth_log', 'site_seq', existing_type=sa.BigInteger(), nullable=False)
        op.execute("ALTER TABLE auth_log ENABLE TRIGGER auth_log_append_only")
    else:
        # SQLite makes a column NOT NULL by rebuilding the table, which keeps neither its
        # triggers (made again below) nor, unless told, AUTOINCREMENT.
        with op.batch_alter_table('auth_log', recreate='always',
                                  table_kwargs={"sqlite_autoincrement": True}) as batch_op:
            batch_op.alter_column('site_seq', existing_type=sa.BigInteger(), nullable=False)
        for event in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER auth_log_no_{event.lower()} BEFORE {event} ON auth_log "
                       "BEGIN SELECT RAISE(ABORT, 'the authorisation log is append-only'); END")
    op.create_index('ux_auth_log_site_site_seq', 'auth_log', ['site', 'site_seq'], unique=True)


def downgrade() -> None:
    """Revert."""
    op.drop_index('ux_auth_log_site_site_seq', 'auth_log')
    with op.batch_alter_table('auth_log', schema=None) as batch_op:
        batch_op.drop_column('site_seq')
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_column('auth_log_head')
