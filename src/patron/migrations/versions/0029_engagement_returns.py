"""Returns take back engagement: what each purchase gave, and rewards taken back

Revision ID: 0029_engagement_returns
Revises: 0028_merge_member_indexes
Create Date: 2026-12-06 20:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0029_engagement_returns'
down_revision: str | Sequence[str] | None = '0028_merge_member_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table(
        'engagement_contributions',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('member_id', _ID, nullable=False),
        sa.Column('event_id', _ID, nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('item_id', sa.String(length=64), nullable=False),
        sa.Column('period', sa.String(length=64), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('seen', _JSON, nullable=True),
        sa.Column('before', _JSON, nullable=True),
        sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'],
                                name=op.f('fk_engagement_contributions_event_id_events')),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'],
                                name=op.f('fk_engagement_contributions_member_id_members')),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_engagement_contributions_program_id_programs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_engagement_contributions')),
    )
    op.create_index('ix_engagement_contributions_event_id', 'engagement_contributions',
                    ['event_id'])
    op.create_index('ix_engagement_contributions_member_id', 'engagement_contributions',
                    ['member_id', 'item_id'])
    with op.batch_alter_table('engagement_awards') as batch:
        batch.add_column(sa.Column('reversed_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('reversal_event_id', _ID, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('engagement_awards') as batch:
        batch.drop_column('reversal_event_id')
        batch.drop_column('reversed_at')
    op.drop_index('ix_engagement_contributions_member_id',
                  table_name='engagement_contributions')
    op.drop_index('ix_engagement_contributions_event_id', table_name='engagement_contributions')
    op.drop_table('engagement_contributions')
