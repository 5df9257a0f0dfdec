"""Life-circle coverage: shares per community and kind, uncovered areas, greedy new sites."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from citykit import COMMUNITIES, make_city

from gridgis.errors import ValidationError
from gridgis.maps.coverage import (
    coverage_report,
    demand_points,
    distances_to_nearest,
    life_circle_distance,
    suggest_sites,
)
from gridgis.maps.network import build_road_network


@pytest.fixture(scope="module")
def city():
    return make_city()


def test_life_circles_follow_gb50180():
    assert life_circle_distance("5min") == 300
    assert life_circle_distance("10min") == 500
    assert 800 <= life_circle_distance("15min") <= 1000
    with pytest.raises(ValidationError):
        life_circle_distance("20min")


def test_demand_uses_building_households_and_falls_back_to_compounds(city):
    d = demand_points(city)
    assert d["source"].eq("buildings").all() and d["households"].sum() == 800
    no_buildings = {k: v for k, v in city.items() if k != "buildings"}
    d2 = demand_points(no_buildings)
    assert d2["source"].eq("compounds").all() and d2["households"].sum() == 800


def test_straight_line_coverage_reaches_the_near_community_not_the_far_one(city):
    # stations sit in the west community; 300 m / 1.3 ≈ 230 m reaches only some west buildings
    r = coverage_report(city, "15min")
    assert "straight-line" in r.method and "1.3" in r.method
    t = r.by_community.set_index(["community_code", "kind"])
    west, east = COMMUNITIES
    assert t.loc[(west, "canteen"), "share"] == 1.0
    assert t.loc[(east, "canteen"), "share"] < 1.0
    small = coverage_report(city, "5min").by_community.set_index(["community_code", "kind"])
    assert small.loc[(east, "canteen"), "covered_households"] == 0
    assert 0 < small.loc[(west, "canteen"), "covered_households"] < 400


def test_uncovered_areas_are_the_community_minus_the_service_area(city):
    r = coverage_report(city, "5min", kinds=("canteen",))
    east = r.uncovered.set_index("community_code").loc[COMMUNITIES[1]]
    comm = city["communities"].set_index("code").geometry[COMMUNITIES[1]]
    # the east community is out of reach of a 230 m circle, so all of it is uncovered
    assert (
        shapely.equals_exact(shapely.normalize(east.geometry), shapely.normalize(comm), tolerance=1e-9)
        or abs(east.geometry.area - comm.area) / comm.area < 1e-6
    )
    west = r.uncovered.set_index("community_code").loc[COMMUNITIES[0]]
    assert 0 < west.geometry.area < city["communities"].geometry.iloc[0].area


def test_greedy_sites_cover_the_most_uncovered_households_first(city):
    r = coverage_report(city, "5min", kinds=("canteen",))
    covered = r.demand["covered_canteen"].to_numpy()
    candidates = city["buildings"].geometry
    sites = suggest_sites(r.demand, covered, candidates, "5min", k=3)
    assert list(sites["rank"]) == [1, 2, 3]
    gains = sites["new_households"].to_list()
    assert gains == sorted(gains, reverse=True) and gains[0] > 0
    assert sites["cumulative_households"].iloc[-1] <= (~covered * r.demand["households"]).sum()
    # with everything covered there is nothing to suggest
    none = suggest_sites(r.demand, np.ones(len(covered), bool), candidates, "5min", k=3)
    assert len(none) == 0


def test_network_distance_follows_the_roads_around_a_block():
    # an L-shaped road: from (0,0) east 400 m then north 400 m; the target is 400 m north of the source
    # straight-line 400 m but 800 m along the road
    from gridgis.crs import metric_crs_for

    lon0, lat0 = 121.5, 31.23
    m_lon, m_lat = 1 / 95_000, 1 / 111_000
    road = shapely.LineString(
        [(lon0, lat0), (lon0 + 400 * m_lon, lat0), (lon0 + 400 * m_lon, lat0 + 400 * m_lat), (lon0, lat0 + 400 * m_lat)]
    )
    roads = gpd.GeoDataFrame(geometry=[road], crs="EPSG:4326")
    net = build_road_network(roads)
    pts = gpd.GeoSeries([shapely.Point(lon0, lat0), shapely.Point(lon0, lat0 + 400 * m_lat)], crs="EPSG:4326")
    xy = shapely.get_coordinates(pts.to_crs(net.crs).values)
    assert net.crs == metric_crs_for(roads)
    d_net = distances_to_nearest(xy[1:], xy[:1], 2000, network=net, detour=10.0)[0]
    assert 1150 < d_net < 1250  # three sides of the square
    d_line = distances_to_nearest(xy[1:], xy[:1], 2000, network=None, detour=1.3)[0]
    assert 500 < d_line < 540


def test_osm_roads_node_into_one_connected_network(shared_data):
    from gridgis.maps.network import read_osm_roads

    roads = read_osm_roads(shared_data / "shanghai-lujiazui-osm-tiles" / "roads.geojson")
    assert roads["id"].is_unique
    net = build_road_network(roads)
    import networkx as nx

    giant = max(nx.connected_components(net.graph), key=len)
    assert len(giant) > 0.8 * net.graph.number_of_nodes()
    assert all(d["length"] > 0 for _, _, d in net.graph.edges(data=True))


def test_network_coverage_on_osm_roads_is_at_most_the_straight_line_bound(shared_data, city):
    from gridgis.maps.network import read_osm_roads

    net = build_road_network(read_osm_roads(shared_data / "shanghai-lujiazui-osm-tiles" / "roads.geojson"))
    r_net = coverage_report(city, "10min", network=net, kinds=("canteen",))
    r_free = coverage_report(city, "10min", detour=1.0, kinds=("canteen",))  # the crow flies
    assert "network" in r_net.method
    assert (r_net.by_community["covered_households"] <= r_free.by_community["covered_households"]).all()
    assert r_net.by_community["covered_households"].sum() > 0


@pytest.fixture(scope="module")
def lujiazui_coverage(shared_data):
    """The sample city's mediation rooms, 15-minute circle, walking on the Lujiazui OSM roads (issue 12)."""
    from gridgis.maps.network import read_osm_roads
    from gridgis.sample import generate_city

    city = generate_city(0, "small", tickets=0)
    net = build_road_network(read_osm_roads(shared_data / "shanghai-lujiazui-osm-tiles" / "roads.geojson"))
    return net, coverage_report(city, "15min", network=net, kinds=("mediation_room",))


def test_no_household_counted_as_covered_lies_in_an_area_drawn_as_uncovered(lujiazui_coverage):
    # issue 12: 14,581 of 26,952 covered households lay inside the drawn uncovered areas (drawing stopped
    # 120 m from each station, counts fell back to straight line × 1.3)
    net, r = lujiazui_coverage
    d = r.demand
    xy = shapely.get_coordinates(d.geometry.to_crs(net.crs).values)
    holes = shapely.union_all(r.uncovered.to_crs(net.crs).geometry.values)
    in_hole = shapely.intersects_xy(holes, xy[:, 0], xy[:, 1])
    inside_hole = shapely.contains_xy(holes, xy[:, 0], xy[:, 1])  # strictly inside: not on the shared edge
    counted = d["covered_mediation_room"].to_numpy()
    assert d["households"][counted & inside_hole].sum() == 0
    assert d["households"][~counted & ~in_hole].sum() == 0  # and nothing drawn covered is counted as not
    assert r.by_community["covered_households"].sum() == d["households"][counted].sum() > 0
    area = shapely.union_all(r.service_areas.to_crs(net.crs).geometry.values)
    assert (shapely.intersects_xy(area, xy[:, 0], xy[:, 1]) == counted).all()


def test_coverage_says_when_the_roads_cover_only_part_of_the_area(lujiazui_coverage, city):
    _, r = lujiazui_coverage
    assert 0.2 < r.roads_share < 0.8  # the OSM extract covers part of the sample city
    assert f"{r.roads_share:.0%}" in r.method and "直线" in r.method
    assert coverage_report(city, "15min").roads_share is None
