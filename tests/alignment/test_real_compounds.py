"""On real compound outlines (Baidu mapv, BD-09 → WGS84) with independently drawn grids, the proposal
leaves no small compound cut and an exact coverage. Real outlines overlap, touch, have unclosed rings
and odd shapes: the cases synthetic rectangles never show."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gridgis.alignment.classify import compound_status
from gridgis.alignment.overlap import compound_grid_overlaps
from gridgis.alignment.propose import propose_alignment
from gridgis.chinacoords import convert_geometries

COMMUNITY = "110105001001"


def load_outlines(path, bbox=(116.0, 39.6, 116.8, 40.2)) -> gpd.GeoDataFrame:
    """Every usable outline starting in ``bbox`` (BD-09 degrees): rings closed, fewer than 3 distinct
    points dropped, converted BD-09 → WGS84."""
    polys = []
    for item in json.loads(path.read_text(encoding="utf-8")):
        geom = item.get("geometry") or {}
        if geom.get("type") != "Polygon" or not geom.get("coordinates") or not geom["coordinates"][0]:
            continue
        x, y = geom["coordinates"][0][0][:2]
        if not (bbox[0] <= x <= bbox[2] and bbox[1] <= y <= bbox[3]):
            continue
        ring = [tuple(p[:2]) for p in geom["coordinates"][0]]
        if len(set(ring)) < 3:
            continue
        if ring[0] != ring[-1]:
            ring.append(ring[0])
        poly = shapely.make_valid(shapely.Polygon(ring))
        parts = [p for p in shapely.get_parts(poly) if p.geom_type == "Polygon" and p.area > 0]
        if parts:
            polys.append(max(parts, key=lambda p: p.area))
    wgs = convert_geometries(np.array(polys, dtype=object), "bd09", "wgs84")
    return gpd.GeoDataFrame(geometry=list(wgs), crs="EPSG:4326")


@pytest.fixture(scope="module")
def real_layers(shared_data):
    outlines = load_outlines(shared_data / "mapv-xiaoqu-polygons" / "beijing-village.json")
    b = outlines.geometry.bounds
    beijing = outlines[b["minx"].between(116.0, 116.8) & b["miny"].between(39.6, 40.2)].to_crs("EPSG:4548")
    cent = beijing.geometry.centroid
    pts = cent.values
    left, _ = shapely.STRtree(pts).query(pts, predicate="dwithin", distance=1200)
    seed = int(np.argmax(np.bincount(left, minlength=len(pts))))  # the densest neighbourhood
    d = shapely.distance(pts, pts[seed])
    chosen = beijing.iloc[np.argsort(d, kind="stable")[:50]].copy()
    chosen["geometry"] = chosen.geometry.buffer(0)
    chosen = chosen[chosen.area > 200].reset_index(drop=True)
    chosen["code"] = [f"{COMMUNITY}Q{i + 1:03d}" for i in range(len(chosen))]
    chosen["name"] = [f"小区{i + 1}" for i in range(len(chosen))]
    chosen["community_code"] = COMMUNITY
    chosen["kind"] = "residential"
    chosen["households"] = np.maximum(20, (chosen.area / 120).round()).astype(int)  # ~120 m² of site per household
    x0, y0, x1, y1 = chosen.total_bounds
    community = shapely.box(x0 - 50, y0 - 50, x1 + 50, y1 + 50)
    # grids drawn without looking at the compounds: a 4 × 3 lattice, slightly rotated
    nx, ny = 4, 3
    cells = [
        shapely.box(
            x0 - 50 + i * (x1 - x0 + 100) / nx,
            y0 - 50 + j * (y1 - y0 + 100) / ny,
            x0 - 50 + (i + 1) * (x1 - x0 + 100) / nx,
            y0 - 50 + (j + 1) * (y1 - y0 + 100) / ny,
        )
        for j in range(ny)
        for i in range(nx)
    ]
    rotated = [shapely.affinity.rotate(c, 7, origin=community.centroid).intersection(community) for c in cells]
    covered = shapely.union_all(rotated)
    rotated[0] = rotated[0].union(community.difference(covered))  # corners left by the rotation
    grids = gpd.GeoDataFrame(
        {
            "code": [f"{COMMUNITY}{k + 1:03d}" for k in range(len(rotated))],
            "name": [f"第{k + 1}网格" for k in range(len(rotated))],
            "community_code": COMMUNITY,
        },
        geometry=rotated,
        crs="EPSG:4548",
    )
    communities = gpd.GeoDataFrame(
        {"code": [COMMUNITY], "name": ["真实小区社区"]}, geometry=[community], crs="EPSG:4548"
    )
    return (chosen.to_crs("EPSG:4326"), grids.to_crs("EPSG:4326"), communities.to_crs("EPSG:4326"))


def test_real_outlines_are_many_and_mostly_cut_by_independent_grids(real_layers):
    compounds, grids, _ = real_layers
    assert 40 <= len(compounds) <= 50
    status = compound_status(compound_grid_overlaps(compounds, grids))
    assert (status["status"].isin(["cut", "cut_minor"])).sum() >= 5


@pytest.fixture(scope="module")
def real_proposal(real_layers):
    compounds, grids, communities = real_layers
    return propose_alignment(compounds, grids, communities=communities)


def test_proposal_on_real_outlines_leaves_no_small_compound_cut(real_layers, real_proposal):
    compounds, _grids, communities = real_layers
    p = real_proposal
    assert p.coverage_after.ok, p.coverage_after.to_dict()
    assert shapely.coverage_is_valid(p.grids.to_crs("EPSG:4548").geometry.values)
    status = compound_status(compound_grid_overlaps(compounds, p.grids))
    small = status[status["households"] <= p.config.large_households]
    assert set(small["status"]) == {"whole"}, small[small["status"] != "whole"]
    # large compounds without buildings are kept whole too, and explained when over the range
    assert set(status["status"]) == {"whole"}
    area = communities.to_crs("EPSG:4548").area.sum()
    assert p.grids.to_crs("EPSG:4548").area.sum() == pytest.approx(area, abs=1.0)


def test_real_outlines_aligned_twice_change_nothing(real_layers, real_proposal):
    compounds, _, communities = real_layers
    p = real_proposal
    again = propose_alignment(compounds, p.grids, communities=communities)
    assert not again.changed
