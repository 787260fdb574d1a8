"""users remember when all their sessions were last ended, for the old service's access tokens

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:00:00.000000

Access tokens signed by the old Django service (accepted during a cutover, see
LEGACY_JWT_SECRET_KEY) name no session; one issued before this moment is refused.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sessions_ended_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('sessions_ended_at')
