"""console sessions: staff console sign-ins, each on a login session of its own

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 05:38:53.403043

Only the SHA-256 digest of a console cookie's token is stored. Deleting the
login session (flask tokens purge deletes ended ones) deletes its console session.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('console_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('login_session_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['login_session_id'], ['login_sessions.id'], name=op.f('fk_console_sessions_login_session_id_login_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_sessions')),
    sa.UniqueConstraint('login_session_id', name=op.f('uq_console_sessions_login_session_id')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_console_sessions_token_hash')),
    sqlite_autoincrement=True
    )


def downgrade():
    op.drop_table('console_sessions')
