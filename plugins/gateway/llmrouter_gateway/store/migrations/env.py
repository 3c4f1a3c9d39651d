"""Alembic's entry point for the store's migrations.

Only online migrations on a connection that :func:`llmrouter_gateway.store.migrate` opened and
locked: the store applies its own migrations at start, so there is no alembic.ini and no
offline SQL generation to keep working.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from llmrouter_gateway.store.schema import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "the store's migrations run through llmrouter_gateway.store.migrate(url), "
        "not the alembic command line"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    # SQLite cannot ALTER most things in place; batch mode copies the table instead
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
