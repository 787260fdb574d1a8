"""rate events name the account they count against, for `flask users unlock`

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 05:40:00.000000

Events recorded before this migration name none: they still count, and
leave their windows (at most LOGIN_ACCOUNT_WINDOW) as before.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('rate_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_rate_events_account'), ['account'], unique=False)


def downgrade():
    with op.batch_alter_table('rate_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_events_account'))
        batch_op.drop_column('account')
