"""Member features: the refresh's rows are not checked one by one against members

``member_features`` is derived: every row is written by the features refresh from
a SELECT over the program's eligible members in the same statement (the next
refresh drops a merged member's row), and deleted when the member is erased. Its
two foreign keys made PostgreSQL look up and share-lock the member's (and the
program's) row for each of a million rows per refresh: half the cost of writing
them.

Revision ID: 0030_feature_rows_unchecked
Revises: 0029_engagement_returns
Create Date: 2026-12-06 20:20:00.000000
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0030_feature_rows_unchecked'
down_revision: str | Sequence[str] | None = '0029_engagement_returns'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('member_features') as batch:
        batch.drop_constraint('fk_member_features_member_id_members', type_='foreignkey')
        batch.drop_constraint('fk_member_features_program_id_programs', type_='foreignkey')


def downgrade() -> None:
    with op.batch_alter_table('member_features') as batch:
        batch.create_foreign_key('fk_member_features_member_id_members', 'members',
                                 ['member_id'], ['id'])
        batch.create_foreign_key('fk_member_features_program_id_programs', 'programs',
                                 ['program_id'], ['id'])
