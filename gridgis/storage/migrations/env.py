"""Alembic environment of gridgis.

:meth:`gridgis.storage.Repository.create_schema` runs ``upgrade head`` programmatically and
passes its own connection in ``config.attributes["connection"]``. From a shell::

    GRIDGIS_DATABASE_URL=postgresql+psycopg://... alembic -c gridgis/storage/migrations/alembic.ini upgrade head

A new migration is a file ``versions/NNNN_<what>.py`` with ``revision = "NNNN"`` and
``down_revision`` the previous one; it may create tables with ``op.create_table`` or use the
types of :mod:`gridgis.storage.schema`.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context

from gridgis.storage.schema import metadata

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
elif context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url") or os.environ.get("GRIDGIS_DATABASE_URL"),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    from gridgis.storage.engine import make_engine

    engine = make_engine(
        config.get_main_option("sqlalchemy.url") or os.environ.get("GRIDGIS_DATABASE_URL", "sqlite:///gridgis.db")
    )
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()
