"""Rewards: stock per reward and redemptions

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 18:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import patron.db.types  # noqa: F401


revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('reward_stock',
    sa.Column('program_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reward_id', sa.String(length=64), nullable=False),
    sa.Column('stock', sa.BigInteger(), nullable=False),
    sa.Column('redeemed', sa.BigInteger(), nullable=False),
    sa.Column('remaining', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', patron.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_reward_stock_program_id_programs')),
    sa.PrimaryKeyConstraint('program_id', 'reward_id', name=op.f('pk_reward_stock'))
    )
    op.create_table('redemptions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('program_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reward_id', sa.String(length=64), nullable=False),
    sa.Column('reward_type', sa.String(length=16), nullable=False),
    sa.Column('reward_name', sa.String(length=200), nullable=False),
    sa.Column('cost_points', sa.BigInteger(), nullable=False),
    sa.Column('program_version', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=150), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('fulfilment', sa.String(length=32), nullable=False),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('took_stock', sa.Boolean(), nullable=False),
    sa.Column('coupon_code', sa.String(length=64), nullable=True),
    sa.Column('coupon_expires_at', patron.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cashback_amount', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('wallet_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('cause', sa.String(length=200), nullable=True),
    sa.Column('created_at', patron.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('cancelled_at', patron.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancel_reason', sa.Text(), nullable=True),
    sa.Column('refund_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_redemptions_account_id_accounts')),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entries.id'], name=op.f('fk_redemptions_entry_id_ledger_entries')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_redemptions_member_id_members')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_redemptions_program_id_programs')),
    sa.ForeignKeyConstraint(['refund_entry_id'], ['ledger_entries.id'], name=op.f('fk_redemptions_refund_entry_id_ledger_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_redemptions')),
    sa.UniqueConstraint('program_id', 'member_id', 'idempotency_key', name=op.f('uq_redemptions_program_id_member_id_idempotency_key'))
    )
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.create_index('ix_redemptions_member_id_id', ['member_id', 'id'], unique=False)
        batch_op.create_index('ix_redemptions_program_id_reward_type', ['program_id', 'reward_type'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.drop_index('ix_redemptions_program_id_reward_type')
        batch_op.drop_index('ix_redemptions_member_id_id')

    op.drop_table('redemptions')
    op.drop_table('reward_stock')
