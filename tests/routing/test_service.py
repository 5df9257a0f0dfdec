"""RoutingService: routing against the generation valid at a time, rebuilds and atomic swaps, on both backends."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import shapely

from gridgis.errors import NotFoundError
from gridgis.routing.service import RoutingService
from tests.routing.conftest import GRID_A, GRID_B, X0, X2, Y0, Y1, YM, two_grid_city

NEW_EDGE = 121.5015  # generation 2 moves the shared edge of A and B east


def moved_city():
    city = two_grid_city()
    city["grids"].geometry = [shapely.box(X0, Y0, NEW_EDGE, Y1), shapely.box(NEW_EDGE, Y0, X2, Y1)]
    city["micro_grids"].geometry = [
        shapely.box(X0, YM, NEW_EDGE, Y1),
        shapely.box(X0, Y0, NEW_EDGE, YM),
        shapely.box(NEW_EDGE, YM, X2, Y1),
        shapely.box(NEW_EDGE, Y0, X2, YM),
    ]
    return city


@pytest.fixture
def two_generations(repository):
    g1 = repository.write_city(two_grid_city(), author="测试", message="first boundaries")
    time.sleep(0.05)
    g2 = repository.write_city(moved_city(), author="测试", message="edge moved east")
    return repository, g1, g2


def test_routes_against_the_boundaries_valid_at_the_report_time(two_generations):
    repo, g1, g2 = two_generations
    service = RoutingService(repo)
    point = (121.5012, 31.2008)  # east of the old edge, west of the new one
    assert service.route(*point).grid_code == GRID_A
    assert service.route(*point).generation == g2.id
    old = service.route(*point, at=g1.created_at + (g2.created_at - g1.created_at) / 2)
    assert old.grid_code == GRID_B and old.generation == g1.id
    df = service.route_many([point[0]], [point[1]], at=g1.created_at + timedelta(microseconds=1))
    assert df["grid_code"].tolist() == [GRID_B]
    assert sorted(service.cached_generations) == [g1.id, g2.id]


def test_new_generation_is_built_in_the_background_then_swapped_in(repository):
    g1 = repository.write_city(two_grid_city(), author="测试")
    service = RoutingService(repository, check_interval_s=0.0)
    before = service.current()
    assert before.generation == g1.id and service.route(121.5012, 31.2008).grid_code == GRID_B
    g2 = repository.write_city(moved_city(), author="测试")
    during = service.current()  # starts the build; requests meanwhile get a complete index
    assert during.generation in (g1.id, g2.id)
    service.wait(60)
    after = service.current()
    assert after is not before and after.generation == g2.id
    assert service.route(121.5012, 31.2008).grid_code == GRID_A
    assert before.route(121.5012, 31.2008).grid_code == GRID_B  # the old index is intact for requests in flight
    service.wait(60)
    assert service.current() is after and service.builds == 2  # no rebuild without a new generation


def test_refresh_builds_synchronously(repository):
    repository.write_city(two_grid_city(), author="测试")
    service = RoutingService(repository, check_interval_s=3600)
    first = service.current()
    g2 = repository.write_city(moved_city(), author="测试")
    assert service.current() is first  # not checked again within the interval
    assert service.refresh().generation == g2.id and service.current().generation == g2.id


def test_listener_rebuilds_without_a_request(repository):
    repository.write_city(two_grid_city(), author="测试")
    service = RoutingService(repository, check_interval_s=3600)
    service.current()
    service.listen(poll_interval=0.1)
    try:
        g2 = repository.write_city(moved_city(), author="测试")
        deadline = time.monotonic() + 20
        while service._current.generation != g2.id and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service._current.generation == g2.id
    finally:
        service.stop()


def test_least_recently_used_generations_are_evicted_but_never_the_current(repository):
    gens = [repository.write_city(two_grid_city() if i % 2 == 0 else moved_city(), author="测试") for i in range(3)]
    service = RoutingService(repository, cache_size=2)
    service.current()
    service.index(gens[0].id)
    service.index(gens[1].id)
    assert sorted(service.cached_generations) == [gens[1].id, gens[2].id]


def test_empty_store_says_what_to_do(repository):
    with pytest.raises(NotFoundError, match="import"):
        RoutingService(repository).route(121.5, 31.2)


def test_unknown_generation_or_time_before_the_first_is_not_found(two_generations):
    repo, g1, _ = two_generations
    service = RoutingService(repo)
    with pytest.raises(NotFoundError):
        service.index(999)
    with pytest.raises(NotFoundError):
        service.route(121.5012, 31.2008, at=g1.created_at - timedelta(days=1))
    m = service.resolve_address("梅园三街坊12号楼")  # against the current generation's compounds
    assert m.building_code == GRID_A[:12] + "Q001B012"


def test_a_pool_reads_only_its_county_from_the_store_and_routes_as_read_then_filter(repository):
    """A routing pool (``counties``) has the store filter by county in its query: every layer but the
    grids (its county locator needs them all) arrives filtered, and the index is what filtering the
    whole layers in Python gave."""
    from gridgis.errors import MisdirectedError
    from gridgis.routing.county import filter_counties
    from gridgis.routing.service import ROUTING_LAYERS, load_city
    from gridgis.scale.province import county_codes, replicate

    west, east = county_codes(2)
    generation = repository.write_city(replicate(two_grid_city(), [west, east]), author="测试", message="两个区县")
    held = frozenset([east])
    filtered = load_city(repository, generation.id, held)
    for layer in ROUTING_LAYERS:
        whole = repository.read_layer(layer, generation=generation.id)
        want = filter_counties(whole, held).reset_index(drop=True)
        assert filtered[layer]["code"].tolist() == want["code"].tolist() and len(want) * 2 == len(whole), layer
        assert filtered[layer].geometry.geom_equals_exact(want.geometry, 0).all(), layer

    reads: list[tuple[str, object, int]] = []
    read_layer = repository.read_layer

    def spy(layer, **kwargs):
        frame = read_layer(layer, **kwargs)
        reads.append((layer, kwargs.get("code_prefixes"), len(frame)))
        return frame

    repository.read_layer = spy
    service = RoutingService(repository, counties=held)
    width = (X2 - X0) * 1.02  # replicate puts the second county's copy this far east
    assert service.route(121.5003 + width, 31.2008).grid_code == east + GRID_A[6:]
    with pytest.raises(MisdirectedError):
        service.route(121.5003, 31.2008)  # the west county's point: another pool's
    assert {layer: prefixes for layer, prefixes, _ in reads} == {
        layer: (None if layer == "grids" else held) for layer in ROUTING_LAYERS
    }
