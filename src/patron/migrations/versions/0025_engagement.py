"""Badges, challenges and streaks: members' progress, the rewards given, challenge budgets

Revision ID: 0025_engagement
Revises: 0024_webhooks
Create Date: 2026-12-07 09:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0025_engagement'
down_revision: str | Sequence[str] | None = '0024_webhooks'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'member_engagement',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('member_id', _ID, nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('item_id', sa.String(length=64), nullable=False),
        sa.Column('period', sa.String(length=64), nullable=False),
        sa.Column('value', sa.BigInteger(), nullable=False),
        sa.Column('seen', _JSON, nullable=True),
        sa.Column('last_period', sa.Integer(), nullable=True),
        sa.Column('forgiven', sa.Integer(), nullable=False),
        sa.Column('run', sa.Integer(), nullable=False),
        sa.Column('best', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'],
                                name=op.f('fk_member_engagement_member_id_members')),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_member_engagement_program_id_programs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_member_engagement')),
        sa.UniqueConstraint('program_id', 'member_id', 'kind', 'item_id', 'period',
                            name=op.f('uq_member_engagement_program_id_member_id_kind_item_id_'
                                      'period')),
    )
    op.create_index('ix_member_engagement_member_id', 'member_engagement', ['member_id'])
    op.create_table(
        'engagement_awards',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('member_id', _ID, nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('item_id', sa.String(length=64), nullable=False),
        sa.Column('award_key', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('explanation', sa.String(length=500), nullable=False),
        sa.Column('points', sa.BigInteger(), nullable=False),
        sa.Column('coupon_type', sa.String(length=64), nullable=True),
        sa.Column('coupon_code', sa.String(length=64), nullable=True),
        sa.Column('entry_id', _ID, nullable=True),
        sa.Column('event_id', _ID, nullable=True),
        sa.Column('program_version', sa.Integer(), nullable=False),
        sa.Column('awarded_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['entry_id'], ['ledger_entries.id'],
                                name=op.f('fk_engagement_awards_entry_id_ledger_entries')),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'],
                                name=op.f('fk_engagement_awards_event_id_events')),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'],
                                name=op.f('fk_engagement_awards_member_id_members')),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_engagement_awards_program_id_programs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_engagement_awards')),
        sa.UniqueConstraint('program_id', 'member_id', 'kind', 'item_id', 'award_key',
                            name=op.f('uq_engagement_awards_program_id_member_id_kind_item_id_'
                                      'award_key')),
    )
    op.create_index('ix_engagement_awards_member_id', 'engagement_awards', ['member_id'])
    op.create_table(
        'engagement_budgets',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('item_id', sa.String(length=64), nullable=False),
        sa.Column('points', sa.BigInteger(), nullable=False),
        sa.Column('money', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_engagement_budgets_program_id_programs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_engagement_budgets')),
        sa.UniqueConstraint('program_id', 'kind', 'item_id',
                            name=op.f('uq_engagement_budgets_program_id_kind_item_id')),
    )


def downgrade() -> None:
    op.drop_table('engagement_budgets')
    op.drop_index('ix_engagement_awards_member_id', table_name='engagement_awards')
    op.drop_table('engagement_awards')
    op.drop_index('ix_member_engagement_member_id', table_name='member_engagement')
    op.drop_table('member_engagement')
