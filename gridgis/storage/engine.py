"""Opening a database: the SQLAlchemy engine for a URL, transaction start per backend, error translation.

* SQLite (``sqlite:///path.db``): WAL journal so readers never wait for a writer, a 30 s busy
  timeout, and write transactions opened with ``BEGIN IMMEDIATE`` so two writers queue on the
  database lock instead of failing half-way. Read-only work uses a plain ``BEGIN``.
* PostgreSQL (``postgresql+psycopg://``): a pooled connection that sat idle for
  :data:`PING_IDLE_S` or more is pinged when it is checked out, and replaced when the server has
  dropped it; connections in steady use are not pinged (SQLAlchemy's ``pool_pre_ping`` cost a
  round trip on every checkout, as much as the read itself for one feature). A dropped connection
  met anyway fails its statement; the repository's reads retry once on a new connection
  (:meth:`~gridgis.storage.Repository.read_geojson_page`), and the first disconnect invalidates
  the whole pool so no other stale connection is handed out. A short connect timeout makes an
  unreachable server fail fast.

Connection failures become :class:`~gridgis.errors.StorageUnavailableError` (HTTP 503). Its
message never holds the URL (a client may see it); the URL, without its password, goes to the log.
"""

from __future__ import annotations

import json
import logging
import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc

from gridgis.errors import StorageUnavailableError

log = logging.getLogger(__name__)

#: execution option that opens a read-only (deferred) transaction on SQLite
READONLY = "gridgis_readonly"
#: seconds a pooled PostgreSQL connection may sit idle before it is pinged on checkout
PING_IDLE_S = 2.0
_CHECKED_IN = "gridgis_checked_in"


def json_dumps(value: Any) -> str:
    """JSON as stored: UTF-8 text (Chinese kept as is), keys sorted."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def make_engine(url: str, *, connect_timeout: int = 5) -> sa.Engine:
    """An engine for ``url`` with the per-backend settings above.

    Raises
    ------
    StorageUnavailableError
        When the URL cannot be parsed or names a driver that is not installed.
    """
    try:
        parsed = sa.make_url(url)
        # hide_parameters: error messages (and so logs) never carry the values of a statement,
        # which may be personal data (a reporter's phone) or a token hash
        kwargs: dict[str, Any] = {"json_serializer": json_dumps, "hide_parameters": True}
        if parsed.get_backend_name() == "postgresql":
            kwargs["connect_args"] = {"connect_timeout": connect_timeout}
        elif parsed.get_backend_name() == "sqlite":
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
            kwargs["pool_pre_ping"] = True  # a local file: the ping costs no round trip
        engine = sa.create_engine(parsed, **kwargs)
    except (exc.ArgumentError, exc.NoSuchModuleError, ValueError) as err:
        raise StorageUnavailableError(
            f"database URL {_safe_url(url)!r} cannot be used ({err.__class__.__name__}); expected "
            "sqlite:///path.db or postgresql+psycopg://user@host:port/db"
        ) from err
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    else:
        _ping_idle_connections(engine)
    return engine


def _ping_idle_connections(engine: sa.Engine) -> None:
    """Ping a connection on checkout only when it sat in the pool :data:`PING_IDLE_S` or more."""

    @event.listens_for(engine.pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_CHECKED_IN)
        if since is not None and _server_spoke(dbapi_connection):
            # an idle connection has nothing to read unless the server sent its goodbye (a terminated
            # backend, a restart) or closed the socket: replace it without a round trip
            log.info("a pooled database connection was closed by the server; opening a new one")
            dropped = exc.DisconnectionError()
            dropped.invalidate_pool = True
            raise dropped
        if since is None or time.monotonic() - since < PING_IDLE_S:
            return  # new, or in steady use
        autocommit = getattr(dbapi_connection, "autocommit", None)
        try:
            if autocommit is False:  # a ping must not leave a transaction open
                dbapi_connection.autocommit = True
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            if autocommit is False:
                dbapi_connection.autocommit = False
        except Exception as err:  # any failure: the pool replaces the connection
            log.info("a pooled database connection was dropped (%s); opening a new one", err.__class__.__name__)
            dropped = exc.DisconnectionError()
            dropped.invalidate_pool = True  # the server went away: every older connection is stale too
            raise dropped from err


def _server_spoke(dbapi_connection: Any) -> bool:
    """True when an idle psycopg connection's socket is readable (the server sent something or closed
    it) or unusable; a poll with no wait, no round trip."""
    pgconn = getattr(dbapi_connection, "pgconn", None)
    if pgconn is None:
        return False
    try:
        readable, _, _ = select.select([pgconn.socket], [], [], 0)
    except Exception:  # noqa: BLE001 - a closed connection's socket cannot be polled: it is gone
        return True
    return bool(readable)


def _configure_sqlite(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun below, explicitly
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: durable against a killed process
            cursor.execute("PRAGMA cache_size=-65536")  # 64 MB page cache: a city's layers stay in memory
            cursor.execute("PRAGMA mmap_size=268435456")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        readonly = connection.get_execution_options().get(READONLY, False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def _safe_url(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparseable URL is shown without its credentials part
        return url.split("@")[-1]


def is_database_error(err: BaseException) -> bool:
    """Whether ``err`` (or an error it was raised from) is a database fault.

    True for :class:`StorageUnavailableError`, any SQLAlchemy ``DBAPIError``, pool timeouts,
    disconnections and raw driver errors (psycopg, sqlite3): whatever the database could not do.
    The API answers all of them 503 without detail (``gridgis.api.errors``).
    """
    import sqlite3

    classes: tuple[type[BaseException], ...] = (
        StorageUnavailableError,
        exc.DBAPIError,
        exc.DisconnectionError,
        exc.TimeoutError,
        sqlite3.Error,
    )
    try:
        import psycopg

        classes += (psycopg.Error,)
    except ImportError:  # pragma: no cover - SQLite-only installs
        pass
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, classes):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _missing_schema(err: exc.DBAPIError) -> bool:
    orig = getattr(err, "orig", None)
    return orig.__class__.__name__ == "UndefinedTable" or "no such table" in str(orig)


@contextmanager
def storage_errors(url: str, doing: str) -> Iterator[None]:
    """Translate connection-level database errors raised inside the block.

    ``OperationalError``/``InterfaceError`` (server down, connection dropped, database locked for
    too long, file not openable) and a missing schema become :class:`StorageUnavailableError`;
    other errors pass through unchanged.
    """
    try:
        yield
    except exc.DBAPIError as err:
        if _missing_schema(err):
            log.error("the database at %s has no gridgis schema (while %s)", _safe_url(url), doing)
            raise StorageUnavailableError(
                f"the database has no gridgis schema (while {doing}); "
                "run `Repository.create_schema()` (alembic upgrade head) first"
            ) from err
        if isinstance(err, exc.OperationalError | exc.InterfaceError) or err.connection_invalidated:
            kind = err.orig.__class__.__name__ if err.orig is not None else err.__class__.__name__
            log.warning("the database at %s is unavailable while %s (%s)", _safe_url(url), doing, kind)
            raise StorageUnavailableError(
                f"the database is unavailable while {doing} ({kind}); "
                "check that it is running and GRIDGIS_DATABASE_URL, then retry"
            ) from err
        raise
