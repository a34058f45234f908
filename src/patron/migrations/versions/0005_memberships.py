"""Paid memberships: memberships and their transitions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 15:40:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import patron.db.types


revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _utc() -> patron.db.types.UTCDateTime:
    return patron.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('memberships',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('program_id', BIG_ID, nullable=False),
    sa.Column('member_id', BIG_ID, nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('price', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('period_months', sa.Integer(), nullable=False),
    sa.Column('grace_days', sa.Integer(), nullable=False),
    sa.Column('created_at', _utc(), nullable=False),
    sa.Column('started_at', _utc(), nullable=True),
    sa.Column('current_period_start', _utc(), nullable=True),
    sa.Column('current_period_end', _utc(), nullable=True),
    sa.Column('paid_until', _utc(), nullable=True),
    sa.Column('cancelled_at', _utc(), nullable=True),
    sa.Column('lapsed_at', _utc(), nullable=True),
    sa.Column('ended_at', _utc(), nullable=True),
    sa.Column('next_review_at', _utc(), nullable=True),
    sa.Column('live_member_id', BIG_ID, nullable=True),
    sa.Column('updated_at', _utc(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_memberships_member_id_members')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_memberships_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_memberships')),
    sa.UniqueConstraint('live_member_id', name=op.f('uq_memberships_live_member_id'))
    )
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.create_index('ix_memberships_member_id', ['member_id'], unique=False)
        batch_op.create_index('ix_memberships_next_review_at', ['next_review_at'], unique=False)

    op.create_table('membership_transitions',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('program_id', BIG_ID, nullable=False),
    sa.Column('membership_id', BIG_ID, nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=True),
    sa.Column('to_state', sa.String(length=16), nullable=False),
    sa.Column('at', _utc(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('payment_reference', sa.String(length=200), nullable=True),
    sa.Column('payment_amount', sa.BigInteger(), nullable=True),
    sa.Column('recorded_at', _utc(), nullable=False),
    sa.ForeignKeyConstraint(['membership_id'], ['memberships.id'], name=op.f('fk_membership_transitions_membership_id_memberships')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_membership_transitions_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_membership_transitions')),
    sa.UniqueConstraint('program_id', 'payment_reference', name=op.f('uq_membership_transitions_program_id_payment_reference'))
    )
    with op.batch_alter_table('membership_transitions', schema=None) as batch_op:
        batch_op.create_index('ix_membership_transitions_membership_id', ['membership_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('membership_transitions', schema=None) as batch_op:
        batch_op.drop_index('ix_membership_transitions_membership_id')

    op.drop_table('membership_transitions')
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_index('ix_memberships_next_review_at')
        batch_op.drop_index('ix_memberships_member_id')

    op.drop_table('memberships')
