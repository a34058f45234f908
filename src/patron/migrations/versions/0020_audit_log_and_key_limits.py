"""The audit log of writes; API keys' expiry and own rate limit

Revision ID: 0020_audit_log_and_key_limits
Revises: 0019_portal
Create Date: 2026-12-06 11:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0020_audit_log_and_key_limits'
down_revision: str | Sequence[str] | None = '0019_portal'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'audit_log',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('program_id', _ID, nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=254), nullable=False),
        sa.Column('api_key_id', _ID, nullable=True),
        sa.Column('staff_account_id', _ID, nullable=True),
        sa.Column('operation', sa.String(length=300), nullable=False),
        sa.Column('member_id', _ID, nullable=True),
        sa.Column('request_id', sa.String(length=128), nullable=True),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('status', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_audit_log_program_id_programs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
    )
    op.create_index('ix_audit_log_program_id_at', 'audit_log', ['program_id', 'at'])
    op.create_index('ix_audit_log_program_id_member_id', 'audit_log',
                    ['program_id', 'member_id'])
    with op.batch_alter_table('api_keys') as batch:
        batch.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('rate_limit', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_keys') as batch:
        batch.drop_column('rate_limit')
        batch.drop_column('expires_at')
    op.drop_index('ix_audit_log_program_id_member_id', table_name='audit_log')
    op.drop_index('ix_audit_log_program_id_at', table_name='audit_log')
    op.drop_table('audit_log')
