"""The repository: every read and write of the spatial model goes through :class:`Repository`.

Boundaries are versioned by *generations* (as mapit does): every accepted write creates a
new generation (id, created_at, author, message); a feature version row has
``generation_low`` (first generation it is in) and ``generation_high`` (last one, NULL while
current). Nothing is overwritten in place; any generation or date can be read back.

Frames in and out are layer frames (see :mod:`gridgis.layers`): EPSG:4326 lon/lat, the
layer's columns plus ``geometry``; reads add ``version`` (an integer per feature that grows
with each change of that feature: the basis of ETags and optimistic locking).

One code path serves both backends: SQLite (``sqlite:///path.db``, geometry as WKB, exact
spatial tests with shapely) and PostGIS (``postgresql+psycopg://…``, geometry(4326) with a GiST
index). Writers are serialised (``BEGIN IMMEDIATE`` on SQLite, a transaction-level advisory lock
plus ``SELECT … FOR UPDATE`` on PostGIS), so generation ids grow in commit order and no update
is lost.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.orm import Session

from gridgis.errors import (
    ConflictError,
    NotFoundError,
    Problem,
    SchemaOutdatedError,
    StorageUnavailableError,
    ValidationError,
)
from gridgis.layers import LAYERS, check_frame, get_spec
from gridgis.storage import consistency, queries
from gridgis.storage.engine import READONLY, _safe_url, make_engine, storage_errors
from gridgis.storage.model import BBox, FeatureChange, Generation
from gridgis.storage.queries import NOTIFY_CHANNEL
from gridgis.storage.rows import frame_to_rows, rows_to_frame
from gridgis.storage.schema import generations

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")


@functools.cache
def schema_head() -> str:
    """The newest Alembic revision of this gridgis's migrations (what ``create_schema`` upgrades to)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None, "gridgis's migrations have one head"
    return head


#: key of the PostgreSQL advisory lock that serialises boundary writes
WRITE_LOCK = 0x67726964  # "grid"
SCHEMA_LOCK = 0x67726965
#: after a failed connection to the read replica, reads go to the primary for this long before it is tried again
REPLICA_RETRY_S = 5.0


class Repository:
    """The store of every layer, over SQLAlchemy 2 (see the module docstring).

    Parameters
    ----------
    url
        ``sqlite:///path.db`` (embedded, the default of the CLI) or
        ``postgresql+psycopg://user@host:port/db`` (PostGIS).
    read_url
        A PostgreSQL streaming replica of ``url`` (``GRIDGIS_DATABASE_READ_URL``): reads run there
        unless it has not yet replayed the generation the caller must see, writes always run on
        ``url``. The rule is :mod:`gridgis.storage.consistency`.

    Examples
    --------
    >>> import tempfile, os
    >>> repo = Repository("sqlite:///" + os.path.join(tempfile.mkdtemp(), "g.db"))
    >>> repo.create_schema()
    >>> repo.counts()["grids"]
    0
    >>> repo.dispose()
    """

    def __init__(self, url: str, read_url: str | None = None) -> None:
        self.url = url
        self.engine: sa.Engine = make_engine(url)
        self._read_engine = self.engine.execution_options(**{READONLY: True})
        #: reads of a single statement on PostGIS: no BEGIN/COMMIT round trips (one statement is one snapshot)
        self._statement_engine = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT") if self.is_postgis else self._read_engine
        )
        self.read_url = read_url if read_url and read_url != url else None
        self._replica: sa.Engine | None = None
        if self.read_url is not None:
            replica = make_engine(self.read_url)
            if replica.dialect.name != "postgresql" or not self.is_postgis:
                replica.dispose()
                raise ValueError("GRIDGIS_DATABASE_READ_URL must name a PostgreSQL replica of a PostgreSQL primary")
            self._replica = replica
        #: reads served by the replica / sent to the primary because the replica was behind or away
        self.replica_reads = 0
        self.replica_fallbacks = 0
        self._replica_away_until = 0.0
        #: the newest generation this repository committed (a floor for its own later reads) and the
        #: newest the replica was seen to have replayed (reads at or below it need no check)
        self._written_here = 0
        self._replica_seen = 0
        self._callbacks: list[Callable[[Generation], None]] = []
        self._listeners: list[Any] = []

    # ----------------------------------------------------------------- plumbing
    @property
    def is_postgis(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def __repr__(self) -> str:
        return f"Repository({self.engine.url.render_as_string(hide_password=True)!r})"

    def _guard(self, doing: str) -> Any:
        return storage_errors(self.url, doing)

    @property
    def has_replica(self) -> bool:
        """Whether reads go to a read replica (``read_url``)."""
        return self._replica is not None

    @property
    def read_engine(self) -> sa.Engine:
        """The engine reads without a generation floor use: the replica's, or the primary's."""
        return self._replica if self._replica is not None else self._read_engine

    @contextmanager
    def _reading(self, doing: str, at_least: int | None = None, statement: bool = False) -> Iterator[sa.Connection]:
        """One read transaction: on the replica when it has replayed the floor, else on the primary
        (:mod:`gridgis.storage.consistency`). ``statement``: the block runs one statement (its own
        snapshot), so on PostGIS it runs without BEGIN/COMMIT."""
        conn = None
        if self._replica is not None:
            conn = self._replica_connection(max(consistency.required_generation(at_least), self._written_here))
        if conn is None:
            engine = self._statement_engine if statement else self._read_engine
            with self._guard(doing), engine.connect() as conn, conn.begin():
                yield conn
            return
        if statement:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        with self._guard(doing), conn, conn.begin():
            yield conn

    def _read_statement(self, doing: str, work: Callable[[sa.Connection], Any], at_least: int | None = None) -> Any:
        """``work(conn)`` (one statement) in :meth:`_reading`, run again once on a new connection when
        the pooled one had been dropped by the server (connections in steady use are not pinged:
        :mod:`gridgis.storage.engine`); a database that is down still fails (503)."""
        try:
            with self._reading(doing, at_least, statement=True) as conn:
                return work(conn)
        except StorageUnavailableError as err:
            cause = err.__cause__
            if not (isinstance(cause, exc.DBAPIError) and cause.connection_invalidated):
                raise
            log.info("a pooled database connection was dropped while %s; retrying on a new one", doing)
        with self._reading(doing, at_least, statement=True) as conn:
            return work(conn)

    def _replica_connection(self, floor: int) -> sa.Connection | None:
        """A replica connection that has replayed generation ``floor``, or ``None`` (read the primary)."""
        assert self._replica is not None
        if time.monotonic() < self._replica_away_until:  # failed a moment ago: do not wait on it again
            self.replica_fallbacks += 1
            return None
        try:
            conn = self._replica.connect()
        except exc.DBAPIError as err:
            self._replica_away_until = time.monotonic() + REPLICA_RETRY_S
            self.replica_fallbacks += 1
            log.warning(
                "the read replica %s is unavailable (%s); reading the primary",
                _safe_url(str(self.read_url)),
                err.__class__.__name__,
            )
            return None
        try:
            if floor > self._replica_seen:
                # a transaction of its own: replay only moves forward, so the read after it sees at least this
                replayed = int(conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM generations")).scalar_one())
                conn.commit()
                self._replica_seen = max(self._replica_seen, replayed)
                if replayed < floor:
                    conn.close()
                    self.replica_fallbacks += 1
                    return None
        except exc.DBAPIError as err:
            conn.close()
            self._replica_away_until = time.monotonic() + REPLICA_RETRY_S
            self.replica_fallbacks += 1
            log.warning("the read replica failed (%s); reading the primary", err.__class__.__name__)
            return None
        self.replica_reads += 1
        return conn

    @contextmanager
    def _writing(self, doing: str) -> Iterator[sa.Connection]:
        """One write transaction, serialised against every other boundary writer."""
        with self._guard(doing), self.engine.begin() as conn:
            if self.is_postgis:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITE_LOCK})
            yield conn

    @contextmanager
    def session(self, readonly: bool = False) -> Iterator[Session]:
        """A SQLAlchemy :class:`~sqlalchemy.orm.Session` inside one transaction.

        Commits when the block ends, rolls back on any error. Connection failures become
        :class:`~gridgis.errors.StorageUnavailableError`. On SQLite a write session takes the
        write lock at once (``BEGIN IMMEDIATE``); pass ``readonly=True`` for reads.
        """
        with (
            self._guard("running a session"),
            Session(self._read_engine if readonly else self.engine) as s,
            s.begin(),
        ):
            yield s

    def create_schema(self) -> None:
        """Create or upgrade the schema: ``alembic upgrade head`` on this repository's engine."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self._guard("creating the schema"), self.engine.begin() as conn:
            if self.is_postgis:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def schema_revision(self) -> str | None:
        """The Alembic revision of the database (``None`` before :meth:`create_schema`)."""
        from alembic.runtime.migration import MigrationContext

        with self._guard("reading the schema revision"), self._read_engine.connect() as conn, conn.begin():
            return MigrationContext.configure(conn).get_current_revision()

    def check_schema(self) -> str:
        """The store's Alembic revision when it is the newest this gridgis knows (:func:`schema_head`);
        :class:`SchemaOutdatedError`, naming both revisions and the command that migrates, otherwise
        (a store made by an older gridgis answers some reads and fails others with 503 until then)."""
        current, head = self.schema_revision(), schema_head()
        if current != head:
            raise SchemaOutdatedError(
                f"the store's schema is at {current or '(none)'} and this gridgis needs {head}: "
                "run `gridgis db upgrade`"
            )
        return head

    def ping(self) -> bool:
        """Check that the (primary) database answers; :class:`StorageUnavailableError` otherwise."""
        for attempt in (1, 2):  # a connection the server dropped since its last use fails once, then the pool renews
            try:
                with self._guard("checking the database"), self._read_engine.connect() as conn, conn.begin():
                    conn.execute(sa.text("SELECT 1"))
                return True
            except StorageUnavailableError:
                if attempt == 2:
                    raise
        return True

    def replica_status(self) -> dict[str, Any] | None:
        """Where the read replica stands (``None`` without one): ``primary_generation``,
        ``replica_generation`` (replayed), ``generations_behind``, ``in_recovery`` (a true
        standby) and ``seconds_since_replay`` (since its last replayed transaction: grows while
        the primary is idle too). :class:`StorageUnavailableError` when either cannot be reached."""
        if self._replica is None:
            return None
        latest = sa.text("SELECT coalesce(max(id), 0) FROM generations")
        with self._guard("reading the primary's generation"), self._read_engine.connect() as conn:
            primary = int(conn.execute(latest).scalar_one())
        with storage_errors(str(self.read_url), "reading the replica's state"), self._replica.connect() as conn:
            replayed = int(conn.execute(latest).scalar_one())
            recovery, since = conn.execute(
                sa.text("SELECT pg_is_in_recovery(), extract(epoch FROM now() - pg_last_xact_replay_timestamp())")
            ).one()
        return {
            "primary_generation": primary,
            "replica_generation": replayed,
            "generations_behind": max(0, primary - replayed),
            "in_recovery": bool(recovery),
            "seconds_since_replay": None if since is None else round(float(since), 3),
        }

    def after_fork(self) -> None:
        """Call in a child process that inherited this repository (e.g. a forked server worker):
        the child then opens its own connections instead of sharing the parent's sockets."""
        self.engine.dispose(close=False)
        if self._replica is not None:
            self._replica.dispose(close=False)
        self._listeners.clear()

    def dispose(self) -> None:
        """Stop listeners started here and close every pooled connection."""
        for listener in self._listeners:
            listener.stop()
        self._listeners.clear()
        self.engine.dispose()
        if self._replica is not None:
            self._replica.dispose()

    # ----------------------------------------------------------------- generations
    def on_new_generation(self, callback: Callable[[Generation], None]) -> Callable[[Generation], None]:
        """Call ``callback(generation)`` after each generation this repository commits (in process).

        Usable as a decorator. Other processes learn of new generations with
        :meth:`listen_generations`.
        """
        self._callbacks.append(callback)
        return callback

    def _emit(self, generation: Generation) -> None:
        consistency.note_written(generation.id)
        self._written_here = max(self._written_here, generation.id)
        for callback in list(self._callbacks):
            try:
                callback(generation)
            except Exception:  # a listener's bug must not undo an accepted write
                log.exception("on_new_generation callback %r failed for generation %s", callback, generation.id)

    def listen_generations(
        self,
        callback: Callable[[int], None],
        poll_interval: float = 1.0,
        mode: str | None = None,
        report_current: bool = False,
    ) -> Any:
        """Call ``callback(generation_id)`` in a background thread for every new generation.

        PostGIS: ``LISTEN gridgis_generation`` on a dedicated psycopg connection (reconnects and
        reports the latest generation after a lost connection). SQLite, or ``mode="poll"`` (a
        read replica, where NOTIFY does not arrive): polls every ``poll_interval`` seconds.
        ``report_current`` also reports the latest generation once the listener is ready.
        Returns the listener; call ``.stop()`` (or :meth:`dispose`).
        """
        from gridgis.storage.notify import start_listener

        listener = start_listener(self, callback, poll_interval, mode, report_current)
        self._listeners.append(listener)
        return listener

    def generations(self) -> list[Generation]:
        """Every generation, oldest first."""
        with self._reading("listing generations") as conn:
            rows = conn.execute(sa.select(generations).order_by(generations.c.id)).mappings().all()
        return [queries.generation_from_row(r) for r in rows]

    def current_generation(self) -> Generation | None:
        """The latest generation, or ``None`` in an empty store."""
        with self._reading("reading the current generation") as conn:
            return queries.latest_generation(conn)

    def generation(self, generation_id: int) -> Generation:
        """Generation ``generation_id``; :class:`NotFoundError` when there is none."""
        with self._reading("reading a generation", generation_id) as conn:
            return queries.get_generation(conn, generation_id)

    def generation_at(self, at: datetime) -> Generation:
        """The generation current at time ``at`` (naive times are UTC)."""
        with self._reading("finding a generation by date") as conn:
            return queries.generation_at(conn, at)

    # ----------------------------------------------------------------- reads
    def read_layer(
        self,
        layer: str,
        generation: int | None = None,
        at: datetime | None = None,
        bbox: BBox | None = None,
        codes: Iterable[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        filters: Mapping[str, Any] | None = None,
        code_prefixes: Iterable[str] | None = None,
    ) -> gpd.GeoDataFrame:
        """Read ``layer`` as a layer frame (plus ``version``), ordered by code.

        Parameters
        ----------
        generation, at
            Read as of a generation id, or as of a date (not both); default: the current state.
        bbox
            ``(min_lon, min_lat, max_lon, max_lat)`` in EPSG:4326: features that intersect it.
        codes
            Only these codes.
        limit, offset
            A page of the result (after every filter).
        filters
            ``{field: value}`` or ``{field: [values]}`` equality filters on ``name``,
            ``parent_code`` or any scalar field of the layer.
        code_prefixes
            Only codes under one of these (counties ``{"310115", "310215"}``, a street's 9 digits …),
            by the rule of :func:`gridgis.codes.prefix_groups`, in SQL: a routing pool reads its
            counties' features only.
        """
        spec = get_spec(layer)
        with self._reading(f"reading {layer}", generation) as conn:
            gen = queries.resolve_generation(conn, generation, at)
            rows = queries.select_rows(
                conn,
                spec,
                gen,
                bbox=bbox,
                codes=codes,
                filters=filters,
                limit=limit,
                offset=offset,
                postgis=self.is_postgis,
                code_prefixes=code_prefixes,
            )
        return rows_to_frame(spec, rows)

    def read_city(self, generation: int | None = None, at: datetime | None = None) -> dict[str, gpd.GeoDataFrame]:
        """Every layer (parents first) as layer frames, all from one consistent snapshot.

        The counterpart of :meth:`write_city` and of :func:`gridgis.io.read_city`; empty layers
        are included as empty frames.
        """
        with self._reading("reading the city", generation) as conn:
            if self.is_postgis:  # one snapshot for every layer, even while writers commit
                conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
            gen = queries.resolve_generation(conn, generation, at)
            rows = {layer: queries.select_rows(conn, get_spec(layer), gen, postgis=self.is_postgis) for layer in LAYERS}
        return {layer: rows_to_frame(get_spec(layer), found) for layer, found in rows.items()}

    def count(
        self,
        layer: str,
        generation: int | None = None,
        at: datetime | None = None,
        bbox: BBox | None = None,
        codes: Iterable[str] | None = None,
        filters: Mapping[str, Any] | None = None,
        code_prefixes: Iterable[str] | None = None,
    ) -> int:
        """How many features :meth:`read_layer` would return without ``limit``/``offset``."""
        spec = get_spec(layer)
        with self._reading(f"counting {layer}", generation) as conn:
            gen = queries.resolve_generation(conn, generation, at)
            return queries.count_rows(
                conn,
                spec,
                gen,
                bbox=bbox,
                codes=codes,
                filters=filters,
                postgis=self.is_postgis,
                code_prefixes=code_prefixes,
            )

    def read_geojson_page(
        self,
        layer: str,
        generation: int | None = None,
        at: datetime | None = None,
        bbox: BBox | None = None,
        codes: Iterable[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        filters: Mapping[str, Any] | None = None,
        latlon: bool = False,
        count: bool = True,
    ) -> tuple[list[dict[str, Any]], int] | None:
        """The fast read of the feature API on PostGIS: the rows :meth:`read_layer` would return, each
        with its geometry as GeoJSON text (PostGIS writes it, no shapely), plus :meth:`count`'s number,
        in one transaction and one round trip (see :func:`queries.select_geojson_page`). The current
        state at offset 0 (first pages, bbox pages, one item) is one statement sent on its own, without
        BEGIN/COMMIT round trips, and retried once when the pooled connection had been dropped.

        ``None`` on SQLite (use :meth:`read_layer` and :meth:`count` there): the caller keeps one path
        for the content and this one for the speed.
        """
        if not self.is_postgis:
            return None
        spec = get_spec(layer)

        def work(conn: sa.Connection) -> tuple[list[dict[str, Any]], int] | None:
            gen = queries.resolve_generation(conn, generation, at)
            return queries.select_geojson_page(
                conn,
                spec,
                gen,
                bbox=bbox,
                codes=codes,
                filters=filters,
                limit=limit,
                offset=offset,
                latlon=latlon,
                count=count,
            )

        if generation is None and at is None and (offset == 0 or not count):
            return self._read_statement(f"reading {layer}", work)  # the current state in one statement
        with self._reading(f"reading {layer}") as conn:
            return work(conn)

    def get_feature(self, layer: str, code: str, generation: int | None = None) -> dict[str, Any]:
        """One feature as a dict: ``layer``, ``code``, ``name``, the fields, ``geometry`` (shapely),
        ``version``, ``parent_code``, ``generation_low`` and ``generation_high``."""
        spec = get_spec(layer)
        with self._reading(f"reading {layer} {code}", generation) as conn:
            gen = queries.resolve_generation(conn, generation, None)
            rows = queries.select_rows(conn, spec, gen, codes=[code], postgis=self.is_postgis)
        if not rows:
            when = "" if generation is None else f" in generation {generation}"
            raise NotFoundError(
                f"{spec.label_zh} {layer} {code} does not exist{when}; check the code "
                f"(list the layer with read_layer({layer!r}))"
            )
        return queries.feature_dict(spec, rows[0])

    def counts(self, generation: int | None = None) -> dict[str, int]:
        """The number of features per layer (every layer, zero included)."""
        with self._reading("counting features", generation) as conn:
            gen = queries.resolve_generation(conn, generation, None)
            found = queries.count_by_layer(conn, gen)
        return {layer: found.get(layer, 0) for layer in LAYERS}

    # ----------------------------------------------------------------- writes
    def write_city(
        self, frames: Mapping[str, gpd.GeoDataFrame], author: str, message: str = "", replace: bool = True
    ) -> Generation:
        """Write whole layers as one new generation, in one transaction.

        Every frame is validated first (:func:`gridgis.layers.check_frame`); any problem in any
        layer raises one :class:`ValidationError` listing them all, and nothing is stored.
        Unchanged features keep their version; changed ones get a new version; with
        ``replace=True`` the features of a written layer that are absent from its frame are
        retired. Layers not in ``frames`` are left alone. When nothing changes, no generation is
        created and the current one is returned. A ``"tickets"`` entry is ignored (tickets are
        stored by :mod:`gridgis.tickets`).
        """
        _check_author(author)
        targets: dict[str, list[dict[str, Any]]] = {}
        problems: list[Problem] = []
        for layer, frame in frames.items():
            if layer == "tickets":
                continue
            spec = get_spec(layer)
            try:
                checked = check_frame(spec, frame)
            except ValidationError as err:
                problems.extend(err.problems or [Problem(err.message, layer=layer)])
                continue
            targets[layer] = frame_to_rows(spec, checked)
        if problems:
            raise ValidationError(f"{len(problems)} problem(s) found; nothing was stored", problems)
        with self._writing("writing the city") as conn:
            generation = queries.sync_layers(
                conn, targets, author, message, retire_missing=replace, postgis=self.is_postgis
            )
            if generation is None:
                generation = queries.latest_generation(conn) or queries.new_generation(
                    conn, author, message, self.is_postgis
                )
                created = False
            else:
                created = True
        if created:
            self._emit(generation)
        return generation

    def apply_changes(
        self,
        changes: Iterable[FeatureChange],
        author: str,
        message: str = "",
        check: Callable[[LockedState], None] | None = None,
    ) -> Generation:
        """Apply create/replace/delete changes as one new generation, in one transaction.

        ``check``, when given, is called with a :class:`LockedState` inside the serialised
        write transaction, before anything is written: it sees exactly the state the changes
        land on (no other boundary writer can commit meanwhile), so validation that depends on
        neighbours (no overlap, no gap) cannot be overtaken by a concurrent edit. Whatever it
        raises (e.g. :class:`ValidationError`) aborts the write and stores nothing.

        The stored rows are locked, then: a stale ``expected_version`` raises
        :class:`~gridgis.errors.PreconditionFailedError`, creating an existing code
        :class:`~gridgis.errors.ConflictError`, changing a missing one :class:`NotFoundError`,
        an invalid result :class:`ValidationError` (all problems listed). Any error stores
        nothing. Changes that leave a feature as it was do not give it a new version; when no
        change is left, no generation is created and the current one is returned.
        """
        _check_author(author)
        changes = list(changes)
        queries.check_changes(changes)
        try:
            with self._writing("applying changes") as conn:
                if check is not None:
                    check(LockedState(conn, self.is_postgis))
                generation, created = queries.apply_changes(conn, changes, author, message, self.is_postgis)
        except exc.IntegrityError as err:  # a concurrent writer outside the lock created the same code
            raise ConflictError("a feature in this batch was created concurrently; reload and retry") from err
        if created:
            self._emit(generation)
        return generation

    # ----------------------------------------------------------------- history
    def feature_history(self, layer: str, code: str) -> list[dict[str, Any]]:
        """Every version of one feature, oldest first.

        Each entry: ``version``, ``generation`` (where it began), ``created_at``, ``author``,
        ``message``, ``name``, ``parent_code``, ``properties``, ``geometry`` and ``ended_in``
        (the generation that replaced or deleted it, ``None`` while current).
        """
        spec = get_spec(layer)
        from gridgis.storage import history

        with self._reading(f"reading the history of {layer} {code}") as conn:
            entries = history.feature_history(conn, layer, code)
        if not entries:
            raise NotFoundError(f"{spec.label_zh} {layer} {code} has never existed; check the code")
        return entries

    def diff(self, gen_a: int, gen_b: int, layer: str | None = None) -> gpd.GeoDataFrame:
        """What changed from generation ``gen_a`` to ``gen_b`` (EPSG:4326).

        One row per feature that differs: ``layer``, ``code``, ``name``, ``op`` (``added``,
        ``removed``, ``changed``), ``version_a``, ``version_b``, ``properties_a``,
        ``properties_b``, ``geometry_a`` and ``geometry`` (the geometry in ``gen_b``, or in
        ``gen_a`` for a removed feature).
        """
        from gridgis.storage import history

        if layer is not None:
            get_spec(layer)
        with self._reading("computing a diff", max(gen_a, gen_b)) as conn:
            queries.get_generation(conn, gen_a)
            queries.get_generation(conn, gen_b)
            return history.diff(conn, gen_a, gen_b, layer)

    def revert_to(self, generation: int, author: str, message: str = "") -> Generation:
        """A new generation whose features equal those of ``generation`` (nothing is deleted)."""
        from gridgis.storage import history

        _check_author(author)
        with self._writing(f"reverting to generation {generation}") as conn:
            queries.get_generation(conn, generation)
            targets = history.state_rows(conn, generation)
            result = queries.sync_layers(
                conn,
                targets,
                author,
                message or f"revert to generation {generation}",
                retire_missing=True,
                postgis=self.is_postgis,
            )
            current = result or queries.latest_generation(conn)
        if result is not None:
            self._emit(result)
        assert current is not None
        return current


class LockedState:
    """The current state read through a write transaction's own connection (for ``check`` hooks).

    Offers the read methods validation needs (:meth:`read_layer`, :meth:`get_feature`) with the
    meaning of :class:`Repository`'s, always at the current state; valid only inside the hook.
    """

    def __init__(self, conn: sa.Connection, postgis: bool) -> None:
        self._conn = conn
        self.is_postgis = postgis

    def read_layer(
        self,
        layer: str,
        bbox: BBox | None = None,
        codes: Iterable[str] | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> gpd.GeoDataFrame:
        """The current features of ``layer`` (plus ``version``), filtered as :meth:`Repository.read_layer`."""
        spec = get_spec(layer)
        rows = queries.select_rows(
            self._conn, spec, None, bbox=bbox, codes=codes, filters=filters, postgis=self.is_postgis
        )
        return rows_to_frame(spec, rows)

    def get_feature(self, layer: str, code: str) -> dict[str, Any]:
        """One current feature as :meth:`Repository.get_feature`; :class:`NotFoundError` when absent."""
        spec = get_spec(layer)
        rows = queries.select_rows(self._conn, spec, None, codes=[code], postgis=self.is_postgis)
        if not rows:
            raise NotFoundError(f"{spec.label_zh} {layer} {code} does not exist; check the code")
        return queries.feature_dict(spec, rows[0])


def _check_author(author: str) -> None:
    if not isinstance(author, str) or not author.strip():
        raise ValidationError("every write needs an author (who made the change); pass author='…'")


__all__ = ["NOTIFY_CHANNEL", "FeatureChange", "Generation", "LockedState", "Repository"]
