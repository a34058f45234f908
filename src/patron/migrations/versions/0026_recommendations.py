"""Recommendations: the trained model, each member's top items, segments built from them

Revision ID: 0026_recommendations
Revises: 0025_engagement
Create Date: 2026-12-07 09:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0026_recommendations'
down_revision: str | Sequence[str] | None = '0025_engagement'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'recommendation_models',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('trained_at', _when(), nullable=False),
        sa.Column('history_until', _when(), nullable=False),
        sa.Column('program_version', sa.Integer(), nullable=False),
        sa.Column('algorithm', sa.String(length=32), nullable=False),
        sa.Column('parameters', _JSON, nullable=False),
        sa.Column('members', sa.Integer(), nullable=False),
        sa.Column('items', sa.Integer(), nullable=False),
        sa.Column('interactions', sa.Integer(), nullable=False),
        sa.Column('model', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_recommendation_models_program_id_programs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recommendation_models')),
    )
    op.create_index('ix_recommendation_models_program_id_status', 'recommendation_models',
                    ['program_id', 'status'])
    op.create_table(
        'recommendations',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('model_id', _ID, nullable=False),
        sa.Column('member_id', _ID, nullable=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('item', sa.String(length=200), nullable=False),
        sa.Column('rank', sa.Integer(), nullable=False),
        sa.Column('score', sa.Float(), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recommendations')),
    )
    op.create_index('ix_recommendations_member_id_model_id', 'recommendations',
                    ['member_id', 'model_id'])
    op.create_index('ix_recommendations_model_id', 'recommendations', ['model_id'])
    op.create_index('ix_recommendations_program_id_kind_item', 'recommendations',
                    ['program_id', 'kind', 'item'])
    op.create_table(
        'recommendation_segments',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('segment_key', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('item', sa.String(length=200), nullable=False),
        sa.Column('top', sa.Integer(), nullable=False),
        sa.Column('created_by', sa.String(length=200), nullable=False),
        sa.Column('created_at', _when(), nullable=False),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_recommendation_segments_program_id_programs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recommendation_segments')),
        sa.UniqueConstraint('program_id', 'segment_key',
                            name=op.f('uq_recommendation_segments_program_id_segment_key')),
    )


def downgrade() -> None:
    op.drop_table('recommendation_segments')
    op.drop_index('ix_recommendations_program_id_kind_item', table_name='recommendations')
    op.drop_index('ix_recommendations_model_id', table_name='recommendations')
    op.drop_index('ix_recommendations_member_id_model_id', table_name='recommendations')
    op.drop_table('recommendations')
    op.drop_index('ix_recommendation_models_program_id_status',
                  table_name='recommendation_models')
    op.drop_table('recommendation_models')
