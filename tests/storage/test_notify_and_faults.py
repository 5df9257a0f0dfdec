"""New-generation notifications, unreachable databases and dropped connections."""

from __future__ import annotations

import threading

import psycopg
import pytest
import sqlalchemy as sa

from gridgis.errors import StorageUnavailableError, ValidationError
from gridgis.storage import FeatureChange, Repository
from tests.support.storage import tiny_city

GRID1 = "110105001001001"
WAIT = 30  # seconds: an upper bound for a notification to arrive, not a speed expectation


class Received:
    """Collects generation ids from a listener thread."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.changed = threading.Condition()

    def __call__(self, generation_id: int) -> None:
        with self.changed:
            self.ids.append(generation_id)
            self.changed.notify_all()

    def wait_for(self, generation_id: int) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: generation_id in self.ids, timeout=WAIT)


def _terminate_other_connections(url: str) -> int:
    database = sa.make_url(url).database
    conninfo = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return len(rows)


def test_on_new_generation_callbacks_run_after_each_committed_generation(repository):
    seen = []
    repository.on_new_generation(seen.append)
    g1 = repository.write_city(tiny_city(), author="t")
    with pytest.raises(ValidationError):
        repository.apply_changes([FeatureChange("grids", "replace", GRID1, {"kind": "nonsense"})], author="t")
    g2 = repository.apply_changes([FeatureChange("grids", "replace", GRID1, {"households": 1})], author="t")
    repository.write_city(tiny_city(), author="t", replace=False)  # changes households back: g3
    assert [g.id for g in seen] == [g1.id, g2.id, g2.id + 1]


def test_a_failing_callback_does_not_undo_the_write(repository):
    def broken(_generation):
        raise RuntimeError("listener bug")

    repository.on_new_generation(broken)
    generation = repository.write_city(tiny_city(), author="t")
    assert repository.current_generation() == generation


def test_listen_generations_reports_generations_written_by_another_repository(repository):
    received = Received()
    other = Repository(repository.url)  # stands in for another worker process
    try:
        listener = repository.listen_generations(received, poll_interval=0.1)
        assert listener.ready.wait(WAIT)
        g1 = other.write_city(tiny_city(), author="other worker")
        assert received.wait_for(g1.id)
        g2 = other.apply_changes([FeatureChange("grids", "delete", GRID1)], author="other worker")
        assert received.wait_for(g2.id)
        assert received.ids == [g1.id, g2.id]
        listener.stop()
        assert not listener.running
    finally:
        other.dispose()


@pytest.mark.postgis
def test_postgis_notify_is_sent_in_the_write_transaction(make_repository):
    repo = make_repository("postgis")
    conninfo = sa.make_url(repo.url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("LISTEN gridgis_generation")
        generation = repo.write_city(tiny_city(), author="t")
        payloads = [n.payload for n in conn.notifies(timeout=WAIT, stop_after=1)]
    assert payloads == [str(generation.id)]


@pytest.mark.postgis
def test_listener_reconnects_and_reports_what_it_missed(make_repository):
    repo = make_repository("postgis")
    received = Received()
    listener = repo.listen_generations(received, poll_interval=0.1)
    assert listener.ready.wait(WAIT)
    listener.ready.clear()
    assert _terminate_other_connections(repo.url) >= 1  # the LISTEN connection is dropped
    generation = repo.write_city(tiny_city(), author="t")  # the pool recovers; the NOTIFY may be missed
    assert received.wait_for(generation.id)
    assert listener.running


@pytest.mark.postgis
def test_dropped_connections_fail_cleanly_or_recover_without_restart(make_repository):
    repo = make_repository("postgis")
    repo.write_city(tiny_city(), author="t")
    assert repo.count("grids") == 2
    assert _terminate_other_connections(repo.url) >= 1  # every pooled connection is now dead
    assert repo.ping()  # pool_pre_ping replaces them
    assert repo.count("grids") == 2
    with repo.engine.connect() as conn:  # a connection killed while in use fails as "unavailable" (503)
        _terminate_other_connections(repo.url)
        with pytest.raises(StorageUnavailableError, match="unavailable|lost"), repo._guard("testing"):
            conn.execute(sa.text("SELECT 1"))
    assert repo.count("grids") == 2


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:1/gridgis",  # nothing listens on port 1
        "sqlite:////nonexistent-directory/deeper/gridgis.db",
    ],
)
def test_unreachable_database_is_storage_unavailable(url):
    repo = Repository(url)
    try:
        with pytest.raises(StorageUnavailableError) as caught:
            repo.ping()
        assert "unavailable" in str(caught.value)
        with pytest.raises(StorageUnavailableError):
            repo.read_layer("grids")
    finally:
        repo.dispose()


@pytest.mark.parametrize("url", ["not a url", "nosuchdb+driver://x/y"])
def test_unusable_url_is_storage_unavailable(url):
    with pytest.raises(StorageUnavailableError, match="cannot be used"):
        Repository(url)


def test_missing_schema_says_to_create_it(tmp_path):
    repo = Repository(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(StorageUnavailableError, match="create_schema"):
            repo.read_layer("grids")
    finally:
        repo.dispose()


def test_password_is_not_shown_in_errors():
    repo = Repository("postgresql+psycopg://gridgis:s3cret-pw@127.0.0.1:1/gridgis")
    with pytest.raises(StorageUnavailableError) as caught:
        repo.ping()
    assert "s3cret-pw" not in str(caught.value)
    repo.dispose()


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork()")
def test_a_forked_worker_uses_its_own_connections(repository):
    import multiprocessing

    repository.write_city(tiny_city(), author="t")
    assert repository.count("grids") == 2  # the parent's pool now holds a connection
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_count_in_child, args=(repository, queue))
    child.start()
    child.join(WAIT)
    assert queue.get(timeout=WAIT) == 2
    assert repository.count("grids") == 2  # the parent's connection still works


def _count_in_child(repository, queue) -> None:
    repository.after_fork()
    queue.put(repository.count("grids"))


def test_a_first_pages_count_follows_every_new_generation(make_repository):
    """numberMatched of an unfiltered first page is kept per latest generation: a write of a
    feature more or less is counted at once, and a database emptied and filled again (same
    generation ids) is not answered from what was kept."""
    from gridgis.storage import queries

    repo = make_repository("postgis")
    city = tiny_city()
    repo.write_city(city, author="t")
    rows, matched = repo.read_geojson_page("grids", limit=1)
    assert matched == len(city["grids"]) == repo.count("grids")
    rows, matched = repo.read_geojson_page("grids", limit=1)  # answered from what was kept
    assert matched == len(city["grids"])
    fewer = dict(city, grids=city["grids"].iloc[:1], micro_grids=city["micro_grids"].iloc[:0])
    repo.write_city(fewer, author="t")
    rows, matched = repo.read_geojson_page("grids", limit=5)
    assert matched == repo.count("grids") == len(rows)
    assert any(key[1] == "grids" for key in queries._MATCHED)
