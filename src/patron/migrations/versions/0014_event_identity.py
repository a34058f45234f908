"""The identity an event named its member by, so an undone merge knows whose it is

Revision ID: 0014_event_identity
Revises: 0016_match_rules
Create Date: 2026-12-06 06:15:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014_event_identity'
down_revision: str | Sequence[str] | None = '0016_match_rules'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('identity_id', sa.BigInteger().with_variant(
            sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_foreign_key(op.f('fk_events_identity_id_identities'),
                                    'identities',
                                    ['identity_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_events_identity_id_identities'), type_='foreignkey')
        batch_op.drop_column('identity_id')
