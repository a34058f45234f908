"""Shop connections (Shopify, WooCommerce webhooks) and the shop orders they recorded

Revision ID: 0021_shop_connections
Revises: 0020_audit_log_and_key_limits
Create Date: 2026-12-08 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0021_shop_connections'
down_revision: str | Sequence[str] | None = '0020_audit_log_and_key_limits'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'shop_connections',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('platform', sa.String(length=32), nullable=False),
        sa.Column('shop', sa.String(length=100), nullable=False),
        sa.Column('secret', sa.String(length=200), nullable=False),
        sa.Column('channel', sa.String(length=64), nullable=False),
        sa.Column('store_id', sa.String(length=100), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_shop_connections_program_id_programs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_shop_connections')),
        sa.UniqueConstraint('program_id', 'platform', 'shop',
                            name=op.f('uq_shop_connections_program_id_platform_shop')),
    )
    op.create_table(
        'shop_orders',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('connection_id', _ID, nullable=False),
        sa.Column('order_id', sa.String(length=200), nullable=False),
        sa.Column('line_ids', _JSON, nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_shop_orders_program_id_programs')),
        sa.ForeignKeyConstraint(['connection_id'], ['shop_connections.id'],
                                name=op.f('fk_shop_orders_connection_id_shop_connections')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_shop_orders')),
        sa.UniqueConstraint('program_id', 'order_id',
                            name=op.f('uq_shop_orders_program_id_order_id')),
    )
    op.create_index('ix_shop_orders_connection_id', 'shop_orders', ['connection_id'])


def downgrade() -> None:
    op.drop_index('ix_shop_orders_connection_id', table_name='shop_orders')
    op.drop_table('shop_orders')
    op.drop_table('shop_connections')
