"""Overlap of every compound with every grid, by area (metric CRS) and by households.

Buildings are assigned to the grid that holds the largest part of their footprint and to their
compound (by ``compound_code`` when it names a known compound, else by position). Without
buildings, a compound's households are spread over its pieces by area.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgis.alignment._frames import (
    halves,
    households,
    metric,
    polygonal,
    require_frame,
    text_column,
    to_storage_series,
)
from gridgis.alignment.config import AlignmentConfig
from gridgis.crs import metric_crs_for

PIECE_COLUMNS = [
    "compound_code",
    "compound_name",
    "community_code",
    "grid_code",
    "area_m2",
    "area_share",
    "households",
    "households_share",
    "buildings",
    "sliver",
    "cut_buildings",
    "geometry",
]


def _largest_overlap(left: np.ndarray, right: np.ndarray, n_left: int) -> tuple[np.ndarray, np.ndarray]:
    """For each geometry of ``left``, the index into ``right`` it overlaps most (-1 when none) and that area."""
    tree = shapely.STRtree(right)
    li, ri = tree.query(left, predicate="intersects")
    best = np.full(n_left, -1, dtype=np.int64)
    best_area = np.zeros(n_left)
    if len(li):
        # most pairs are a building wholly inside one grid: no intersection to compute for those
        shapely.prepare(right)
        inside = shapely.contains_properly(right[ri], left[li])  # prepared: one thread
        areas = shapely.area(left[li])
        cross = ~inside
        if cross.any():
            areas[cross] = shapely.area(halves(shapely.intersection, left[li[cross]], right[ri[cross]]))
        order = np.lexsort((ri, -areas, li))  # per left: largest area, then lowest index
        li, ri, areas = li[order], ri[order], areas[order]
        first = np.r_[True, li[1:] != li[:-1]]
        keep = first & (areas > 0)
        best[li[keep]] = ri[keep]
        best_area[li[keep]] = areas[keep]
    return best, best_area


def building_compounds(
    named: np.ndarray, building_geoms: np.ndarray, compound_codes: np.ndarray, compound_geoms: np.ndarray
) -> np.ndarray:
    """The compound of each building, as an index into ``compound_codes`` (-1: none): the one the
    building names (``named``: its ``compound_code``, None when missing) when that is one of them,
    else the one its footprint overlaps most (metric geometries).

    The one rule of which compound a building's households count for: the analysis (cut compounds)
    and the proposal (which compounds are large enough to be divided between buildings) both use it,
    so a building inside two overlapping or duplicated compounds counts once, for the same compound.
    """
    out = np.full(len(building_geoms), -1, dtype=np.int64)
    if not len(building_geoms) or not len(compound_codes):
        return out
    index = {str(c): i for i, c in reversed(list(enumerate(compound_codes)))}
    for b, name in enumerate(named):
        if name is not None:
            out[b] = index.get(str(name), -1)
    rest = np.flatnonzero(out < 0)
    if len(rest):
        best, _ = _largest_overlap(building_geoms[rest], compound_geoms, len(rest))
        out[rest] = best
    return out


def assign_buildings(
    buildings: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
    compounds: gpd.GeoDataFrame | None = None,
    metric_crs: str | None = None,
) -> pd.DataFrame:
    """Assign each building to a grid (largest footprint share) and to a compound.

    Returns
    -------
    DataFrame
        Indexed like ``buildings`` with ``code``, ``grid_code`` (None outside every grid),
        ``compound_code`` (None outside every compound), ``households`` and ``crossing`` (the
        footprint is cut by a grid line: less than 98 % of it lies in its grid).
    """
    buildings = require_frame(buildings, "buildings")
    grids = require_frame(grids, "grids")
    return _assign_buildings(buildings, grids, compounds, metric_crs or metric_crs_for(buildings))


def _assign_buildings(
    buildings: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
    compounds: gpd.GeoDataFrame | None,
    crs: str,
    grids_m: np.ndarray | None = None,
    compounds_m: np.ndarray | None = None,
) -> pd.DataFrame:
    """:func:`assign_buildings` on checked frames; ``grids_m``, ``compounds_m``: the frames already in ``crs``."""
    bg = metric(buildings, crs)
    gcodes = np.asarray(grids["code"].astype(str), dtype=object)
    best, best_area = _largest_overlap(bg, metric(grids, crs) if grids_m is None else grids_m, len(bg))
    crossing = (best >= 0) & (best_area < 0.98 * shapely.area(bg))
    grid_code = np.where(best >= 0, gcodes[np.maximum(best, 0)] if len(gcodes) else None, None)
    comp = np.array([None] * len(bg), dtype=object)
    if compounds is not None and len(compounds):
        ccodes = np.asarray(compounds["code"].astype(str), dtype=object)
        at = building_compounds(
            text_column(buildings, "compound_code"),
            bg,
            ccodes,
            metric(compounds, crs) if compounds_m is None else compounds_m,
        )
        comp[at >= 0] = ccodes[at[at >= 0]]
    return pd.DataFrame(
        {
            "code": buildings["code"].astype(str).to_numpy(),
            "grid_code": grid_code,
            "compound_code": comp,
            "households": households(buildings),
            "crossing": crossing,
        },
        index=buildings.index,
    )


def compound_grid_overlaps(
    compounds: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None = None,
    config: AlignmentConfig | None = None,
    metric_crs: str | None = None,
) -> gpd.GeoDataFrame:
    """Every piece of every compound by grid, with its area and households.

    Parameters
    ----------
    compounds, grids : GeoDataFrame
        Layer frames in EPSG:4326 (``code`` and geometry; ``households`` and ``name`` used when present).
    buildings : GeoDataFrame, optional
        Buildings with ``households``; when given, households are counted by building footprint.
    config : AlignmentConfig, optional
        Sliver thresholds.

    Returns
    -------
    GeoDataFrame
        One row per (compound, grid) piece, EPSG:4326, columns :data:`PIECE_COLUMNS`. The part of a
        compound outside every grid is a piece with ``grid_code`` None. ``cut_buildings`` is the
        number of the compound's buildings cut by a grid line (-1 when there are no buildings).
    """
    config = config or AlignmentConfig()
    compounds = require_frame(compounds, "compounds")
    grids = require_frame(grids, "grids")
    buildings = require_frame(buildings, "buildings", allow_none=True)
    if not len(compounds):
        return gpd.GeoDataFrame(columns=PIECE_COLUMNS, geometry="geometry", crs="EPSG:4326")
    crs = metric_crs or metric_crs_for(compounds)
    cg = metric(compounds, crs)
    gg = metric(grids, crs) if len(grids) else np.array([], dtype=object)
    ccodes = compounds["code"].astype(str).to_numpy()
    gcodes = grids["code"].astype(str).to_numpy() if len(grids) else np.array([], dtype=object)
    carea = shapely.area(cg)
    tree = shapely.STRtree(gg)
    ci, gi = tree.query(cg, predicate="intersects") if len(gg) else (np.array([], int), np.array([], int))
    pieces = polygonal(halves(shapely.intersection, cg[ci], gg[gi])) if len(ci) else np.array([], dtype=object)
    rows_c = list(ci)
    rows_g: list[object] = [gcodes[j] for j in gi]
    geoms = list(pieces)
    covered = np.zeros(len(cg))
    np.add.at(covered, ci, shapely.area(pieces) if len(pieces) else 0.0)
    for i in np.flatnonzero(carea - covered > min(config.sliver_area_m2, 1.0)):
        rest = shapely.difference(cg[i], shapely.union_all(gg[gi[ci == i]])) if (ci == i).any() else cg[i]
        rest = polygonal(np.array([rest], dtype=object))[0]
        if not rest.is_empty:
            rows_c.append(i)
            rows_g.append(None)
            geoms.append(rest)
    geoms_a = np.asarray(geoms, dtype=object)
    area = shapely.area(geoms_a) if len(geoms_a) else np.zeros(0)
    keep = area > 0
    rows_c_a = np.asarray(rows_c, dtype=np.int64)[keep]
    rows_g_a = np.asarray(rows_g, dtype=object)[keep]
    geoms_a, area = geoms_a[keep], area[keep]
    share = area / np.maximum(carea[rows_c_a], 1e-9)
    hh_comp = households(compounds)
    if buildings is not None and len(buildings):
        assigned = _assign_buildings(
            buildings, grids, compounds, crs, grids_m=gg if len(grids) else None, compounds_m=cg
        )
        assigned = assigned[assigned["compound_code"].notna()]
        key = assigned["compound_code"].astype(str) + "|" + assigned["grid_code"].fillna("").astype(str)
        hh_by = assigned.groupby(key)["households"].sum()
        n_by = assigned.groupby(key)["households"].size()
        piece_key = pd.Series(ccodes[rows_c_a]).astype(str) + "|" + pd.Series(rows_g_a).fillna("").astype(str)
        hh = piece_key.map(hh_by).fillna(0).to_numpy().astype(np.int64)
        nb = piece_key.map(n_by).fillna(0).to_numpy().astype(np.int64)
        comp_total = pd.Series(hh).groupby(rows_c_a).transform("sum").to_numpy()
        hh_share = np.where(comp_total > 0, hh / np.maximum(comp_total, 1), share)
        sliver = ((area < config.sliver_area_m2) | (share < config.sliver_share)) & (nb == 0)
        crossing = assigned[assigned["crossing"]].groupby("compound_code").size()
        cut_b = pd.Series(ccodes[rows_c_a]).map(crossing).fillna(0).to_numpy().astype(np.int64)
    else:
        hh = np.round(hh_comp[rows_c_a] * share).astype(np.int64)
        nb = np.zeros(len(area), dtype=np.int64)
        hh_share = share
        sliver = (area < config.sliver_area_m2) | (share < config.sliver_share)
        cut_b = np.full(len(area), -1, dtype=np.int64)
    names = text_column(compounds, "name")
    comm = text_column(compounds, "community_code")
    out = gpd.GeoDataFrame(
        {
            "compound_code": ccodes[rows_c_a],
            "compound_name": names[rows_c_a],
            "community_code": comm[rows_c_a],
            "grid_code": rows_g_a,
            "area_m2": np.round(area, 3),
            "area_share": np.round(share, 6),
            "households": hh,
            "households_share": np.round(hh_share, 6),
            "buildings": nb,
            "sliver": sliver,
            "cut_buildings": cut_b,
        },
        geometry=to_storage_series(geoms_a, crs).values,
        crs="EPSG:4326",
    )
    order = np.lexsort(
        (out["grid_code"].fillna("~").to_numpy().astype(str), out["compound_code"].to_numpy().astype(str))
    )
    return out.iloc[order].reset_index(drop=True)
