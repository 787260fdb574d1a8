"""signing keys: the key pairs of asymmetric JWT algorithms (RS256, ES256, EdDSA)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 06:40:00.000000

Private keys are stored sealed (Fernet, with a key derived from SECRET_KEY);
keys read from JWT_PRIVATE_KEY_FILE are recorded with their public half only.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('signing_keys',
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('algorithm', sa.String(length=10), nullable=False),
    sa.Column('public_key', sa.Text(), nullable=False),
    sa.Column('private_key_sealed', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('signs_from', sa.DateTime(), nullable=False),
    sa.Column('retired_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('kid', name=op.f('pk_signing_keys')),
    sa.UniqueConstraint('number', name=op.f('uq_signing_keys_number'))
    )


def downgrade():
    op.drop_table('signing_keys')
