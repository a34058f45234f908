"""The job queue for ``patron worker``: procrastinate's schema (PostgreSQL only)

Revision ID: 0022_queue
Revises: 0021_shop_connections
Create Date: 2026-12-08 09:00:00.000000

The schema is the SQL file of the installed procrastinate (pinned in pyproject.toml), so
the tables match the library that uses them. Moving procrastinate to a version whose
schema differs takes a new migration that applies the library's own migration files
(``procrastinate/sql/migrations``) between the two versions. SQLite has no queue (the
server runs the jobs in-process there), so this revision does nothing on it.
"""
from collections.abc import Sequence

from alembic import op

from patron.worker.schema import create_queue_schema, drop_queue_schema

revision: str = '0022_queue'
down_revision: str | Sequence[str] | None = '0021_shop_connections'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_queue_schema(op.get_bind())


def downgrade() -> None:
    drop_queue_schema(op.get_bind())
