"""registry, scopes, alert workflow, notifications, web sessions

Communities, buildings, households, residents and the meters linked to them over time; users' communities,
passwords and phones; who looks after whom; alert outcomes, escalation and the audit trail;
notification channels and deliveries; signed-in browsers; away windows of a household.

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('communities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('cadres_see_all', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('buildings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('community_id', 'name', name='buildings_name')
    )
    with op.batch_alter_table('buildings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_buildings_community_id'), ['community_id'], unique=False)

    op.create_table('building_managers',
    sa.Column('building_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['building_id'], ['buildings.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('building_id', 'user_id')
    )
    with op.batch_alter_table('building_managers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_building_managers_user_id'), ['user_id'], unique=False)

    op.create_table('households',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('building_id', sa.Integer(), nullable=False),
    sa.Column('unit', sa.String(length=50), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['building_id'], ['buildings.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('building_id', 'unit', name='households_unit')
    )
    with op.batch_alter_table('households', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_households_building_id'), ['building_id'], unique=False)

    op.create_table('notification_channels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('secret', sa.Text(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notification_channels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_channels_user_id'), ['user_id'], unique=False)

    op.create_table('web_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('household_cadres',
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('household_id', 'user_id')
    )
    with op.batch_alter_table('household_cadres', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_household_cadres_user_id'), ['user_id'], unique=False)

    op.create_table('meter_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meter_id', sa.String(length=64), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('linked_at', sa.DateTime(), nullable=False),
    sa.Column('unlinked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('meter_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meter_links_household_id'), ['household_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_meter_links_meter_id'), ['meter_id'], unique=False)
        batch_op.create_index('meter_links_current_household', ['household_id'], unique=True, sqlite_where=sa.text('unlinked_at IS NULL'), postgresql_where=sa.text('unlinked_at IS NULL'))
        batch_op.create_index('meter_links_current_meter', ['meter_id'], unique=True, sqlite_where=sa.text('unlinked_at IS NULL'), postgresql_where=sa.text('unlinked_at IS NULL'))

    op.create_table('residents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('phones', sa.Text(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_residents_household_id'), ['household_id'], unique=False)

    op.create_table('alert_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alert_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_events_alert_id'), ['alert_id'], unique=False)

    op.create_table('deliveries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=True),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], ),
    sa.ForeignKeyConstraint(['channel_id'], ['notification_channels.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('deliveries_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('deliveries_once', ['dedupe_key', 'channel_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_deliveries_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_channel_id'), ['channel_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('household_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('escalation_level', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('escalated_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('notified_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_alerts_household_id'), ['household_id'], unique=False)
        batch_op.create_foreign_key('fk_alerts_household', 'households', ['household_id'], ['id'])

    with op.batch_alter_table('away_windows', schema=None) as batch_op:
        batch_op.add_column(sa.Column('household_id', sa.Integer(), nullable=True))
        batch_op.alter_column('meter_id',
               existing_type=sa.VARCHAR(length=64),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_away_windows_household_id'), ['household_id'], unique=False)
        batch_op.create_foreign_key('fk_away_windows_household', 'households', ['household_id'], ['id'])

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('community_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('password_hash', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('phone', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_users_community_id'), ['community_id'], unique=False)
        batch_op.create_foreign_key('fk_users_community', 'communities', ['community_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint('fk_users_community', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_users_community_id'))
        batch_op.drop_column('phone')
        batch_op.drop_column('password_hash')
        batch_op.drop_column('community_id')

    with op.batch_alter_table('away_windows', schema=None) as batch_op:
        batch_op.drop_constraint('fk_away_windows_household', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_away_windows_household_id'))
        batch_op.alter_column('meter_id',
               existing_type=sa.VARCHAR(length=64),
               nullable=False)
        batch_op.drop_column('household_id')

    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_constraint('fk_alerts_household', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_alerts_household_id'))
        batch_op.drop_column('notified_at')
        batch_op.drop_column('escalated_at')
        batch_op.drop_column('escalation_level')
        batch_op.drop_column('household_id')
        batch_op.drop_column('outcome')

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_user_id'))
        batch_op.drop_index(batch_op.f('ix_deliveries_channel_id'))
        batch_op.drop_index(batch_op.f('ix_deliveries_alert_id'))
        batch_op.drop_index('deliveries_once')
        batch_op.drop_index('deliveries_due')

    op.drop_table('deliveries')
    with op.batch_alter_table('alert_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_events_alert_id'))

    op.drop_table('alert_events')
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_residents_household_id'))

    op.drop_table('residents')
    with op.batch_alter_table('meter_links', schema=None) as batch_op:
        batch_op.drop_index('meter_links_current_meter', sqlite_where=sa.text('unlinked_at IS NULL'), postgresql_where=sa.text('unlinked_at IS NULL'))
        batch_op.drop_index('meter_links_current_household', sqlite_where=sa.text('unlinked_at IS NULL'), postgresql_where=sa.text('unlinked_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_meter_links_meter_id'))
        batch_op.drop_index(batch_op.f('ix_meter_links_household_id'))

    op.drop_table('meter_links')
    with op.batch_alter_table('household_cadres', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_household_cadres_user_id'))

    op.drop_table('household_cadres')
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_user_id'))

    op.drop_table('web_sessions')
    with op.batch_alter_table('notification_channels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_channels_user_id'))

    op.drop_table('notification_channels')
    with op.batch_alter_table('households', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_households_building_id'))

    op.drop_table('households')
    with op.batch_alter_table('building_managers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_building_managers_user_id'))

    op.drop_table('building_managers')
    with op.batch_alter_table('buildings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_buildings_community_id'))

    op.drop_table('buildings')
    op.drop_table('communities')
