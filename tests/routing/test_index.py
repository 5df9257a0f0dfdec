"""RoutingIndex: levels, the tie rule, snapping, the outside-area error, input CRSs and bad input."""

from __future__ import annotations

import re

import numpy as np
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from gridgis import chinacoords
from gridgis.errors import CRSError, OutOfAreaError, ValidationError
from gridgis.routing import RoutingIndex
from tests.routing.conftest import GRID_A, GRID_B, X1, X2, YM, two_grid_city


# ----------------------------------------------------------------- an independent oracle
def expected_micro(city, lon, lat):
    """Brute force with shapely: covering micro-grids, the owner grid of the covering compound, lowest code."""
    pt = shapely.Point(lon, lat)
    mg = city["micro_grids"].sort_values("code")
    cover = mg[mg.geometry.covers(pt)]
    if len(cover) <= 1:
        return None if cover.empty else cover["code"].iloc[0]
    comps = city["compounds"].sort_values("code")
    comp = comps[comps.geometry.covers(pt)]
    if len(comp):
        metric = city["grids"].estimate_utm_crs()
        cgeom = comp.to_crs(metric).geometry.iloc[0]
        grids_m = city["grids"].to_crs(metric)
        areas = grids_m.geometry.intersection(cgeom).area
        best = areas.max()
        owner = min(grids_m.loc[areas >= best - 1e-6, "code"])
        preferred = cover[cover["grid_code"] == owner]
        if len(preferred):
            return preferred["code"].iloc[0]
    return cover["code"].iloc[0]


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_routing_matches_brute_force_with_the_tie_rule(city, index, seed):
    rng = np.random.default_rng(seed)
    verts = shapely.get_coordinates(city["micro_grids"].geometry.values)
    comp_verts = shapely.get_coordinates(city["compounds"].geometry.values)
    b = city["grids"].total_bounds
    pts = [(rng.uniform(b[0], b[2]), rng.uniform(b[1], b[3])) for _ in range(6)]
    pts += [tuple(verts[i]) for i in rng.integers(0, len(verts), 6)]
    pts += [tuple(comp_verts[i]) for i in rng.integers(0, len(comp_verts), 3)]
    df = index.route_many([p[0] for p in pts], [p[1] for p in pts])
    for (lon, lat), got in zip(pts, df["micro_grid_code"]):
        want = expected_micro(city, lon, lat)
        if want is None:  # only grids without micro-grids (or gaps) are left: the grid answers
            continue
        assert got == want
        assert index.route(lon, lat).micro_grid_code == want


def test_result_carries_every_level_names_and_workers(two_grid_index):
    r = two_grid_index.route(121.5003, 31.2008)
    assert (r.micro_grid_code, r.grid_code, r.community_code, r.street_code) == (
        GRID_A + "01",
        GRID_A,
        GRID_A[:12],
        GRID_A[:9] + "000",
    )
    assert (r.micro_grid_name, r.grid_name, r.community_name, r.street_name) == (
        "甲北",
        "甲网格",
        "梅园社区",
        "潍坊新村街道",
    )
    assert r.grid_workers == [{"name": "张三", "role": "full_time"}]
    assert r.compound_code is None and r.building_code is None
    assert not r.snapped and r.distance_m == 0 and r.generation == 7
    inside = two_grid_index.route(121.5010, 31.20035).to_dict()
    assert inside["compound"] == {"code": GRID_A[:12] + "Q001", "name": "梅园三街坊"}
    assert inside["building"]["code"] == GRID_A[:12] + "Q001B012"


def test_shared_edge_goes_to_the_grid_owning_the_compound_first(two_grid_index):
    # on the meridian shared by A and B, inside the compound whose larger part lies in B
    r = two_grid_index.route(X1, 31.2004)
    assert r.grid_code == GRID_B and r.micro_grid_code == GRID_B + "02"
    # the same edge outside the compound: the lowest code (A)
    r = two_grid_index.route(X1, 31.2008)
    assert r.grid_code == GRID_A and r.micro_grid_code == GRID_A + "01"


def test_compound_ownership_follows_the_larger_area():
    index = RoutingIndex.build(two_grid_city(compound_box=(121.5002, 31.2002, 121.5012, 31.2006)))
    assert index.route(X1, 31.2004).grid_code == GRID_A  # now most of the compound lies in A


def test_corner_of_four_micro_grids_inside_the_compound_goes_to_the_owner_lowest_code(two_grid_index):
    r = two_grid_index.route(X1, YM)
    assert r.micro_grid_code == GRID_B + "01"
    df = two_grid_index.route_many([X1, X1, X1], [YM, 31.2004, 31.2008])
    assert df["micro_grid_code"].tolist() == [GRID_B + "01", GRID_B + "02", GRID_A + "01"]


def test_point_just_outside_snaps_to_the_nearest_grid_with_distance(two_grid_index):
    lon = X2 + 10.0 / (111_320 * np.cos(np.radians(31.2)))  # ~10 m east of grid B
    r = two_grid_index.route(lon, 31.2003)
    assert r.snapped and r.grid_code == GRID_B and r.micro_grid_code == GRID_B + "02"
    assert 9.0 < r.distance_m < 11.0
    df = two_grid_index.route_many([lon], [31.2003])
    assert bool(df["snapped"][0]) and df["grid_code"][0] == GRID_B and df["reason"][0] == ""
    assert 9.0 < df["distance_m"][0] < 11.0


def test_point_beyond_the_tolerance_names_the_nearest_grid_and_distance(two_grid_index):
    lon = X2 + 100.0 / (111_320 * np.cos(np.radians(31.2)))
    with pytest.raises(OutOfAreaError) as err:
        two_grid_index.route(lon, 31.2003)
    msg = str(err.value)
    assert GRID_B in msg and "乙网格" in msg
    metres = float(re.search(r"at (\d+) m", msg).group(1))
    assert 95 <= metres <= 105
    df = two_grid_index.route_many([lon, 121.5003], [31.2003, 31.2008])
    assert df["grid_code"].tolist() == [None, GRID_A]
    assert df["reason"][0].startswith("outside the service area") and GRID_B in df["reason"][0]


def test_tolerance_is_configurable(two_grids):
    lon = X2 + 50.0 / (111_320 * np.cos(np.radians(31.2)))
    assert RoutingIndex.build(two_grids, snap_tolerance_m=60).route(lon, 31.2003).snapped
    with pytest.raises(OutOfAreaError):
        RoutingIndex.build(two_grids, snap_tolerance_m=30).route(lon, 31.2003)


def test_far_away_point_outside_china_is_a_clear_error(two_grid_index):
    with pytest.raises(OutOfAreaError, match=GRID_A + "|" + GRID_B):
        two_grid_index.route(-70.0, 40.0)


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_chinese_web_coordinates_route_to_the_same_micro_grid(city, index, crs):
    reps = shapely.get_coordinates(shapely.point_on_surface(city["micro_grids"].geometry.values))[:40]
    fwd = chinacoords.wgs84_to_gcj02 if crs == "gcj02" else chinacoords.wgs84_to_bd09
    sx, sy = fwd(reps[:, 0], reps[:, 1])
    assert np.hypot(sx - reps[:, 0], sy - reps[:, 1]).min() > 0.001  # the shift is hundreds of metres
    want = index.route_many(reps[:, 0], reps[:, 1])["micro_grid_code"].tolist()
    assert index.route_many(sx, sy, crs=crs)["micro_grid_code"].tolist() == want
    assert [index.route(a, b, crs=crs).micro_grid_code for a, b in zip(sx[:5], sy[:5])] == want[:5]


@pytest.mark.parametrize("crs", ["cgcs2000", "EPSG:4490", "EPSG:4549", "EPSG:32651"])
def test_cgcs2000_and_epsg_inputs(city, index, crs):
    reps = shapely.get_coordinates(shapely.point_on_surface(city["micro_grids"].geometry.values))[:20]
    want = index.route_many(reps[:, 0], reps[:, 1])["micro_grid_code"].tolist()
    tr = pyproj.Transformer.from_crs("EPSG:4326", crs if crs.startswith("EPSG") else "EPSG:4490", always_xy=True)
    x, y = tr.transform(reps[:, 0], reps[:, 1])
    assert index.route_many(x, y, crs=crs)["micro_grid_code"].tolist() == want
    assert index.route(x[0], y[0], crs=crs).micro_grid_code == want[0]


def test_unknown_crs_is_refused(index):
    with pytest.raises(CRSError):
        index.route(121.5, 31.22, crs="mars-2")
    with pytest.raises(CRSError):
        index.route_many([121.5], [31.22], crs="EPSG:999999")


@pytest.mark.parametrize(
    "lon,lat", [(float("nan"), 31.2), (121.5, float("inf")), (200.0, 31.2), (121.5, -95.0), ("x", 31.2), (None, 31.2)]
)
def test_bad_single_coordinates_are_validation_errors(index, lon, lat):
    with pytest.raises(ValidationError):
        index.route(lon, lat)


def test_batch_gives_a_reason_per_bad_row(two_grid_index):
    df = two_grid_index.route_many([121.5003, np.nan, 300.0], [31.2008, 31.2, 31.2])
    assert df["grid_code"].tolist() == [GRID_A, None, None]
    assert df["reason"][0] == ""
    assert "missing" in df["reason"][1] and "out of range" in df["reason"][2]


def test_grid_without_micro_grids_routes_to_the_grid(city, index):
    grids = city["grids"]
    bare = sorted(set(grids["code"]) - set(city["micro_grids"]["grid_code"]))
    assert bare
    geom = grids.set_index("code").geometry[bare[0]]
    p = shapely.point_on_surface(geom)
    r = index.route(p.x, p.y)
    assert r.grid_code == bare[0] and r.micro_grid_code is None and not r.snapped


def test_building_on_no_compound_and_lowest_code_on_shared_compound_edge():
    city = two_grid_city()
    import geopandas as gpd

    extra = gpd.GeoDataFrame(
        [
            {
                "code": GRID_A[:12] + "Q000",
                "name": "旁边小区",
                "community_code": GRID_A[:12],
                "geometry": shapely.box(121.5016, 31.2002, 121.5019, 31.2006),
            }
        ],
        crs="EPSG:4326",
    )
    city["compounds"] = gpd.pd.concat([city["compounds"], extra], ignore_index=True)
    index = RoutingIndex.build(city)
    assert index.route(121.5016, 31.2004).compound_code == GRID_A[:12] + "Q000"


def test_index_without_grids_is_refused():
    with pytest.raises(ValidationError, match="grids"):
        RoutingIndex.build({})


def test_batch_without_compound_columns_still_applies_the_tie_rule(two_grid_index, city, index):
    lon, lat = [X1, X1, X1, 121.5003], [YM, 31.2004, 31.2008, 31.2008]
    full = two_grid_index.route_many(lon, lat)
    lean = two_grid_index.route_many(lon, lat, with_compounds=False)
    assert "compound_code" not in lean.columns
    assert (
        lean["micro_grid_code"].tolist()
        == full["micro_grid_code"].tolist()
        == [GRID_B + "01", GRID_B + "02", GRID_A + "01", GRID_A + "01"]
    )
    verts = shapely.get_coordinates(city["micro_grids"].geometry.values)[:300]
    a = index.route_many(verts[:, 0], verts[:, 1])
    b = index.route_many(verts[:, 0], verts[:, 1], with_compounds=False)
    assert a["micro_grid_code"].tolist() == b["micro_grid_code"].tolist()


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_single_and_batch_agree_on_every_column(city, index, seed):
    rng = np.random.default_rng(seed)
    b = city["grids"].total_bounds
    bverts = shapely.get_coordinates(city["buildings"].geometry.values)
    x = np.concatenate([rng.uniform(b[0] - 3e-4, b[2] + 3e-4, 40), bverts[rng.integers(0, len(bverts), 10), 0]])
    y = np.concatenate([rng.uniform(b[1] - 3e-4, b[3] + 3e-4, 40), bverts[rng.integers(0, len(bverts), 10), 1]])
    df = index.route_many(x, y)
    for i, (lon, lat) in enumerate(zip(x.tolist(), y.tolist())):
        row = df.iloc[i]
        try:
            r = index.route(lon, lat)
        except OutOfAreaError:
            assert row["grid_code"] is None and row["reason"].startswith("outside")
            continue
        assert (
            r.micro_grid_code,
            r.grid_code,
            r.community_code,
            r.street_code,
            r.compound_code,
            r.building_code,
            r.snapped,
        ) == (
            row["micro_grid_code"],
            row["grid_code"],
            row["community_code"],
            row["street_code"],
            row["compound_code"],
            row["building_code"],
            bool(row["snapped"]),
        )
        assert r.distance_m == pytest.approx(row["distance_m"])


def test_city_without_micro_grids_routes_to_grids_and_missing_parent_grid_keeps_its_code():
    city = two_grid_city()
    only_grids = {k: v for k, v in city.items() if k != "micro_grids"}
    r = RoutingIndex.build(only_grids).route(121.5003, 31.2008)
    assert (r.micro_grid_code, r.grid_code, r.grid_name) == (None, GRID_A, "甲网格")
    orphan = dict(city, grids=city["grids"][city["grids"]["code"] == GRID_B])  # grid A itself is missing
    r = RoutingIndex.build(orphan).route(121.5003, 31.2008)
    assert (r.micro_grid_code, r.grid_code, r.grid_name, r.community_code) == (GRID_A + "01", GRID_A, None, GRID_A[:12])


def test_a_generation_that_only_renames_reuses_the_spatial_structures_and_answers_the_new_names():
    """Seen: a rename took 8–11 s to be served (a full rebuild); outlines unchanged, the rasters are reused."""
    city = two_grid_city()
    first = RoutingIndex.build(city, generation=1)
    renamed = {k: v.copy() for k, v in city.items()}
    renamed["grids"].loc[renamed["grids"]["code"] == GRID_A, "name"] = "改名网格"
    second = RoutingIndex.build(renamed, generation=2, previous=first)
    assert second.micro_loc is first.micro_loc and second.grid_nearest is first.grid_nearest
    assert second.route(121.5003, 31.2008).grid_name == "改名网格" and second.generation == 2
    assert first.route(121.5003, 31.2008).grid_name != "改名网格"  # the old index keeps its own names
    moved = {k: v.copy() for k, v in renamed.items()}
    moved["grids"].loc[moved["grids"]["code"] == GRID_A, "geometry"] = shapely.affinity.translate(
        moved["grids"].loc[moved["grids"]["code"] == GRID_A, "geometry"].iloc[0], 1e-5, 0
    )
    third = RoutingIndex.build(moved, generation=3, previous=second)
    assert third.micro_loc is not second.micro_loc  # an outline changed: built anew
