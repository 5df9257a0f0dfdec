"""A primary and a streaming replica of its own (initdb + pg_basebackup -R): reads go to the
replica, writes to the primary, and nobody reads a boundary older than one they wrote."""

from __future__ import annotations

import time

import httpx
import pytest

from gridgis.sample.tiny import tiny_city
from gridgis.storage import Repository
from gridgis.storage.consistency import COOKIE, HEADER, read_floor
from gridgis.storage.model import FeatureChange

pytestmark = [pytest.mark.postgis, pytest.mark.slow]

G1 = "110105001001001"


@pytest.fixture(scope="module")
def replicated():
    from tests.ops.pgcluster import bin_dir
    from tests.support.replication import replicated_postgis

    if bin_dir() is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_basebackup)")
    with replicated_postgis() as pair:
        seed = Repository(pair.primary_url)
        seed.create_schema()
        seed.write_city(tiny_city(), author="seed", message="tiny example city")
        seed.dispose()
        pair.wait_replayed()
        yield pair


@pytest.fixture()
def repo(replicated):
    repository = Repository(replicated.primary_url, read_url=replicated.replica_url)
    yield repository
    replicated.resume_replay()
    replicated.wait_replayed()
    repository.dispose()


def rename(repo: Repository, name: str, author: str = "planner") -> int:
    current = repo.get_feature("grids", G1)
    change = FeatureChange(
        op="replace",
        layer="grids",
        code=G1,
        properties={"name": name},
        geometry=current["geometry"],
        expected_version=current["version"],
    )
    return repo.apply_changes([change], author=author, message=f"rename to {name}").id


def test_reads_are_served_by_the_replica_and_writes_by_the_primary(replicated, repo):
    frame = repo.read_layer("grids")
    assert len(frame) == 4 and repo.replica_reads >= 1 and repo.replica_fallbacks == 0
    assert replicated.replica_sql("SELECT pg_is_in_recovery()") is True
    generation = rename(repo, "副本读")  # a write on a replica would fail: it went to the primary
    replicated.wait_replayed()
    assert repo.current_generation().id == generation
    assert repo.get_feature("grids", G1)["name"] == "副本读" and repo.replica_fallbacks == 0


def test_a_planner_never_reads_a_boundary_older_than_the_one_they_wrote(replicated, repo):
    replicated.pause_replay()
    with read_floor() as floor:
        written = rename(repo, "刚写的")
        assert floor.written == written
        # the replica has not replayed it; this unit of work still reads it (from the primary)
        assert repo.get_feature("grids", G1)["name"] == "刚写的"
        assert repo.current_generation().id == written
    assert repo.replica_fallbacks >= 2
    # this repository's own later reads keep the floor of what it wrote (a CLI command, a worker)
    assert repo.current_generation().id == written
    # another process (no floor) reads the lagging replica: the fallback above was needed
    other = Repository(replicated.primary_url, read_url=replicated.replica_url)
    try:
        assert other.current_generation().id < written
        status = other.replica_status()
        assert status["generations_behind"] >= 1 and status["in_recovery"] is True
        # an explicit generation is a floor too
        assert other.read_layer("grids", generation=written, codes=[G1])["name"].iloc[0] == "刚写的"
        with read_floor(written):
            before = other.replica_fallbacks
            other.read_layer("grids")
            assert other.replica_fallbacks == before + 1
    finally:
        other.dispose()
    replicated.resume_replay()
    replicated.wait_replayed()
    with read_floor(written):
        before = repo.replica_reads, repo.replica_fallbacks
        assert repo.get_feature("grids", G1)["name"] == "刚写的"
        assert (repo.replica_reads, repo.replica_fallbacks) == (before[0] + 1, before[1])


def test_db_status_shows_how_far_the_replica_has_replayed(replicated, monkeypatch):
    from typer.testing import CliRunner

    from gridgis.cli import app

    replicated.wait_replayed()
    monkeypatch.setenv("GRIDGIS_DATABASE_URL", replicated.primary_url)
    monkeypatch.setenv("GRIDGIS_DATABASE_READ_URL", replicated.replica_url)
    done = CliRunner().invoke(app, ["db", "status"])
    assert done.exit_code == 0, done.output
    assert "read replica: generation" in done.output and "0 behind" in done.output


def test_over_http_the_write_answer_carries_the_generation_and_reads_honour_it(replicated, repo):
    """Two workers, as `gridgis serve --workers 2` or two nodes: the write lands on one, the
    planner's next read on the other, which has written nothing itself."""
    from gridgis.settings import get_settings
    from tests.support.editing import live_api
    from tests.support.tickets import admin_headers

    headers = admin_headers(repo)
    settings = get_settings(database_url=replicated.primary_url, database_read_url=replicated.replica_url)
    reader = Repository(replicated.primary_url, read_url=replicated.replica_url)
    replicated.wait_replayed()
    try:
        with (
            live_api(repo, settings) as writer_base,
            live_api(reader, settings) as reader_base,
            httpx.Client(timeout=30) as client,
        ):
            feature = client.get(f"{writer_base}/collections/grids/items/{G1}").json()
            replicated.pause_replay()
            feature["properties"]["name"] = "网页编辑"
            written = client.put(
                f"{writer_base}/collections/grids/items/{G1}",
                json=feature,
                headers={**headers, "content-type": "application/geo+json"},
            )
            assert written.status_code == 200, written.text
            generation = int(written.headers[HEADER])
            assert client.cookies.get(COOKIE) == str(generation)  # the browser keeps it for its next reads
            # the same client (its cookie) on the other worker: the new name, though the replica lags
            assert client.get(f"{reader_base}/collections/grids/items/{G1}").json()["properties"]["name"] == "网页编辑"
            with httpx.Client(timeout=30) as other:
                # a client without the cookie that copies the header
                fresh = other.get(f"{reader_base}/collections/grids/items/{G1}", headers={HEADER: str(generation)})
                assert fresh.json()["properties"]["name"] == "网页编辑"
                # and a reader who wrote nothing sees the replica's (older) state
                stale = other.get(f"{reader_base}/collections/grids/items/{G1}").json()["properties"]["name"]
                assert stale != "网页编辑"
    finally:
        reader.dispose()


def test_a_routing_index_on_the_replica_swaps_in_a_generation_once_replayed(replicated, repo):
    from gridgis.routing.service import RoutingService

    pool = Repository(replicated.primary_url, read_url=replicated.replica_url)  # a routing pool's own
    service = RoutingService(pool)
    service.refresh()
    replicated.pause_replay()
    written = rename(repo, "路由刷新")
    listener = service.listen(poll_interval=0.05)  # a replica: polling (NOTIFY is not replicated)
    try:
        assert listener.mode == "poll"
        listener.ready.wait(30)
        assert service.current().generation < written  # not replayed, so not reported
        replicated.resume_replay()
        deadline = time.monotonic() + 60
        while service.current().generation != written and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service.current().generation == written
        assert service.route(116.401, 39.901).grid_code.startswith("110105001001")
    finally:
        service.stop()
        pool.dispose()


def test_reads_fall_back_to_the_primary_while_the_replica_is_down(replicated):
    repository = Repository(replicated.primary_url, read_url=replicated.replica_url)
    try:
        replicated.wait_replayed()
        assert len(repository.read_layer("grids")) == 4 and repository.replica_fallbacks == 0
        replicated.replica.stop()
        assert len(repository.read_layer("grids")) == 4  # served by the primary
        assert repository.replica_fallbacks >= 1
        replicated.replica.start()
        replicated.replica.wait_ready()
        assert len(repository.read_layer("grids")) == 4
    finally:
        repository.dispose()
