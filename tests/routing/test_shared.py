"""Shared routing index files (gridgis.routing.shared): one file per generation, mapped read-only by
every worker, the same answers as the index built in memory, replaced when a new generation comes."""

from __future__ import annotations

import mmap

import numpy as np
import pytest
import shapely

from gridgis.routing import RoutingIndex, shared
from gridgis.routing.service import RoutingService
from tests.routing.conftest import GRID_A, GRID_B, two_grid_city
from tests.routing.test_service import moved_city


def _mapped(array: np.ndarray) -> bool:
    """Whether ``array`` is a read-only view of a memory mapping (not a private copy)."""
    base = array
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return not array.flags.writeable and isinstance(base, memoryview) and isinstance(base.obj, mmap.mmap)


def _points(city, n=40_000, seed=7):
    minx, miny, maxx, maxy = city["grids"].total_bounds
    rng = np.random.default_rng(seed)
    lon = rng.uniform(minx - 0.003, maxx + 0.003, n)
    lat = rng.uniform(miny - 0.003, maxy + 0.003, n)
    edges = shapely.get_coordinates(city["micro_grids"].boundary.values)[:2000]  # vertices: shared edges, ties
    return np.concatenate([lon, edges[:, 0]]), np.concatenate([lat, edges[:, 1]])


def test_a_written_index_maps_read_only_and_answers_like_the_one_in_memory(city, index, tmp_path):
    path = shared.write(index, tmp_path / "city.idx")
    mapped = shared.read(path)
    mapped.warm_up()
    for arr in (mapped.micro_loc.cells, mapped.micro_loc.records, mapped.area_loc.records, mapped.grid_nearest.cand):
        assert _mapped(arr)
    lon, lat = _points(city)
    expected = index.route_many(lon, lat)
    got = mapped.route_many(lon, lat)
    assert got.equals(expected)
    assert (got["snapped"].any(), (got["reason"] != "").any()) == (True, True)  # the snapping paths ran too
    for x, y in zip(lon[:300], lat[:300]):
        try:
            want = index.route(x, y)
        except Exception as err:  # noqa: BLE001
            with pytest.raises(type(err)):
                mapped.route(x, y)
        else:
            assert mapped.route(x, y) == want
    name = index.address_resolver.names[0]
    assert mapped.address_resolver.resolve(name).compound_code == index.address_resolver.resolve(name).compound_code


def test_a_truncated_or_foreign_file_is_refused(index, tmp_path):
    path = shared.write(index, tmp_path / "city.idx")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        shared.read(path)
    path.write_bytes(b"not an index at all, just text")
    with pytest.raises(ValueError, match="not a routing index"):
        shared.read(path)


@pytest.mark.parametrize("in_child", [False, True], ids=["in-process", "child-process"])
def test_two_workers_map_one_file_and_a_new_generation_replaces_it(repository, tmp_path, in_child):
    repo = repository
    g1 = repo.write_city(two_grid_city(), author="测试")
    a = RoutingService(repo, shared_dir=str(tmp_path), cache_size=1, build_in_child=in_child)
    b = RoutingService(repo, shared_dir=str(tmp_path), cache_size=1, build_in_child=in_child)
    ia, ib = a.current(), b.current()
    files = a.shared.files()
    assert [g for g, _ in files] == [g1.id]
    assert ia.shared_path == ib.shared_path == files[0][1]
    assert _mapped(ia.micro_loc.records) and _mapped(ib.micro_loc.records)
    point = (121.5012, 31.2008)  # east of the first edge, west of the moved one
    assert a.route(*point).grid_code == b.route(*point).grid_code == GRID_B
    memory = RoutingIndex.build(two_grid_city())
    lon, lat = _points(two_grid_city(), n=5000)
    assert ia.route_many(lon, lat).equals(memory.route_many(lon, lat))

    g2 = repo.write_city(moved_city(), author="测试")
    a.refresh(g2.id)
    assert [g for g, _ in a.shared.files()] == [g2.id]  # the old generation's file is gone (keep=1)
    assert b.route(*point).grid_code == GRID_B  # b still answers from its mapping of the deleted file
    b.refresh(g2.id)
    assert a.route(*point).grid_code == b.route(*point).grid_code == GRID_A
    assert b.current().shared_path == a.current().shared_path
    assert not list(tmp_path.glob(".*.tmp"))  # no half-written file left behind


def test_without_a_shared_directory_the_index_stays_in_memory(repository):
    repository.write_city(two_grid_city(), author="测试")
    index = RoutingService(repository).current()
    assert index.shared_path is None and index.micro_loc.records.flags.writeable


def test_a_run_directory_is_removed_and_stale_ones_of_dead_servers_too(tmp_path):
    stale = tmp_path / "gridgis-routing-999999999-abc"
    stale.mkdir()
    (stale / "routing-x-g000000000001-00.idx").write_bytes(b"old")
    mine = shared.run_directory(tmp_path)
    assert mine.is_dir() and not stale.exists()
    shared.remove_run_directory(mine)
    assert not mine.exists()
