"""The alembic environment of the decision log: migrations run on the connection that
tierwise.adapters.log_schema hands over (inside its transaction), in the version table
`tierwise_log_version`, so a CRM database's own alembic history is left alone."""

from __future__ import annotations

from alembic import context

from tierwise.adapters.log_schema import VERSION_TABLE, log_metadata

config = context.config
metadata = log_metadata()
connection = config.attributes.get("connection")
if connection is None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
    )
else:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,
    )
with context.begin_transaction():
    context.run_migrations()
