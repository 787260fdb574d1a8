"""hardening: ids never reused, session keys, sealed successors, username skeletons, known clients

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 02:45:00.000000

On SQLite the three tables whose ids appear in tokens are rebuilt with
AUTOINCREMENT, so the ids of deleted rows are never handed out again
(PostgreSQL's sequences never go back). Existing sessions get a random key
(access tokens issued before this migration carry none and are refused:
clients refresh, as after any expiry); existing users get their skeleton.
"""
import secrets

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

AUTOINCREMENT_TABLES = ("users", "login_sessions", "refresh_tokens")


def _rebuild_with_autoincrement(table: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
        pass
    # Start after the largest id this table has ever had, not just the largest left.
    op.execute(
        sa.text(
            "INSERT INTO sqlite_sequence (name, seq) "
            f"SELECT '{table}', coalesce(max(id), 0) FROM {table} "
            f"WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = '{table}')"
        )
    )


def upgrade():
    from service.auth.validation import username_skeleton

    connection = op.get_bind()
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('username_skeleton', sa.String(length=600), nullable=True))
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('username', sa.String),
                     sa.column('username_skeleton', sa.String))
    for user_id, username in connection.execute(sa.select(users.c.id, users.c.username)).all():
        connection.execute(
            users.update().where(users.c.id == user_id).values(username_skeleton=username_skeleton(username))
        )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('username_skeleton', existing_type=sa.String(length=600), nullable=False)
        batch_op.create_index(batch_op.f('ix_users_username_skeleton'), ['username_skeleton'], unique=False)

    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_key', sa.String(length=32), nullable=True))
    sessions = sa.table('login_sessions', sa.column('id', sa.Integer), sa.column('session_key', sa.String))
    for (session_id,) in connection.execute(sa.select(sessions.c.id)).all():
        connection.execute(
            sessions.update().where(sessions.c.id == session_id).values(session_key=secrets.token_hex(16))
        )
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.alter_column('session_key', existing_type=sa.String(length=32), nullable=False)

    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('successor_sealed', sa.Text(), nullable=True))

    for table in AUTOINCREMENT_TABLES:
        _rebuild_with_autoincrement(table)

    op.create_table('known_clients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('network', sa.String(length=64), nullable=False),
    sa.Column('last_login_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_known_clients_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_known_clients')),
    sa.UniqueConstraint('user_id', 'network', name=op.f('uq_known_clients_user_id'))
    )


def downgrade():
    op.drop_table('known_clients')
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.drop_column('successor_sealed')
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.drop_column('session_key')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_username_skeleton'))
        batch_op.drop_column('username_skeleton')
