"""Member insight: purchase detail (store, discounts, product hierarchy), tags,
materialised member features, segments, and campaign assignment and budgets

Revision ID: 0017_insight
Revises: 0014_event_identity
Create Date: 2026-12-06 08:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0017_insight'
down_revision: str | Sequence[str] | None = '0014_event_identity'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('store_id', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('discount', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('coupon_value', sa.BigInteger(), nullable=True))
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('department', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('subcategory', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('brand', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('discount', sa.BigInteger(), nullable=True))
    op.create_table(
        'member_tags',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('member_id', _ID, nullable=False),
        sa.Column('tag', sa.String(length=64), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('added_by', sa.String(length=200), nullable=False),
        sa.Column('added_at', _when(), nullable=False),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'],
                                name=op.f('fk_member_tags_member_id_members')),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_member_tags_program_id_programs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_member_tags')),
        sa.UniqueConstraint('member_id', 'tag', name=op.f('uq_member_tags_member_id_tag')),
    )
    op.create_index('ix_member_tags_program_id_tag', 'member_tags', ['program_id', 'tag'])
    op.create_table(
        'member_features',
        sa.Column('member_id', _ID, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('computed_at', _when(), nullable=False),
        sa.Column('joined_on', sa.Date(), nullable=True),
        sa.Column('last_purchase_on', sa.Date(), nullable=True),
        sa.Column('recency_days', sa.Integer(), nullable=True),
        sa.Column('days_since_last_purchase', sa.Integer(), nullable=True),
        sa.Column('frequency', sa.Integer(), nullable=False),
        sa.Column('monetary', sa.BigInteger(), nullable=False),
        sa.Column('r_score', sa.Integer(), nullable=True),
        sa.Column('f_score', sa.Integer(), nullable=True),
        sa.Column('m_score', sa.Integer(), nullable=True),
        sa.Column('rfm_segment', sa.String(length=40), nullable=True),
        sa.Column('churn_probability', sa.Float(), nullable=True),
        sa.Column('expected_purchases', sa.Float(), nullable=True),
        sa.Column('expected_value', sa.BigInteger(), nullable=True),
        sa.Column('tier', sa.String(length=64), nullable=True),
        sa.Column('age_band', sa.String(length=16), nullable=True),
        sa.Column('region', sa.String(length=100), nullable=True),
        sa.Column('join_channel', sa.String(length=64), nullable=True),
        sa.Column('favourite_category', sa.String(length=200), nullable=True),
        sa.Column('favourite_channel', sa.String(length=64), nullable=True),
        sa.Column('points_balance', sa.BigInteger(), nullable=False),
        sa.Column('expiring_points', sa.BigInteger(), nullable=False),
        sa.Column('referral_count', sa.Integer(), nullable=False),
        sa.Column('tags', _JSON, nullable=False),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'],
                                name=op.f('fk_member_features_member_id_members')),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_member_features_program_id_programs')),
        sa.PrimaryKeyConstraint('member_id', name=op.f('pk_member_features')),
    )
    op.create_index('ix_member_features_program_id', 'member_features', ['program_id'])
    op.create_table(
        'segments',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('condition', sa.Text(), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_by', sa.String(length=200), nullable=False),
        sa.Column('created_at', _when(), nullable=False),
        sa.Column('updated_at', _when(), nullable=False),
        sa.Column('refreshed_at', _when(), nullable=True),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_segments_program_id_programs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_segments')),
        sa.UniqueConstraint('program_id', 'key', name=op.f('uq_segments_program_id_key')),
    )
    op.create_table(
        'segment_members',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('segment_id', _ID, nullable=False),
        sa.Column('member_id', _ID, nullable=False),
        sa.Column('entered_at', _when(), nullable=False),
        sa.Column('left_at', _when(), nullable=True),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'],
                                name=op.f('fk_segment_members_member_id_members')),
        sa.ForeignKeyConstraint(['segment_id'], ['segments.id'],
                                name=op.f('fk_segment_members_segment_id_segments')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_segment_members')),
    )
    op.create_index('ix_segment_members_segment_id_left_at', 'segment_members',
                    ['segment_id', 'left_at'])
    op.create_index('ix_segment_members_member_id', 'segment_members', ['member_id'])
    op.create_table(
        'segment_counts',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('segment_id', _ID, nullable=False),
        sa.Column('counted_at', _when(), nullable=False),
        sa.Column('members', sa.Integer(), nullable=False),
        sa.Column('entered', sa.Integer(), nullable=False),
        sa.Column('left', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['segment_id'], ['segments.id'],
                                name=op.f('fk_segment_counts_segment_id_segments')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_segment_counts')),
    )
    op.create_index('ix_segment_counts_segment_id_counted_at', 'segment_counts',
                    ['segment_id', 'counted_at'])
    op.create_table(
        'campaign_members',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('campaign_id', sa.String(length=64), nullable=False),
        sa.Column('member_id', _ID, nullable=False),
        sa.Column('group', sa.String(length=16), nullable=False),
        sa.Column('bucket', sa.Integer(), nullable=False),
        sa.Column('assigned_at', _when(), nullable=False),
        sa.Column('segment_key', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'],
                                name=op.f('fk_campaign_members_member_id_members')),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_campaign_members_program_id_programs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_members')),
        sa.UniqueConstraint('program_id', 'campaign_id', 'member_id',
                            name=op.f('uq_campaign_members_program_id_campaign_id_member_id')),
    )
    op.create_index('ix_campaign_members_member_id', 'campaign_members', ['member_id'])
    op.create_table(
        'campaign_budgets',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('campaign_id', sa.String(length=64), nullable=False),
        sa.Column('points', sa.BigInteger(), nullable=False),
        sa.Column('money', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_campaign_budgets_program_id_programs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_budgets')),
        sa.UniqueConstraint('program_id', 'campaign_id',
                            name=op.f('uq_campaign_budgets_program_id_campaign_id')),
    )


def downgrade() -> None:
    op.drop_table('campaign_budgets')
    op.drop_index('ix_campaign_members_member_id', table_name='campaign_members')
    op.drop_table('campaign_members')
    op.drop_index('ix_segment_counts_segment_id_counted_at', table_name='segment_counts')
    op.drop_table('segment_counts')
    op.drop_index('ix_segment_members_member_id', table_name='segment_members')
    op.drop_index('ix_segment_members_segment_id_left_at', table_name='segment_members')
    op.drop_table('segment_members')
    op.drop_table('segments')
    op.drop_index('ix_member_features_program_id', table_name='member_features')
    op.drop_table('member_features')
    op.drop_index('ix_member_tags_program_id_tag', table_name='member_tags')
    op.drop_table('member_tags')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_column('discount')
        batch_op.drop_column('brand')
        batch_op.drop_column('subcategory')
        batch_op.drop_column('department')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('coupon_value')
        batch_op.drop_column('discount')
        batch_op.drop_column('store_id')
