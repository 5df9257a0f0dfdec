"""The fast batch path (cell rasters, the nearest-outline raster, packed result columns) gives the
answers of a brute-force oracle: shapely ``covers`` inside, and for points outside every grid the
nearest grid over *all* grids (polygon distances in the metric CRS, ties to the lowest code), snapped
within the tolerance and refused beyond it, near the service area and far beyond the raster."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
import shapely

from gridgis.crs import metric_crs_for
from gridgis.routing import RoutingIndex
from gridgis.routing.nearest import segment_distance

TOL = 30.0


def _outside_points(city, rng):
    """WGS84 points at chosen distances outside the union of the grids (about 5 m … 40 km)."""
    grids = city["grids"]
    metric = metric_crs_for(grids)
    fwd = pyproj.Transformer.from_crs("EPSG:4326", metric, always_xy=True)
    back = pyproj.Transformer.from_crs(metric, "EPSG:4326", always_xy=True)
    union = shapely.union_all(
        shapely.transform(grids.geometry.values, lambda c: np.column_stack(fwd.transform(c[:, 0], c[:, 1])))
    )
    xs, ys = [], []
    for d in (5.0, 20.0, 29.0, 29.99, 30.01, 31.0, 45.0, 200.0, 3_000.0, 40_000.0):
        ring = shapely.get_exterior_ring(shapely.buffer(union, d, quad_segs=16))
        pts = shapely.line_interpolate_point(ring, rng.uniform(0, 1, 25), normalized=True)
        c = shapely.get_coordinates(pts)
        lon, lat = back.transform(c[:, 0], c[:, 1])
        xs.append(lon), ys.append(lat)
    return np.concatenate(xs), np.concatenate(ys), fwd


def _oracle_nearest(geoms_m, codes, pt_m):
    """(position, distance) of the nearest polygon over every polygon, ties to the lowest code."""
    d = shapely.distance(geoms_m, pt_m)
    best = d.min()
    tied = np.flatnonzero(d == best)
    return tied[np.argmin(codes[tied])], float(best)


def test_batch_route_many_agrees_with_brute_force_inside_near_and_far_outside(city):
    index = RoutingIndex.build(city, snap_tolerance_m=TOL)
    rng = np.random.default_rng(20261125)
    ox, oy, fwd = _outside_points(city, rng)
    b = city["grids"].total_bounds
    ix, iy = rng.uniform(b[0], b[2], 300), rng.uniform(b[1], b[3], 300)
    x, y = np.concatenate([ix, ox]), np.concatenate([iy, oy])
    df = index.route_many(x, y)
    lean = index.route_many(x, y, with_compounds=False)
    assert lean.equals(df.drop(columns=["compound_code", "building_code"]))

    grids = city["grids"].sort_values("code").reset_index(drop=True)
    micro = city["micro_grids"].sort_values("code").reset_index(drop=True)
    proj = lambda g: shapely.transform(g, lambda c: np.column_stack(fwd.transform(c[:, 0], c[:, 1])))
    grids_m, micro_m = proj(grids.geometry.values), proj(micro.geometry.values)
    gcodes, mcodes = grids["code"].to_numpy(), micro["code"].to_numpy()
    seen = {"inside": 0, "snapped": 0, "outside near": 0, "outside far": 0}
    for i, (lon, lat) in enumerate(zip(x.tolist(), y.tolist())):
        row = df.iloc[i]
        pt = shapely.Point(lon, lat)
        if shapely.covers(grids.geometry.values, pt).any():
            seen["inside"] += 1
            covering = set(gcodes[shapely.covers(grids.geometry.values, pt)])
            assert row["grid_code"] in covering and not row["snapped"] and row["reason"] == ""
            m_cover = set(mcodes[shapely.covers(micro.geometry.values, pt)])
            assert (row["micro_grid_code"] in m_cover) if m_cover else row["micro_grid_code"] is None
            continue
        pt_m = shapely.Point(*fwd.transform(lon, lat))
        g, d = _oracle_nearest(grids_m, gcodes, pt_m)
        if d <= TOL:
            seen["snapped"] += 1
            assert (row["grid_code"], bool(row["snapped"]), row["reason"]) == (gcodes[g], True, "")
            assert row["distance_m"] == pytest.approx(d, abs=1e-9)
            mine = np.flatnonzero(micro["grid_code"].to_numpy() == gcodes[g])
            md = shapely.distance(micro_m[mine], pt_m)
            ok = md <= TOL
            if ok.any():
                best = md[ok].min()
                want = min(mcodes[mine][ok & (md == best)])
                assert row["micro_grid_code"] == want
            else:
                assert row["micro_grid_code"] is None
        else:
            seen["outside near" if d < 1_000 else "outside far"] += 1
            assert row["grid_code"] is None and row["micro_grid_code"] is None and not row["snapped"]
            assert row["reason"] == f"outside the service area: nearest grid {gcodes[g]} at {d:.0f} m"
    assert all(v > 0 for v in seen.values()), seen


def test_segment_distance_matches_shapely_bit_for_bit():
    rng = np.random.default_rng(7)
    a, b, p = rng.normal(0, 1000, (500, 2)), rng.normal(0, 1000, (500, 2)), rng.normal(0, 3000, (500, 2))
    b[:5] = a[:5]  # degenerate segments
    got = segment_distance(p[:, 0], p[:, 1], a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    want = shapely.distance(shapely.points(p), shapely.linestrings(np.stack([a, b], axis=1)))
    assert np.array_equal(got, want)


def test_compiled_segment_distance_matches_shapely_bit_for_bit():
    from gridgis.routing import kernels

    rng = np.random.default_rng(8)
    a, b, p = rng.normal(0, 1000, (300, 2)), rng.normal(0, 1000, (300, 2)), rng.normal(0, 3000, (300, 2))
    b[:5] = a[:5]
    got = [kernels._segment_distance(*pp, *aa, *bb) for pp, aa, bb in zip(p.tolist(), a.tolist(), b.tolist())]
    want = shapely.distance(shapely.points(p), shapely.linestrings(np.stack([a, b], axis=1)))
    assert np.array_equal(np.array(got), want)


def test_batch_answers_are_the_same_with_and_without_the_compiled_kernels(city, monkeypatch):
    """Every column, bit for bit: inside, on vertices, snapped and far outside."""
    from gridgis.routing import kernels

    index = RoutingIndex.build(city, snap_tolerance_m=TOL)
    rng = np.random.default_rng(11)
    ox, oy, _ = _outside_points(city, rng)
    b = city["grids"].total_bounds
    verts = shapely.get_coordinates(city["micro_grids"].geometry.values)[::7]
    x = np.concatenate([rng.uniform(b[0], b[2], 2000), ox, verts[:, 0], [np.nan, 500.0]])
    y = np.concatenate([rng.uniform(b[1], b[3], 2000), oy, verts[:, 1], [31.2, 31.2]])
    compiled = [index.route_many(x, y), index.route_many(x, y, with_compounds=False)]
    monkeypatch.setattr(kernels, "AVAILABLE", False)
    numpy_path = [index.route_many(x, y), index.route_many(x, y, with_compounds=False)]
    for a, b_ in zip(compiled, numpy_path):
        assert a.equals(b_)
    assert compiled[0]["snapped"].any() and compiled[0]["compound_code"].notna().any()
