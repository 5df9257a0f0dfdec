"""A throwaway primary and streaming replica: two local PostgreSQL clusters of the test's own.

The primary is :class:`tests.ops.pgcluster.PostgresCluster` (``initdb --auth=trust``, whose
``pg_hba.conf`` already lets 127.0.0.1 connect for replication; ``wal_level=replica`` is the
default). The replica is a ``pg_basebackup -R -X stream`` copy of it on another free port:
``-R`` writes ``standby.signal`` and the ``primary_conninfo`` it streams from. Both run as the
``postgres`` user when the tests run as root, and both are stopped and deleted at the end.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa

from tests.ops.pgcluster import PostgresCluster


@dataclass
class Replicated:
    primary: PostgresCluster
    replica: PostgresCluster
    primary_url: str
    replica_url: str

    def replica_sql(self, statement: str) -> object:
        engine = sa.create_engine(self.replica_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                return conn.execute(sa.text(statement)).scalar()
        finally:
            engine.dispose()

    def pause_replay(self) -> None:
        """Stop applying WAL on the replica (it keeps receiving): it now lags behind on purpose."""
        self.replica_sql("SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + 30
        while self.replica_sql("SELECT pg_get_wal_replay_pause_state()") != "paused":
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not pause its replay")
            time.sleep(0.05)

    def resume_replay(self) -> None:
        self.replica_sql("SELECT pg_wal_replay_resume()")

    def wait_replayed(self, timeout: float = 30.0) -> None:
        """Wait until the replica has replayed everything the primary has written so far."""
        engine = sa.create_engine(self.primary_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                target = conn.execute(sa.text("SELECT pg_current_wal_lsn()::text")).scalar_one()
        finally:
            engine.dispose()
        deadline = time.monotonic() + timeout
        while not self.replica_sql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the replica did not replay up to {target}; see {self.replica.log}")
            time.sleep(0.05)


@contextmanager
def replicated_postgis(database: str = "gridgis", options: str = "") -> Iterator[Replicated]:
    """A primary with ``database`` (PostGIS extension created) and a streaming replica of it;
    ``options`` are more server settings of both (``-c fsync=on`` for benchmarks)."""
    primary = PostgresCluster(options)
    replica = PostgresCluster(options)
    try:
        primary.init().start()
        primary_url = primary.create_database(database)
        # the replica's data directory: a base backup of the primary, configured as its standby
        replica.data.parent.mkdir(parents=True, exist_ok=True)
        replica._run(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            "postgres",
            "-D",
            str(replica.data),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
        )
        replica.start()
        replica.wait_ready()
        yield Replicated(primary, replica, primary_url, replica.url(database))
    finally:
        for cluster in (replica, primary):
            cluster.stop("immediate")
            shutil.rmtree(cluster.root, ignore_errors=True)
