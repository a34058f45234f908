"""The member portal's one-time sign-in links and sessions

Revision ID: 0019_portal
Revises: 0018_staff
Create Date: 2026-12-06 09:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0019_portal'
down_revision: str | Sequence[str] | None = '0018_staff'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _owned(name: str, *columns: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('member_id', _ID, nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        *columns,
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f(f'fk_{name}_program_id_programs')),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'],
                                name=op.f(f'fk_{name}_member_id_members')),
        sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{name}')),
        sa.UniqueConstraint('token_hash', name=op.f(f'uq_{name}_token_hash')),
    )


def upgrade() -> None:
    _owned('portal_links',
           sa.Column('created_at', _when(), nullable=False),
           sa.Column('expires_at', _when(), nullable=False),
           sa.Column('used_at', _when(), nullable=True))
    _owned('portal_sessions',
           sa.Column('csrf_token', sa.String(length=64), nullable=False),
           sa.Column('created_at', _when(), nullable=False),
           sa.Column('expires_at', _when(), nullable=False),
           sa.Column('revoked_at', _when(), nullable=True))


def downgrade() -> None:
    op.drop_table('portal_sessions')
    op.drop_table('portal_links')
