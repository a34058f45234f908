"""Alembic environment: runs against the connection Patron hands it."""

from alembic import context

from patron.migrations.tables import all_tables, include_name

target_metadata = all_tables()
config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `patron db upgrade`")
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      compare_type=True, include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()


run()
