"""Refunds of money alone: an order taken back pro rata to the money refunded

Revision ID: 0031_order_refunds
Revises: 0030_feature_rows_unchecked
Create Date: 2026-12-06 19:50:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0031_order_refunds'
down_revision: str | Sequence[str] | None = '0030_feature_rows_unchecked'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'order_refunds',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('order_pk', _ID, nullable=False),
        sa.Column('event_id', _ID, nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_order_refunds_program_id_programs')),
        sa.ForeignKeyConstraint(['order_pk'], ['orders.id'],
                                name=op.f('fk_order_refunds_order_pk_orders')),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'],
                                name=op.f('fk_order_refunds_event_id_events')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_order_refunds')),
    )
    op.create_index('ix_order_refunds_order_pk', 'order_refunds', ['order_pk'])


def downgrade() -> None:
    op.drop_index('ix_order_refunds_order_pk', table_name='order_refunds')
    op.drop_table('order_refunds')
