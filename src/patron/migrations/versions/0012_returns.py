"""Cashback held through the return window: pending wallet balance and holds

Revision ID: 0012_returns
Revises: 0011
Create Date: 2026-12-06 02:10:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import patron.db.types


revision: str = '0012_returns'
down_revision: str | Sequence[str] | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('wallet_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending', sa.BigInteger(), server_default='0',
                                      nullable=False))
    with op.batch_alter_table('wallet_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), server_default='posted',
                                      nullable=False))
        batch_op.add_column(sa.Column('available_at',
                                      patron.db.types.UTCDateTime(timezone=True), nullable=True))
    op.create_table('wallet_holds',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('program_id', _ID, nullable=False),
    sa.Column('account_id', _ID, nullable=False),
    sa.Column('entry_id', _ID, nullable=False),
    sa.Column('remaining', sa.BigInteger(), nullable=False),
    sa.Column('available_at', patron.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['wallet_accounts.id'], name=op.f('fk_wallet_holds_account_id_wallet_accounts')),
    sa.ForeignKeyConstraint(['entry_id'], ['wallet_entries.id'], name=op.f('fk_wallet_holds_entry_id_wallet_entries')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_wallet_holds_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wallet_holds')),
    sa.UniqueConstraint('entry_id', name=op.f('uq_wallet_holds_entry_id'))
    )
    with op.batch_alter_table('wallet_holds', schema=None) as batch_op:
        batch_op.create_index('ix_wallet_holds_account_id', ['account_id'], unique=False)
        batch_op.create_index('ix_wallet_holds_state_available_at', ['state', 'available_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('wallet_holds', schema=None) as batch_op:
        batch_op.drop_index('ix_wallet_holds_state_available_at')
        batch_op.drop_index('ix_wallet_holds_account_id')
    op.drop_table('wallet_holds')
    with op.batch_alter_table('wallet_entries', schema=None) as batch_op:
        batch_op.drop_column('available_at')
        batch_op.drop_column('status')
    with op.batch_alter_table('wallet_accounts', schema=None) as batch_op:
        batch_op.drop_column('pending')
