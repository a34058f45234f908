"""Staff accounts and their console sessions

Revision ID: 0018_staff
Revises: 0017_insight
Create Date: 2026-12-06 08:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018_staff'
down_revision: str | Sequence[str] | None = '0017_insight'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'staff_accounts',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('password_hash', sa.String(length=200), nullable=False),
        sa.Column('created_at', _when(), nullable=False),
        sa.Column('disabled_at', _when(), nullable=True),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_staff_accounts_program_id_programs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_accounts')),
        sa.UniqueConstraint('program_id', 'email',
                            name=op.f('uq_staff_accounts_program_id_email')),
    )
    op.create_table(
        'staff_sessions',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('account_id', _ID, nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('csrf_token', sa.String(length=64), nullable=False),
        sa.Column('created_at', _when(), nullable=False),
        sa.Column('expires_at', _when(), nullable=False),
        sa.Column('revoked_at', _when(), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['staff_accounts.id'],
                                name=op.f('fk_staff_sessions_account_id_staff_accounts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_sessions')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_staff_sessions_token_hash')),
    )


def downgrade() -> None:
    op.drop_table('staff_sessions')
    op.drop_table('staff_accounts')
