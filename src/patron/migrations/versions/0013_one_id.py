"""One ID: profile fields worth matching on, member status with its history, merges and
merge candidates, and trained matching models

Revision ID: 0013_one_id
Revises: 0012_returns
Create Date: 2026-12-06 04:50:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import patron.db.types


revision: str = '0013_one_id'
down_revision: str | Sequence[str] | None = '0012_returns'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), 'postgresql')
_WHEN = patron.db.types.UTCDateTime(timezone=True)

_PROFILE = (('given_name', 100), ('family_name', 100), ('gender', 16), ('address_line1', 200),
            ('address_line2', 200), ('city', 100), ('postcode', 20), ('state', 100),
            ('country', 2))


def upgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_reason', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('status_changed_by', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('status_changed_at', _WHEN, nullable=True))
        batch_op.add_column(sa.Column('merged_into', _ID, nullable=True))
        for name, length in _PROFILE:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=True))
        batch_op.create_foreign_key(op.f('fk_members_merged_into_members'), 'members',
                                    ['merged_into'], ['id'])
        batch_op.create_index('ix_members_merged_into', ['merged_into'], unique=False)

    op.create_table('member_status_changes',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('program_id', _ID, nullable=False),
    sa.Column('member_id', _ID, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('previous_status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('created_at', _WHEN, nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_member_status_changes_member_id_members')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_member_status_changes_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_status_changes'))
    )
    op.create_index('ix_member_status_changes_member_id', 'member_status_changes', ['member_id'])

    op.create_table('merges',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('program_id', _ID, nullable=False),
    sa.Column('survivor_id', _ID, nullable=False),
    sa.Column('merged_id', _ID, nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('moved', _JSON, nullable=False),
    sa.Column('created_at', _WHEN, nullable=False),
    sa.Column('undone_at', _WHEN, nullable=True),
    sa.Column('undone_by', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['merged_id'], ['members.id'], name=op.f('fk_merges_merged_id_members')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_merges_program_id_programs')),
    sa.ForeignKeyConstraint(['survivor_id'], ['members.id'], name=op.f('fk_merges_survivor_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merges'))
    )
    op.create_index('ix_merges_survivor_id', 'merges', ['survivor_id'])
    op.create_index('ix_merges_merged_id', 'merges', ['merged_id'])

    op.create_table('merge_candidates',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('program_id', _ID, nullable=False),
    sa.Column('member_a', _ID, nullable=False),
    sa.Column('member_b', _ID, nullable=False),
    sa.Column('probability', sa.Float(), nullable=False),
    sa.Column('rule', sa.String(length=100), nullable=True),
    sa.Column('evidence', _JSON, nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_at', _WHEN, nullable=True),
    sa.Column('merge_id', _ID, nullable=True),
    sa.Column('created_at', _WHEN, nullable=False),
    sa.ForeignKeyConstraint(['member_a'], ['members.id'], name=op.f('fk_merge_candidates_member_a_members')),
    sa.ForeignKeyConstraint(['member_b'], ['members.id'], name=op.f('fk_merge_candidates_member_b_members')),
    sa.ForeignKeyConstraint(['merge_id'], ['merges.id'], name=op.f('fk_merge_candidates_merge_id_merges')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_merge_candidates_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merge_candidates')),
    sa.UniqueConstraint('program_id', 'member_a', 'member_b', name=op.f('uq_merge_candidates_program_id_member_a_member_b'))
    )
    op.create_index('ix_merge_candidates_program_id_state', 'merge_candidates',
                    ['program_id', 'state'])

    op.create_table('match_models',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('program_id', _ID, nullable=False),
    sa.Column('settings', sa.Text(), nullable=False),
    sa.Column('pairs_scored', sa.BigInteger(), nullable=False),
    sa.Column('created_at', _WHEN, nullable=False),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_match_models_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_match_models'))
    )
    op.create_index('ix_match_models_program_id', 'match_models', ['program_id'])


def downgrade() -> None:
    op.drop_index('ix_match_models_program_id', table_name='match_models')
    op.drop_table('match_models')
    op.drop_index('ix_merge_candidates_program_id_state', table_name='merge_candidates')
    op.drop_table('merge_candidates')
    op.drop_index('ix_merges_merged_id', table_name='merges')
    op.drop_index('ix_merges_survivor_id', table_name='merges')
    op.drop_table('merges')
    op.drop_index('ix_member_status_changes_member_id', table_name='member_status_changes')
    op.drop_table('member_status_changes')
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_index('ix_members_merged_into')
        batch_op.drop_constraint(op.f('fk_members_merged_into_members'), type_='foreignkey')
        for name, _ in reversed(_PROFILE):
            batch_op.drop_column(name)
        batch_op.drop_column('merged_into')
        batch_op.drop_column('status_changed_at')
        batch_op.drop_column('status_changed_by')
        batch_op.drop_column('status_reason')
