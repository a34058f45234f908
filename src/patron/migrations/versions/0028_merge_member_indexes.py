"""Awards and cashback awards found by member: what a merge looks up and moves

Revision ID: 0028_merge_member_indexes
Revises: 0027_notifications
Create Date: 2026-12-06 20:10:00.000000

A merge asks whether the merged member has awards or cashback awards (and re-points
them when it has): without an index on ``member_id`` both scanned every row of the
program's awards, on every merge, enrolment-time merges included.
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0028_merge_member_indexes'
down_revision: str | Sequence[str] | None = '0027_notifications'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_awards_member_id', 'awards', ['member_id'])
    op.create_index('ix_cashback_awards_member_id', 'cashback_awards', ['member_id'])


def downgrade() -> None:
    op.drop_index('ix_cashback_awards_member_id', table_name='cashback_awards')
    op.drop_index('ix_awards_member_id', table_name='awards')
