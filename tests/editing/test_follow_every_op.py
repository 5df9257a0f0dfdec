"""Micro-grids follow every operation, at library level (issue 11): after transfer-compound, transfer-buildings,
split, merge, move-boundary and apply-proposal — each followed by :func:`gridgis.editing.follow.with_micro_grids`,
the one path every caller takes — every changed grid is exactly tiled by single-part micro-grids whose households
add up to the grid's, and every building of a changed grid lies in exactly one micro-grid.

Two cities: the people tests' small lattice city (one grid of four has no micro-grid, its buildings do not account
for every household) and one community of the sample city (buildings complete).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridgis.codes import area_of
from gridgis.editing import operations as ops
from gridgis.editing.changes import apply_edits
from gridgis.editing.follow import with_micro_grids
from gridgis.errors import ValidationError
from gridgis.layers.coverage import check_coverage, polygonal_part

SAMPLE_COMMUNITY = "310115005039"
OPERATIONS = ["transfer-compound", "transfer-buildings", "split", "merge", "move-boundary", "apply-proposal"]


@pytest.fixture(scope="module")
def cities(sample_dir):
    from gridgis.io import read_city
    from gridgis.sample.lattice import synthetic_city

    def one(city, community=None):
        out = {}
        for layer in ("grids", "micro_grids", "compounds", "buildings"):
            frame = city[layer]
            key = frame["grid_code"] if layer == "micro_grids" else frame["code"]
            keep = np.array([community is None or area_of(str(c)) == community for c in key], dtype=bool)
            out[layer] = frame[keep].reset_index(drop=True)
        return out

    return {
        "lattice": one(synthetic_city(2, 2, micro=2, per_community=2)),
        "sample": one(read_city(sample_dir), SAMPLE_COMMUNITY),
    }


def _holder(grids: gpd.GeoDataFrame, geom: shapely.Geometry) -> str:
    return str(grids["code"].iloc[int(np.argmax(shapely.area(shapely.intersection(grids.geometry.values, geom))))])


def _first_accepted(grids, items, make):
    """The edits of the first (item, receiving grid) that the operation accepts."""
    for _, item in items.sort_values("code").iterrows():
        for to in sorted(grids["code"]):
            if to == _holder(grids, item.geometry):
                continue
            try:
                return make(str(item["code"]), str(to))
            except ValidationError:
                continue
    raise AssertionError("no transfer accepted")


def _pair(grids):
    """The last neighbouring pair of grids (in the lattice city it holds the grid without micro-grids)."""
    g = dict(zip(grids["code"].astype(str), grids.geometry))
    pairs = [(a, b) for a in sorted(g) for b in sorted(g) if a < b and g[a].boundary.intersection(g[b].boundary).length]
    return pairs[-1]


def _halves(geom: shapely.Geometry, vertical: bool) -> list[shapely.Geometry]:
    x0, y0, x1, y1 = geom.bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    boxes = (
        [shapely.box(x0 - 1, y0 - 1, cx, y1 + 1), shapely.box(cx, y0 - 1, x1 + 1, y1 + 1)]
        if vertical
        else [shapely.box(x0 - 1, cy, x1 + 1, y1 + 1), shapely.box(x0 - 1, y0 - 1, x1 + 1, cy)]
    )
    return [polygonal_part(shapely.intersection(geom, b)) for b in boxes]


def _operation(name: str, city: dict) -> list:
    grids, compounds, buildings = city["grids"], city["compounds"], city["buildings"]
    a, b = _pair(grids)
    geom = dict(zip(grids["code"].astype(str), grids.geometry))
    if name == "transfer-compound":
        return _first_accepted(grids, compounds, lambda c, to: ops.transfer_compound(grids, compounds, c, to))
    if name == "transfer-buildings":
        return _first_accepted(grids, buildings, lambda c, to: ops.transfer_buildings(grids, buildings, [c], to))
    if name == "split":
        x0, y0, x1, y1 = geom[a].bounds
        cy = (y0 + y1) / 2
        return ops.split_grid(grids, a, shapely.LineString([(x0 - 0.01, cy), (x1 + 0.01, cy)]))
    if name == "merge":
        return ops.merge_grids(grids, [a, b])
    if name == "move-boundary":
        strip = shapely.buffer(geom[a].boundary.intersection(geom[b].boundary), 4e-5)
        return ops.move_boundary(grids, a, b, shapely.union(geom[a], shapely.intersection(strip, geom[b])))
    assert name == "apply-proposal"  # a and b drawn again as two halves of their union, one under a new code
    union = shapely.union(geom[a], geom[b])
    west, east = _halves(union, vertical=True)
    new = ops.next_free_code(grids, area_of(a))
    proposal = grids[grids["code"] != b].copy()
    proposal.loc[proposal["code"] == a, "geometry"] = west
    extra = grids[grids["code"] == b].copy()
    extra["code"], extra["geometry"] = new, [east]
    frame = gpd.GeoDataFrame(pd.concat([proposal, extra], ignore_index=True), geometry="geometry", crs=grids.crs)
    return ops.apply_proposal(grids, frame, area_of(a))


def _by_code(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frame if "code" in frame.columns else frame.reset_index()


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("which", ["lattice", "sample"])
def test_every_operation_leaves_every_changed_grid_tiled_by_micro_grids(cities, which, operation):
    city = cities[which]
    grids, micro, buildings = city["grids"], city["micro_grids"], city["buildings"]
    edits = with_micro_grids(_operation(operation, city), grids, micro, buildings)
    after = apply_edits({"grids": grids, "micro_grids": micro}, edits)
    new_grids, new_micro = _by_code(after["grids"]), _by_code(after["micro_grids"])
    before = dict(zip(grids["code"].astype(str), grids.geometry))
    changed = {  # a new outline (a neighbour that only gains a vertex keeps its micro-grids)
        e.code
        for e in edits
        if e.layer == "grids" and e.op != "delete" and (e.code not in before or not before[e.code].equals(e.geometry))
    }
    deleted = {e.code for e in edits if e.layer == "grids" and e.op == "delete"}
    assert changed, operation
    assert not set(new_micro["grid_code"].astype(str)) & deleted, "a deleted grid keeps micro-grids"
    inside = shapely.point_on_surface(buildings.geometry.values)
    for _, grid in new_grids[new_grids["code"].isin(changed)].iterrows():
        code = str(grid["code"])
        mine = new_micro[new_micro["grid_code"].astype(str) == code]
        assert len(mine), f"{which} {operation}: changed grid {code} has no micro-grid"
        found = check_coverage(list(mine.geometry), list(mine["code"]), grid.geometry)
        assert found.ok, (which, operation, code, [(i.kind, i.codes, i.measure) for i in found.issues])
        assert set(mine.geometry.geom_type) == {"Polygon"}, (which, operation, code, list(mine.geometry.geom_type))
        assert int(mine["households"].sum()) == int(grid["households"]), (which, operation, code)
        held = shapely.intersects(grid.geometry, inside)
        for bcode, point in zip(buildings["code"][held], inside[held]):
            hits = [str(m) for m in new_micro["code"][shapely.intersects(new_micro.geometry.values, point)]]
            assert len(hits) == 1 and hits[0].startswith(code), (which, operation, bcode, code, hits)


def _check(city: dict, edits: list, label: str) -> dict:
    """Apply ``edits`` (with their micro-grids) to ``city``, check every changed grid, return the new city."""
    grids, micro, buildings = city["grids"], city["micro_grids"], city["buildings"]
    edits = with_micro_grids(edits, grids, micro, buildings)
    after = apply_edits({"grids": grids, "micro_grids": micro}, edits)
    new_grids, new_micro = _by_code(after["grids"]), _by_code(after["micro_grids"])
    before = dict(zip(grids["code"].astype(str), grids.geometry))
    changed = {  # a new outline (a neighbour that only gains a vertex keeps its micro-grids)
        e.code
        for e in edits
        if e.layer == "grids" and e.op != "delete" and (e.code not in before or not before[e.code].equals(e.geometry))
    }
    deleted = {e.code for e in edits if e.layer == "grids" and e.op == "delete"}
    assert changed, label
    assert not set(new_micro["grid_code"].astype(str)) & deleted, f"{label}: a deleted grid keeps micro-grids"
    inside = shapely.point_on_surface(buildings.geometry.values)
    for _, grid in new_grids[new_grids["code"].isin(changed)].iterrows():
        code = str(grid["code"])
        mine = new_micro[new_micro["grid_code"].astype(str) == code]
        assert len(mine), f"{label}: changed grid {code} has no micro-grid"
        found = check_coverage(list(mine.geometry), list(mine["code"]), grid.geometry)
        assert found.ok, (label, code, [(i.kind, i.codes, i.measure) for i in found.issues])
        assert set(mine.geometry.geom_type) == {"Polygon"}, (label, code, list(mine.geometry.geom_type))
        assert int(mine["households"].sum()) == int(grid["households"]), (label, code)
        held = shapely.intersects(grid.geometry, inside)
        for bcode, point in zip(buildings["code"][held], inside[held]):
            hits = [str(m) for m in new_micro["code"][shapely.intersects(new_micro.geometry.values, point)]]
            assert len(hits) == 1 and hits[0].startswith(code), (label, bcode, code, hits)
    return {**city, "grids": new_grids, "micro_grids": new_micro}


@pytest.mark.parametrize("which", ["lattice", "sample"])
def test_operations_one_after_another_keep_every_changed_grid_tiled(cities, which):
    """The same operations chained on one store, as a planner works (each sees the previous one's micro-grids)."""
    city = cities[which]
    for operation in ["transfer-buildings", "transfer-compound", "split", "move-boundary", "apply-proposal", "merge"]:
        city = _check(city, _operation(operation, city), f"{which} then {operation}")
