"""Match keys on members: the family name and postcode as matching compares them,
indexed with the birthdate and postcode so enrolment finds look-alikes at once

Revision ID: 0016_match_rules
Revises: 0013_one_id
Create Date: 2026-12-06 04:50:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from patron.matching.rules import blocking_keys

revision: str = '0016_match_rules'
down_revision: str | Sequence[str] | None = '0013_one_id'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('family_key', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('postcode_key', sa.String(length=20), nullable=True))
    with op.batch_alter_table('merge_candidates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason', sa.String(length=500), nullable=True))
    _fill_keys()
    op.create_index('ix_members_match_birthdate', 'members',
                    ['program_id', 'birthdate', 'family_key'])
    op.create_index('ix_members_match_postcode', 'members',
                    ['program_id', 'postcode_key', 'family_key'])


def _fill_keys() -> None:
    """Keys for members enrolled before this revision (new ones get theirs on enrolment)."""
    conn = op.get_bind()
    members = sa.table('members', sa.column('id'), sa.column('family_name'),
                       sa.column('postcode'), sa.column('family_key'), sa.column('postcode_key'))
    rows = conn.execute(sa.select(members.c.id, members.c.family_name, members.c.postcode)
                        .where(sa.or_(members.c.family_name.is_not(None),
                                      members.c.postcode.is_not(None)))).all()
    update = (sa.update(members).where(members.c.id == sa.bindparam('member_id'))
              .values(family_key=sa.bindparam('family'), postcode_key=sa.bindparam('postcode')))
    for start in range(0, len(rows), _BATCH):
        conn.execute(update, [dict(zip(('member_id', 'family', 'postcode'),
                                       (row.id, *blocking_keys(row.family_name, row.postcode))))
                              for row in rows[start:start + _BATCH]])


def downgrade() -> None:
    op.drop_index('ix_members_match_postcode', table_name='members')
    op.drop_index('ix_members_match_birthdate', table_name='members')
    with op.batch_alter_table('merge_candidates', schema=None) as batch_op:
        batch_op.drop_column('reason')
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('postcode_key')
        batch_op.drop_column('family_key')
