"""Notifications: messages to members, sent by e-mail

Revision ID: 0027_notifications
Revises: 0026_recommendations
Create Date: 2026-12-06 18:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0027_notifications'
down_revision: str | Sequence[str] | None = '0026_recommendations'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'notifications',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('member_id', _ID, nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('purpose', sa.String(length=64), nullable=False),
        sa.Column('language', sa.String(length=16), nullable=False),
        sa.Column('recipient', sa.String(length=320), nullable=False),
        sa.Column('subject', sa.String(length=300), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', _when(), nullable=True),
        sa.Column('locked_until', _when(), nullable=True),
        sa.Column('sent_at', _when(), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('created_at', _when(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    )
    op.create_index('ix_notifications_state_id', 'notifications', ['state', 'id'])
    op.create_index('ix_notifications_member_id', 'notifications', ['member_id'])


def downgrade() -> None:
    op.drop_index('ix_notifications_member_id', table_name='notifications')
    op.drop_index('ix_notifications_state_id', table_name='notifications')
    op.drop_table('notifications')
