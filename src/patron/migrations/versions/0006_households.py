"""Households: households, their members and membership history; lot transfers

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 16:05:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import patron.db.types  # noqa: F401


revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('households',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('program_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', patron.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('dissolved_at', patron.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_households_account_id_accounts')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_households_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_households')),
    sa.UniqueConstraint('account_id', name=op.f('uq_households_account_id'))
    )
    with op.batch_alter_table('households', schema=None) as batch_op:
        batch_op.create_index('ix_households_program_id_id', ['program_id', 'id'], unique=False)

    op.create_table('household_members',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('program_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('household_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('joined_at', patron.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_household_members_household_id_households')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_household_members_member_id_members')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_household_members_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_household_members')),
    sa.UniqueConstraint('member_id', name=op.f('uq_household_members_member_id'))
    )
    with op.batch_alter_table('household_members', schema=None) as batch_op:
        batch_op.create_index('ix_household_members_household_id', ['household_id'], unique=False)

    op.create_table('household_member_periods',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('program_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('household_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('joined_at', patron.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('left_at', patron.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=16), nullable=True),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_household_member_periods_household_id_households')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_household_member_periods_member_id_members')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_household_member_periods_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_household_member_periods'))
    )
    with op.batch_alter_table('household_member_periods', schema=None) as batch_op:
        batch_op.create_index('ix_household_member_periods_household_id_joined_at', ['household_id', 'joined_at'], unique=False)
        batch_op.create_index('ix_household_member_periods_member_id', ['member_id'], unique=False)

    op.create_table('lot_transfers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('from_lot_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('to_lot_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['ledger_entries.id'], name=op.f('fk_lot_transfers_entry_id_ledger_entries')),
    sa.ForeignKeyConstraint(['from_lot_id'], ['lots.id'], name=op.f('fk_lot_transfers_from_lot_id_lots')),
    sa.ForeignKeyConstraint(['to_lot_id'], ['lots.id'], name=op.f('fk_lot_transfers_to_lot_id_lots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lot_transfers')),
    sa.UniqueConstraint('from_lot_id', name=op.f('uq_lot_transfers_from_lot_id'))
    )


def downgrade() -> None:
    op.drop_table('lot_transfers')
    with op.batch_alter_table('household_member_periods', schema=None) as batch_op:
        batch_op.drop_index('ix_household_member_periods_member_id')
        batch_op.drop_index('ix_household_member_periods_household_id_joined_at')

    op.drop_table('household_member_periods')
    with op.batch_alter_table('household_members', schema=None) as batch_op:
        batch_op.drop_index('ix_household_members_household_id')

    op.drop_table('household_members')
    with op.batch_alter_table('households', schema=None) as batch_op:
        batch_op.drop_index('ix_households_program_id_id')

    op.drop_table('households')
