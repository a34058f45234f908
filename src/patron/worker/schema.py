"""The queue's tables in PostgreSQL: procrastinate's own schema, created and dropped.

The SQL is the file procrastinate ships (``procrastinate/sql/schema.sql``), so the tables
always match the installed library. Migration ``0022_queue`` creates them; ``patron demo
--reset`` and the migration's downgrade drop them. SQLite has no queue: both are no-ops.
"""

from __future__ import annotations

from procrastinate.schema import SchemaManager
from sqlalchemy import Connection

TABLES = ("procrastinate_events", "procrastinate_periodic_defers", "procrastinate_jobs",
          "procrastinate_workers")
TYPES = ("procrastinate_job_to_defer_v1", "procrastinate_job_event_type",
         "procrastinate_job_status")

_DROP_FUNCTIONS = r"""
DO $$
DECLARE routine regprocedure;
BEGIN
    FOR routine IN
        SELECT p.oid::regprocedure FROM pg_proc p
        WHERE p.pronamespace = current_schema()::regnamespace
          AND p.proname LIKE 'procrastinate\_%'
    LOOP
        EXECUTE 'DROP FUNCTION IF EXISTS ' || routine || ' CASCADE';
    END LOOP;
END
$$
"""


def is_queue_table(name: str | None) -> bool:
    """One of the queue's tables: Patron's table registry (``all_tables``) leaves them out,
    so autogenerate and the drift check skip them."""
    return bool(name) and name.startswith("procrastinate_")


def create_queue_schema(conn: Connection) -> None:
    """procrastinate's tables, types, functions and triggers, in ``conn``'s transaction."""
    if conn.dialect.name != "postgresql":
        return
    # Many statements (and plpgsql bodies with '%' in them) in one go: sent as one simple
    # query through the driver, with no parameters for anything to interpolate.
    conn.connection.driver_connection.execute(SchemaManager.get_schema())


def drop_queue_schema(conn: Connection) -> None:
    """Everything ``create_queue_schema`` made (the queued jobs with it)."""
    if conn.dialect.name != "postgresql":
        return
    driver = conn.connection.driver_connection
    driver.execute(f"DROP TABLE IF EXISTS {', '.join(TABLES)} CASCADE")
    driver.execute(_DROP_FUNCTIONS)
    driver.execute(f"DROP TYPE IF EXISTS {', '.join(TYPES)} CASCADE")
