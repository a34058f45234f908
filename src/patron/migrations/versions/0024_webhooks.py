"""Webhooks: endpoints, the outbox of messages, the delivery log; expiry notices and
campaign starts told once

Revision ID: 0024_webhooks
Revises: 0023_privacy
Create Date: 2026-12-06 17:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0024_webhooks'
down_revision: str | Sequence[str] | None = '0023_privacy'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
_AT = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f'{target}.id'],
                                   name=op.f(f'fk_{table}_{column}_{target}'))


def upgrade() -> None:
    op.create_table(
        'webhook_endpoints',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('description', sa.String(length=200), nullable=True),
        sa.Column('event_types', _JSON, nullable=False),
        sa.Column('secret', sa.String(length=120), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', _AT, nullable=False),
        sa.Column('updated_at', _AT, nullable=False),
        sa.Column('deleted_at', _AT, nullable=True),
        _fk('webhook_endpoints', 'program_id', 'programs'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints')),
    )
    op.create_index('ix_webhook_endpoints_program_id', 'webhook_endpoints', ['program_id'])
    op.create_table(
        'webhook_messages',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('endpoint_id', _ID, nullable=False),
        sa.Column('webhook_id', sa.String(length=40), nullable=False),
        sa.Column('event_type', sa.String(length=64), nullable=False),
        sa.Column('member_id', _ID, nullable=True),
        sa.Column('lane', _ID, nullable=False),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('occurred_at', _AT, nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', _AT, nullable=True),
        sa.Column('locked_until', _AT, nullable=True),
        sa.Column('claim', sa.String(length=32), nullable=True),
        sa.Column('delivered_at', _AT, nullable=True),
        sa.Column('last_status', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_messages')),
    )
    op.create_index('ix_webhook_messages_state_delivered_at_id', 'webhook_messages',
                    ['state', 'delivered_at', 'id'])
    op.create_index('ix_webhook_messages_endpoint_id_lane_state_id', 'webhook_messages',
                    ['endpoint_id', 'lane', 'state', 'id'])
    op.create_table(
        'webhook_attempts',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('message_id', _ID, nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('at', _AT, nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('latency_ms', sa.Integer(), nullable=False),
        sa.Column('error', sa.String(length=500), nullable=True),
        _fk('webhook_attempts', 'message_id', 'webhook_messages'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_attempts')),
    )
    op.create_index('ix_webhook_attempts_message_id', 'webhook_attempts', ['message_id'])
    op.create_table(
        'expiry_notices',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('account_id', _ID, nullable=False),
        sa.Column('member_id', _ID, nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('expires_at', _AT, nullable=False),
        sa.Column('points', sa.BigInteger(), nullable=False),
        sa.Column('noticed_at', _AT, nullable=False),
        _fk('expiry_notices', 'program_id', 'programs'),
        _fk('expiry_notices', 'account_id', 'accounts'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_expiry_notices')),
        sa.UniqueConstraint('account_id', 'day', name=op.f('uq_expiry_notices_account_id_day')),
    )
    op.create_table(
        'campaign_starts',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('campaign_id', sa.String(length=64), nullable=False),
        sa.Column('starts', _AT, nullable=False),
        sa.Column('announced_at', _AT, nullable=False),
        _fk('campaign_starts', 'program_id', 'programs'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_starts')),
        sa.UniqueConstraint('program_id', 'campaign_id',
                            name=op.f('uq_campaign_starts_program_id_campaign_id')),
    )


def downgrade() -> None:
    op.drop_table('campaign_starts')
    op.drop_table('expiry_notices')
    op.drop_index('ix_webhook_attempts_message_id', table_name='webhook_attempts')
    op.drop_table('webhook_attempts')
    op.drop_index('ix_webhook_messages_endpoint_id_lane_state_id', table_name='webhook_messages')
    op.drop_index('ix_webhook_messages_state_delivered_at_id', table_name='webhook_messages')
    op.drop_table('webhook_messages')
    op.drop_index('ix_webhook_endpoints_program_id', table_name='webhook_endpoints')
    op.drop_table('webhook_endpoints')
