"""away windows: times a household is registered as away (no inactivity alert inside them)

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('away_windows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meter_id', sa.String(length=64), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('away_windows_meter', 'away_windows', ['meter_id', 'ends_at'], unique=False)
    op.create_index(op.f('ix_away_windows_ends_at'), 'away_windows', ['ends_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_away_windows_ends_at'), table_name='away_windows')
    op.drop_index('away_windows_meter', table_name='away_windows')
    op.drop_table('away_windows')
