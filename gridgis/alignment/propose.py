"""Propose grid boundaries that follow compound boundaries (拉平对齐).

For each community: build the planar partition (:mod:`gridgis.alignment.partition`), give each
atom to the grid holding most of its households, let land and gaps join a neighbouring grid, keep
every grid in one piece, move whole atoms to bring households into range, and dissolve the faces
per grid. Because every grid is a union of faces of one snapped partition, the result is an exact
coverage of the community.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgis.alignment._frames import households, metric, require_frame, text_column, to_storage_series
from gridgis.alignment.compactness import compactness_summary
from gridgis.alignment.config import AlignmentConfig
from gridgis.alignment.overlap import building_compounds
from gridgis.alignment.partition import (
    CommunityInput,
    Partition,
    Structure,
    _face_adjacency,
    build_partition,
    label_components,
    partition_structure,
)
from gridgis.alignment.rebalance import deviation, fill_gaps, initial_assignment, make_contiguous, rebalance
from gridgis.alignment.restructure import split_and_merge
from gridgis.alignment.roads import road_cut_lines, roads_near
from gridgis.alignment.validate import CoverageReport, validate_coverage
from gridgis.codes import area_of
from gridgis.crs import metric_crs_for
from gridgis.errors import ValidationError
from gridgis.layers.coverage import storable


@dataclass
class Proposal:
    """A proposed set of grids with its impact.

    Attributes
    ----------
    grids : GeoDataFrame
        Proposed grids (EPSG:4326), the input grids' columns with ``households`` recounted and ``area_m2``.
        Stored, or written with the 7 decimals of :data:`gridgis.crs.STORAGE_DECIMALS` and read back,
        they align to themselves: alignment treats lines within a storage step as one line. Written so,
        every grid is still valid (:func:`gridgis.layers.coverage.storable`).
    changes : GeoDataFrame
        The pieces that change grid: ``from_grid``, ``to_grid``, ``area_m2``, ``households``,
        ``compounds`` and ``buildings``.
    impact : DataFrame
        Per grid: area and households before/after/gained/lost, compounds in/out, buildings moved,
        open tickets that would change grid.
    explanations : list of dict
        Every grid left outside the household range (or removed), with the reason.
    """

    grids: gpd.GeoDataFrame
    changes: gpd.GeoDataFrame
    impact: pd.DataFrame
    explanations: list[dict[str, Any]]
    coverage_before: CoverageReport
    coverage_after: CoverageReport
    config: AlignmentConfig
    moves: list[dict[str, Any]] = field(default_factory=list)
    #: per community: area (m²) of the symmetric difference between its proposed grids and its area
    community_difference_m2: dict[str, float] = field(default_factory=dict)
    #: grids split in two (``op`` ``split``: ``grid``, ``new_grid``) or merged (``op`` ``merge``:
    #: ``grid``, ``into``), with ``community_code`` and the households involved
    restructured: list[dict[str, Any]] = field(default_factory=list)
    #: Polsby–Popper (4πA/P²) of the grids before and after: ``median_before``, ``median_after``,
    #: ``mean_before``, ``mean_after``, ``median_ratio``
    compactness: dict[str, float] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """True when any piece changes grid."""
        return len(self.changes) > 0


def community_areas(
    grids: gpd.GeoDataFrame, communities: gpd.GeoDataFrame | None, crs: str, grid_size: float
) -> tuple[dict[str, shapely.Geometry], np.ndarray]:
    """The area to cover per community (metric) and the community code of every grid.

    With ``communities``, their polygons; each grid belongs to the community named by its
    ``community_code`` when known, else to the one it overlaps most. Without, the union of the
    grids of each ``community_code`` (or of the grid code's first 12 digits).
    """
    gcodes = grids["code"].astype(str).to_numpy()
    gcomm = text_column(grids, "community_code")
    gcomm = np.array(
        [c if c else (area_of(g) if len(g) >= 12 else "000000000000") for c, g in zip(gcomm, gcodes)], dtype=object
    )
    gg = metric(grids, crs)
    if communities is not None and len(communities):
        ccodes = communities["code"].astype(str).to_numpy()
        cg = metric(communities, crs)
        areas = {c: g for c, g in zip(ccodes, cg) if not g.is_empty}
        unknown = ~pd.Series(gcomm).isin(set(ccodes)).to_numpy()
        if unknown.any():
            tree = shapely.STRtree(cg)
            for i in np.flatnonzero(unknown):
                cand = tree.query(gg[i], predicate="intersects")
                if len(cand):
                    ov = shapely.area(shapely.intersection(gg[i], cg[cand]))
                    gcomm[i] = ccodes[cand[np.argmax(ov)]]
        return areas, gcomm
    areas = {}
    for c in sorted(set(gcomm)):
        areas[c] = shapely.union_all(gg[gcomm == c], grid_size=grid_size)
    return areas, gcomm


def _assign_to_areas(geoms: np.ndarray, codes: list[str], areas: np.ndarray, points: bool) -> np.ndarray:
    """Index of the area each geometry belongs to (largest overlap, or containing point), -1 for none."""
    out = np.full(len(geoms), -1, dtype=np.int64)
    if not len(geoms) or not len(areas):
        return out
    tree = shapely.STRtree(areas)
    if points:
        gi, ai = tree.query(shapely.point_on_surface(geoms), predicate="intersects")
        order = np.lexsort((ai, gi))
        gi, ai = gi[order], ai[order]
        first = np.r_[True, gi[1:] != gi[:-1]] if len(gi) else np.zeros(0, bool)
        out[gi[first]] = ai[first]
        return out
    gi, ai = tree.query(geoms, predicate="intersects")
    if len(gi):
        ov = shapely.area(shapely.intersection(geoms[gi], areas[ai]))
        order = np.lexsort((ai, -ov, gi))
        gi, ai, ov = gi[order], ai[order], ov[order]
        first = np.r_[True, gi[1:] != gi[:-1]] & (ov > 0)
        out[gi[first]] = ai[first]
    return out


def _explain(
    code: str,
    h: float,
    members: list[int],
    p: Partition,
    ci: CommunityInput,
    total: float,
    n_grids: int,
    config: AlignmentConfig,
) -> dict[str, Any] | None:
    lo, hi = config.household_min, config.household_max
    if deviation(h, config) == 0:
        return None
    hh = p.atoms["households"].to_numpy()
    over = h > hi
    base = {"grid": code, "community_code": ci.code, "households": int(round(h)), "issue": "over" if over else "under"}
    if over:
        big = [a for a in members if hh[a] > hi and p.atoms["kind"].iloc[a] == "compound"]
        if big:
            a = max(big, key=lambda x: hh[x])
            names = [ci.compound_codes[i] for i in p.atoms["members"].iloc[a]]
            why = "no buildings to split it along" if not ci.has_buildings else "too few buildings to split it"
            return base | {
                "reason_zh": f"小区 {', '.join(names)} 单独有 {int(hh[a])} 户，超过 {hi} 户，且无法按楼栋拆分",
                "reason": f"compound {', '.join(names)} alone has {int(hh[a])} households (> {hi}) and "
                f"{why}; keep it whole as one grid or add its buildings",
            }
        if total > n_grids * hi:
            need = int(np.ceil(total / hi))
            return base | {
                "reason_zh": f"社区共 {int(total)} 户，仅 {n_grids} 个网格，至少需要 {need} 个",
                "reason": f"the community has {int(total)} households for {n_grids} grids; it needs at "
                f"least {need} grids: add a grid",
            }
    elif n_grids > 1 and total < n_grids * lo:
        most = max(1, int(total // lo)) if lo else n_grids
        return base | {
            "reason_zh": f"社区共 {int(total)} 户，{n_grids} 个网格过多，最多 {most} 个",
            "reason": f"the community has {int(total)} households for {n_grids} grids; at most {most} "
            "grids can reach the minimum: merge grids",
        }
    elif n_grids == 1:
        return base | {
            "reason_zh": f"社区只有一个网格，共 {int(total)} 户",
            "reason": f"the community has one grid and {int(total)} households in all",
        }
    return base | {
        "reason_zh": "相邻网格间没有可整体移动的小区或楼栋能改善户数而不破坏连通或使邻格越界",
        "reason": "no whole compound or building piece at its border can move to or from a neighbouring "
        "grid without breaking contiguity or pushing the neighbour out of range",
    }


def match_vertices(
    geoms: dict[str, shapely.Geometry], grid_size: float, community_of: dict[str, str] | None = None
) -> dict[str, shapely.Geometry]:
    """Re-node grids of several communities together so that edges shared across communities match exactly.

    Each community is partitioned on its own; where a grid line meets the community boundary it adds a
    vertex the neighbouring community lacks. Polygonizing all grid boundaries at once and dissolving the
    faces again per grid gives every shared edge the same vertices on both sides.

    With ``community_of`` (grid code → community code), only the vertices on the outline of each
    community's grids are exchanged: each grid takes, snapped onto its boundary, the vertices of other
    communities' outlines within two grid cells of it (much cheaper; the caller checks the coverage and
    falls back to the full re-noding when it is not exact).
    """
    if community_of is not None:
        return _exchange_outline_vertices(geoms, grid_size, community_of)
    codes = sorted(geoms)
    polys = np.array([geoms[c] for c in codes], dtype=object)
    noded = shapely.union_all(shapely.boundary(polys), grid_size=grid_size)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = faces[shapely.area(faces) > 0]
    rep = shapely.point_on_surface(faces)
    tree = shapely.STRtree(polys)
    fi, gi = tree.query(rep, predicate="within")
    owner = np.full(len(faces), -1, dtype=np.int64)
    order = np.lexsort((gi, fi))  # each face to one grid only: the first (by code) that holds it
    fi, gi = fi[order], gi[order]
    first = np.r_[True, fi[1:] != fi[:-1]] if len(fi) else np.zeros(0, bool)
    owner[fi[first]] = gi[first]
    # hairline gaps left where two communities' boundaries were snapped differently join the nearest grid
    tiny = (owner < 0) & (shapely.area(faces) < 1.0)
    if tiny.any():
        owner[tiny] = tree.nearest(rep[tiny])
    out = {}
    for k in np.unique(owner[owner >= 0]):
        out[codes[k]] = shapely.coverage_union_all(faces[owner == k])
    for c in codes:  # a grid that lost every face keeps its own geometry (never expected)
        out.setdefault(c, geoms[c])
    return out


def _exchange_outline_vertices(
    geoms: dict[str, shapely.Geometry], grid_size: float, community_of: dict[str, str]
) -> dict[str, shapely.Geometry]:
    """The fast path of :func:`match_vertices`: vertices of neighbouring communities' outlines snapped in."""
    codes = sorted(geoms)
    polys = np.array([geoms[c] for c in codes], dtype=object)
    comm = np.array([str(community_of.get(c, "")) for c in codes], dtype=object)
    names = sorted(set(comm.tolist()))
    outlines = np.array([shapely.boundary(shapely.coverage_union_all(polys[comm == k])) for k in names], dtype=object)
    xy, idx = shapely.get_coordinates(outlines, return_index=True)
    if not len(xy):
        return dict(geoms)
    owner = np.array(names, dtype=object)[idx]
    tol = 2 * grid_size
    gi, pi = shapely.STRtree(shapely.points(xy)).query(shapely.boundary(polys), predicate="dwithin", distance=tol)
    other = owner[pi] != comm[gi]
    gi, pi = gi[other], pi[other]
    out = dict(geoms)
    if not len(gi):
        return out
    order = np.lexsort((pi, gi))
    gi, pi = gi[order], pi[order]
    starts = np.r_[0, np.flatnonzero(gi[1:] != gi[:-1]) + 1]
    ends = np.r_[starts[1:], len(gi)]
    targets = np.array([shapely.multipoints(xy[pi[a:b]]) for a, b in zip(starts, ends)], dtype=object)
    snapped = shapely.snap(polys[gi[starts]], targets, tol)
    for g, geom in zip(gi[starts].tolist(), snapped):
        out[codes[g]] = geom
    return out


def _snap_buildings(ci: CommunityInput, config: AlignmentConfig) -> np.ndarray:
    g = ci.building_geoms
    return shapely.set_precision(g, config.grid_size_m) if len(g) else g


def _small_compounds(ci: CommunityInput, config: AlignmentConfig) -> np.ndarray:
    """Outlines of the compounds that must stay whole (households from buildings when there are any)."""
    g = ci.compound_geoms
    if not len(g):
        return g
    hh = np.asarray(ci.compound_households, dtype=float)
    if ci.has_buildings:
        pts = shapely.point_on_surface(ci.building_geoms)
        ci_, bi = shapely.STRtree(pts).query(g, predicate="contains_properly")
        hh = np.bincount(ci_, weights=ci.building_households[bi], minlength=len(g))
    return shapely.set_precision(g[hh <= config.large_households], config.grid_size_m)


def contiguous_faces(face_new: np.ndarray, p: Partition, fixed: frozenset[str] = frozenset()) -> np.ndarray:
    """Give every grid's faces one piece: detached pieces join the neighbour sharing most boundary.

    Atoms are moved whole and every grid is contiguous in atoms, but an atom can itself be in several
    pieces (a compound drawn as a multipolygon, a building's region in a concave compound, a compound
    cut in two by the community line). The piece of a grid holding most households (then most area)
    stays; each other piece joins the neighbouring grid it shares the longest boundary with. A piece
    touching no other grid (an island) stays where it is and is explained as ``disconnected``.
    """
    out = face_new.copy()
    n = len(out)
    if n < 2:
        return out
    lo, hi, length = p.face_adjacency if p.face_adjacency is not None else _face_adjacency(p.faces)
    for _ in range(20):
        lab = np.array(["" if g is None else str(g) for g in out], dtype=object)
        same = lab[lo] == lab[hi]
        comp = label_components(n, lab, lo, hi)
        hh = np.bincount(comp, weights=p.face_households, minlength=n)
        area = np.bincount(comp, weights=p.face_area, minlength=n)
        main: dict[str, int] = {}
        for c in sorted(set(comp.tolist()), key=lambda c: (-round(float(hh[c]), 6), -round(float(area[c]), 6), c)):
            main.setdefault(lab[c], c)
        detached = {int(c) for c in set(comp.tolist()) if lab[c] and main[lab[c]] != c and lab[c] not in fixed}
        if not detached:
            break
        shared: dict[int, dict[str, float]] = {}
        for a, b, ln in zip(lo[~same], hi[~same], length[~same]):
            for x, y in ((a, b), (b, a)):
                if comp[x] in detached and lab[y] and comp[y] == main[lab[y]] and lab[y] not in fixed:
                    d = shared.setdefault(int(comp[x]), {})
                    d[lab[y]] = d.get(lab[y], 0.0) + float(ln)
        if not shared:
            break
        for c, options in sorted(shared.items()):
            out[comp == c] = min(options.items(), key=lambda kv: (-kv[1], kv[0]))[0]
    return out


@dataclass
class _Fixed:
    """What every pass over one community shares: the grid-independent partition structure and the
    snapped outlines a split must not cut (snapped on first need: most communities never split)."""

    structure: Structure
    ci: CommunityInput
    config: AlignmentConfig

    @cached_property
    def buildings(self) -> np.ndarray:
        return _snap_buildings(self.ci, self.config)

    @cached_property
    def small_compounds(self) -> np.ndarray:
        return _small_compounds(self.ci, self.config)


def _align_once(
    ci: CommunityInput, config: AlignmentConfig, reserved: set[str], shared: _Fixed, p: Partition | None = None
) -> tuple[Partition, np.ndarray, np.ndarray, list[dict[str, Any]], list[dict]]:
    """One pass: partition (unless given), assignment, rebalancing, split/merge; new codes avoid ``reserved``."""
    if p is None:
        p = build_partition(ci, config, shared.structure)
    assign = fill_gaps(initial_assignment(p, ci.dedicated), p.atom_adjacency)
    assign = make_contiguous(assign, p)
    moves: list[dict] = []
    if config.rebalance:
        assign, moves = rebalance(assign, p, config, fixed=ci.dedicated)
    steps: list[dict[str, Any]] = []
    if config.split_merge:
        assign, steps, more = split_and_merge(
            assign,
            p,
            config,
            ci.code,
            sorted(set(ci.grid_codes) | reserved),
            fixed=ci.dedicated,
            building_geoms=lambda: shared.buildings,
            compound_geoms=lambda: shared.small_compounds,
        )
        moves += more
    face_new = assign[p.face_atom] if len(p.face_atom) else np.array([], dtype=object)
    face_new = contiguous_faces(face_new, p, fixed=ci.dedicated)
    return p, assign, face_new, steps, moves


def _dissolve(p: Partition, face_new: np.ndarray) -> dict[str, shapely.Geometry]:
    out = {}
    for g in sorted({x for x in face_new if x is not None}):
        u = shapely.coverage_union_all(p.faces[face_new == g])
        out[g] = shapely.get_geometry(u, 0) if shapely.get_num_geometries(u) == 1 else u
    return out


def _regridded(p: Partition, face_grid: np.ndarray, dedicated: frozenset[str]) -> Partition | None:
    """The partition that aligning the community again (its grids now ``face_grid``) would build, when
    it can be had without new geometry: ``p`` with each face in its new grid.

    Partitioning again uses the same community, compound and Voronoi lines and a subset of the grid
    lines, so each new face is a union of faces of ``p`` and the atoms (compounds with their land,
    building regions) are the same. Only land atoms of their own (one per face) would merge where an
    old grid line goes away; when such land lies outside dedicated grids (where it never moves) the
    caller partitions again (None).
    """
    land = p.atoms["kind"].to_numpy() == "land" if len(p.atoms) else np.zeros(0, bool)
    if land.any():
        on_land = land[p.face_atom]
        ded = np.array(sorted(dedicated), dtype=object)
        for grids in (p.face_grid[on_land], face_grid[on_land]):
            if not np.isin(np.array([str(g) for g in grids], dtype=object), ded).all():
                return None
    return replace(p, face_grid=np.asarray(face_grid, dtype=object).copy())


def align_community(ci: CommunityInput, config: AlignmentConfig, max_passes: int = 4) -> dict[str, Any]:
    """Align one community (metric CRS): the new grid per face, dissolved grids, moves and explanations.

    The steps are repeated on their own result until a pass changes nothing, so aligning an aligned
    community changes nothing (idempotence). Later passes work on a partition whose lines are a
    subset of the first one's, so their result maps back onto the first partition's faces; where
    that partition is the first one with each face in its new grid (:func:`_regridded`), no
    geometry is built again.
    """
    shared = _Fixed(partition_structure(ci, config), ci, config)
    p0, assign, face0, steps, moves = _align_once(ci, config, set(), shared)
    p = p0
    reserved = set(ci.grid_codes)
    unchanged = np.array([a == b for a, b in zip(p0.face_grid, face0)], dtype=bool) | (p0.face_area < 0.01)
    for _ in range(max_passes - 1 if not unchanged.all() else 0):  # an aligned community needs no check
        codes_now = sorted({g for g in face0 if g is not None})
        reserved |= set(codes_now)
        dedicated_now = frozenset(g for g in ci.dedicated if g in codes_now)
        again = _regridded(p0, face0, dedicated_now)
        if again is not None:
            ci2 = replace(ci, grid_codes=codes_now, dedicated=dedicated_now)
            _, assign2, face2, steps2, moves2 = _align_once(ci2, config, reserved, shared, again)
            if (np.array([a == b for a, b in zip(face0, face2)], dtype=bool) | (p0.face_area < 0.01)).all():
                break
            face0, p, assign = face2, again, assign2
            steps += steps2
            moves += moves2
            continue
        geoms_now = _dissolve(p0, face0)
        ci2 = replace(
            ci,
            grid_codes=list(geoms_now),
            grid_geoms=np.array(list(geoms_now.values()), dtype=object),
            dedicated=dedicated_now,
        )
        p2, assign2, face2, steps2, moves2 = _align_once(ci2, config, reserved, shared)
        same = np.array([a == b for a, b in zip(p2.face_grid, face2)], dtype=bool) | (p2.face_area < 0.01)
        if same.all():
            break
        # every first-pass face lies in one face of this pass
        rep = shapely.point_on_surface(p0.faces)
        fi, fj = shapely.STRtree(p2.faces).query(rep, predicate="within")
        mapped = face0.copy()
        mapped[fi] = face2[fj]
        face0, p, assign = mapped, p2, assign2
        steps += steps2
        moves += moves2
    face_new = face0
    p_final = p
    p = p0
    geoms: dict[str, shapely.Geometry] = {}
    explanations = []
    hh = p_final.atoms["households"].to_numpy() if len(p_final.atoms) else np.zeros(0)
    members: dict[str, list[int]] = {}
    for a, g in enumerate(assign):
        if g is not None:
            members.setdefault(g, []).append(a)
    total = float(hh.sum())
    for g in sorted(members):
        geoms[g] = shapely.coverage_union_all(p.faces[face_new == g])
        if shapely.get_num_geometries(geoms[g]) == 1 and geoms[g].geom_type == "MultiPolygon":
            geoms[g] = shapely.get_geometry(geoms[g], 0)
        if shapely.get_num_geometries(geoms[g]) > 1:
            explanations.append(
                {
                    "grid": g,
                    "community_code": ci.code,
                    "households": int(round(hh[members[g]].sum())),
                    "issue": "disconnected",
                    "reason_zh": "网格由不相连的几块组成",
                    "reason": "the grid is in several pieces that no neighbour can take",
                }
            )
        basic = [x for x in members if x not in ci.dedicated]
        e = (
            None
            if g in ci.dedicated
            else _explain(g, float(hh[members[g]].sum()), members[g], p_final, ci, total, len(basic), config)
        )
        if e:
            explanations.append(e)
    explanations += list(ci.notes)
    merged = {st["grid"]: st["into"] for st in steps if st["op"] == "merge"}
    for g in sorted(set(ci.grid_codes) - set(members)):
        if g in merged:
            explanations.append(
                {
                    "grid": g,
                    "community_code": ci.code,
                    "households": 0,
                    "issue": "merged",
                    "into": merged[g],
                    "reason_zh": f"网格户数不足，并入相邻的最小网格 {merged[g]}",
                    "reason": f"the grid was under the household range and is merged into its smallest "
                    f"neighbour {merged[g]}",
                }
            )
            continue
        explanations.append(
            {
                "grid": g,
                "community_code": ci.code,
                "households": 0,
                "issue": "removed",
                "reason_zh": "该网格的全部小区归入相邻网格，网格被合并",
                "reason": "every compound of this grid went to the grid holding most of its households; "
                "the grid is merged into its neighbours",
            }
        )
    if any(g is None for g in assign):
        explanations.append(
            {
                "grid": None,
                "community_code": ci.code,
                "households": 0,
                "issue": "uncovered",
                "reason_zh": "社区内有区域不与任何网格相邻",
                "reason": "part of the community touches no grid",
            }
        )
    return {
        "partition": p,
        "face_new": face_new,
        "geoms": geoms,
        "moves": moves,
        "explanations": explanations,
        "restructured": [st | {"community_code": ci.code} for st in steps],
    }


_CLOSED = {"closed", "done", "resolved", "cancelled", "办结", "已办结", "已关闭", "关闭"}


def _community_inputs(compounds, grids, buildings, communities, crs, config, roads=None) -> list[CommunityInput]:
    areas, gcomm = community_areas(grids, communities, crs, config.grid_size_m)
    grid_rows: dict[str, list[int]] = {}  # positions of each community's grids, in order
    for i, c in enumerate(gcomm.tolist()):
        grid_rows.setdefault(c, []).append(i)
    codes = sorted(c for c in areas if c in grid_rows or communities is not None)
    area_geoms = np.array([areas[c] for c in codes], dtype=object)
    gg = metric(grids, crs)
    gcodes = grids["code"].astype(str).to_numpy()
    kinds = text_column(grids, "kind")
    dedicated = frozenset(str(c) for c, k in zip(gcodes, kinds) if k == "dedicated")
    cg = metric(compounds, crs) if compounds is not None and len(compounds) else np.array([], dtype=object)
    ccodes = compounds["code"].astype(str).to_numpy() if len(cg) else np.array([], dtype=object)
    chh = households(compounds) if len(cg) else np.zeros(0, np.int64)
    c_at = _assign_to_areas(cg, list(ccodes), area_geoms, points=False)
    crossing = _crossing_compounds(cg, ccodes, c_at, area_geoms, codes, config)
    if buildings is not None and len(buildings):
        bg = metric(buildings, crs)
        bcodes = buildings["code"].astype(str).to_numpy()
        bhh = households(buildings)
        b_at = _assign_to_areas(bg, list(bcodes), area_geoms, points=True)
        # the compound of each building, city-wide (a building may name a compound of another community)
        b_comp = building_compounds(text_column(buildings, "compound_code"), bg, ccodes, cg)
    else:
        bg, bcodes, bhh, b_at = np.array([], dtype=object), np.array([], dtype=object), np.zeros(0, np.int64), None
        b_comp = np.zeros(0, dtype=np.int64)
    c_rows = _rows_by_area(c_at, len(codes))
    b_rows = _rows_by_area(b_at, len(codes)) if b_at is not None else [np.zeros(0, np.int64)] * len(codes)
    out = []
    for k, c in enumerate(codes):
        gm = np.asarray(grid_rows.get(c, []), dtype=np.int64)
        cm = c_rows[k]
        bm = b_rows[k]
        local = np.full(len(ccodes) + 1, -1, dtype=np.int64)  # city compound index (-1 last) -> this community's
        local[cm] = np.arange(len(cm))
        out.append(
            CommunityInput(
                code=c,
                area=area_geoms[k],
                grid_codes=list(gcodes[gm]),
                grid_geoms=gg[gm],
                compound_codes=list(ccodes[cm]),
                compound_geoms=cg[cm],
                compound_households=chh[cm],
                building_codes=list(bcodes[bm]) if len(bm) else [],
                building_geoms=bg[bm] if len(bm) else np.array([], dtype=object),
                building_households=bhh[bm] if len(bm) else np.zeros(0, np.int64),
                building_compound=local[b_comp[bm]] if len(bm) else np.zeros(0, np.int64),
                dedicated=frozenset(g for g in gcodes[gm] if g in dedicated),
                notes=[x for x in crossing if x["community_code"] == c],
                roads=roads_near(roads, area_geoms[k]) if roads is not None else None,
            )
        )
    return out


def _rows_by_area(at: np.ndarray, n: int) -> list[np.ndarray]:
    """For each area 0..n-1, the positions (ascending) of the items assigned to it in ``at``."""
    order = np.argsort(at, kind="stable")
    bounds = np.searchsorted(at[order], np.arange(n + 1))
    return [order[bounds[k] : bounds[k + 1]] for k in range(n)]


def _crossing_compounds(
    cg: np.ndarray, ccodes: np.ndarray, c_at: np.ndarray, areas: np.ndarray, codes: list[str], config: AlignmentConfig
) -> list[dict[str, Any]]:
    """Compounds reaching into another community: alignment cannot keep those whole (explained)."""
    out: list[dict[str, Any]] = []
    mine = np.flatnonzero(c_at >= 0)
    if not len(mine):
        return out
    inside = shapely.contains_properly(areas[c_at[mine]], cg[mine])
    for i in mine[~inside]:
        total = float(shapely.area(cg[i]))
        outside = total - float(shapely.area(shapely.intersection(cg[i], areas[c_at[i]])))
        if outside > max(config.sliver_area_m2, config.sliver_share * total):
            out.append(
                {
                    "grid": None,
                    "compound": str(ccodes[i]),
                    "community_code": codes[c_at[i]],
                    "households": 0,
                    "issue": "crosses_community",
                    "reason_zh": f"小区 {ccodes[i]} 有 {outside:.0f} m² 在本社区之外，需先调整社区边界",
                    "reason": f"compound {ccodes[i]} reaches {outside:.0f} m² into another community; "
                    "alignment keeps grids inside their community: adjust the community boundary "
                    "first",
                }
            )
    return out


def _face_compounds(p: Partition, ci: CommunityInput, faces: np.ndarray) -> list[str]:
    groups = {int(k) for k in p.face_group[faces] if k >= 0}
    return sorted({ci.compound_codes[i] for k in groups for i in p.groups[k]})


def _impact_rows(ci: CommunityInput, res: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    p: Partition = res["partition"]
    old = np.array(["" if g is None else g for g in p.face_grid], dtype=object)
    new = np.array(["" if g is None else g for g in res["face_new"]], dtype=object)
    nb = np.array([len(b) for b in p.face_buildings])
    changes = []
    # faces below 1 cm² (re-noding noise where lines meet) are not reported as changes
    moved = (old != new) & (p.face_area >= 0.01)
    pairs = sorted({(o, n) for o, n in zip(old[moved], new[moved])})
    for o, n in pairs:
        idx = np.flatnonzero(moved & (old == o) & (new == n))
        changes.append(
            {
                "community_code": ci.code,
                "from_grid": o or None,
                "to_grid": n or None,
                "area_m2": round(float(p.face_area[idx].sum()), 3),
                "households": int(round(p.face_households[idx].sum())),
                "compounds": ",".join(_face_compounds(p, ci, idx)),
                "buildings": int(nb[idx].sum()),
                "geometry": shapely.coverage_union_all(p.faces[idx]),
            }
        )
    impact = []
    for g in sorted(set(ci.grid_codes) | set(res["geoms"])):
        before, after = old == g, new == g
        gained, lost = after & ~before, before & ~after
        impact.append(
            {
                "grid": g,
                "community_code": ci.code,
                "area_before_m2": round(float(p.face_area[before].sum()), 3),
                "area_after_m2": round(float(p.face_area[after].sum()), 3),
                "area_gained_m2": round(float(p.face_area[gained].sum()), 3),
                "area_lost_m2": round(float(p.face_area[lost].sum()), 3),
                "households_before": int(round(p.face_households[before].sum())),
                "households_after": int(round(p.face_households[after].sum())),
                "households_gained": int(round(p.face_households[gained].sum())),
                "households_lost": int(round(p.face_households[lost].sum())),
                "compounds_in": _face_compounds(p, ci, np.flatnonzero(gained)),
                "compounds_out": _face_compounds(p, ci, np.flatnonzero(lost)),
                "buildings_in": int(nb[gained].sum()),
                "buildings_out": int(nb[lost].sum()),
                "removed": g not in res["geoms"],
            }
        )
    return changes, impact


def _ticket_moves(tickets: gpd.GeoDataFrame, before: gpd.GeoDataFrame, after: gpd.GeoDataFrame) -> pd.DataFrame:
    """Open tickets whose point lies in a different grid after the proposal."""
    t = require_frame(tickets, "tickets", columns=())
    if "status" in t.columns:
        t = t[~t["status"].astype(str).str.lower().isin(_CLOSED)]
    pts = shapely.point_on_surface(t.geometry.values)

    def locate(grids: gpd.GeoDataFrame) -> np.ndarray:
        codes = grids["code"].astype(str).to_numpy()
        out = np.array([None] * len(pts), dtype=object)
        if len(codes) and len(pts):
            ti, gi = shapely.STRtree(grids.geometry.values).query(pts, predicate="intersects")
            order = np.lexsort((codes[gi], ti))
            ti, gi = ti[order], gi[order]
            first = np.r_[True, ti[1:] != ti[:-1]]
            out[ti[first]] = codes[gi[first]]
        return out

    b, a = locate(before), locate(after)
    ids = t["code"].astype(str).to_numpy() if "code" in t.columns else t.index.astype(str).to_numpy()
    moved = b != a
    return pd.DataFrame({"ticket": ids[moved], "from_grid": b[moved], "to_grid": a[moved]})


def whole_households(exact: dict[str, float]) -> dict[str, int]:
    """Whole households per grid adding up to the community's total (largest remainders).

    Without buildings, a compound cut by the community line or drawn in parts shares its households
    by area, so grids hold fractions; rounding each on its own can lose or invent a household.
    """
    if not exact:
        return {}
    codes = sorted(exact)
    vals = np.array([exact[c] for c in codes])
    base = np.floor(vals + 1e-6)
    left = int(round(float(vals.sum()))) - int(base.sum())
    order = np.lexsort((np.arange(len(codes)), -(vals - base)))
    base[order[: max(0, left)]] += 1
    return {c: int(b) for c, b in zip(codes, base)}


def _community_job(args: tuple[CommunityInput, AlignmentConfig]) -> dict[str, Any]:
    """Align one community and keep only what the city-wide result needs (small to send between processes)."""
    ci, config = args
    res = align_community(ci, config)
    p: Partition = res["partition"]
    changes, impact = _impact_rows(ci, res)
    return {
        "geoms": res["geoms"],
        "households": whole_households({g: float(p.face_households[res["face_new"] == g].sum()) for g in res["geoms"]}),
        "changes": changes,
        "impact": impact,
        "explanations": res["explanations"],
        "moves": [m | {"community_code": ci.code} for m in res["moves"]],
        "restructured": res["restructured"],
    }


def _run_communities(inputs: list[CommunityInput], config: AlignmentConfig, workers: int | None):
    """``(position, result of :func:`_community_job`)`` for every input, in parallel processes when worth
    it (then the largest communities first, so no process is left with a long one at the end)."""
    import os

    if workers is None:
        workers = min(2, os.cpu_count() or 1) if len(inputs) >= 40 else 1
    jobs = [(ci, config) for ci in inputs]
    if workers <= 1:
        yield from enumerate(map(_community_job, jobs))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if "fork" not in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("spawn")
        chunksize = max(1, min(16, len(jobs) // (4 * workers)))
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            yield from enumerate(pool.map(_community_job, jobs, chunksize=chunksize))
        return
    # forked workers find the inputs in their copy of the parent's memory: only positions are sent
    # (keyed, so alignments running in several threads of one process do not mix their inputs)
    token = next(_FORK_TOKENS)
    _FORKED_JOBS[token] = jobs
    size = [len(ci.building_codes) + 4 * len(ci.compound_codes) + 4 * len(ci.grid_codes) for ci in inputs]
    order = sorted(range(len(jobs)), key=lambda i: (-size[i], i))
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
            yield from zip(order, pool.map(_forked_job, [(token, i) for i in order], chunksize=2))
    finally:
        _FORKED_JOBS.pop(token, None)


#: the jobs of the pools being run, by token (read by forked workers through :func:`_forked_job`)
_FORKED_JOBS: dict[int, list[tuple[CommunityInput, AlignmentConfig]]] = {}
_FORK_TOKENS = itertools.count()


def _forked_job(job: tuple[int, int]) -> dict[str, Any]:
    token, i = job
    return _community_job(_FORKED_JOBS[token][i])


def _with_new_grids(
    keep: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, steps: list[dict[str, Any]], alive: set[str]
) -> gpd.GeoDataFrame:
    """Add a row per grid created by a split and still in ``alive`` (a later merge may have removed it):
    the split grid's fields, a new code and name, no workers. A grid split twice, or a part of a
    split grid split again, names its parts after its own name."""
    rows = []
    done: set[str] = set(keep["code"].astype(str))
    position: dict[str, int] = {}
    for i, c in enumerate(grids["code"].astype(str)):
        position.setdefault(c, i)
    made: dict[str, dict[str, Any]] = {}  # rows of grids created here, by code

    def source(code: str) -> dict[str, Any] | None:
        if code in made:
            return dict(made[code])
        return grids.iloc[position[code]].to_dict() if code in position else None

    for st in steps:
        if st["op"] != "split":
            continue
        found = source(st["grid"])
        parent = st["grid"] if found is not None else None
        row = found or {}
        base = str(row.get("name") or st["grid"]) if parent else st["grid"]
        row.update(
            {
                "code": st["new_grid"],
                "name": f"{base}（拆分）",
                "kind": "basic",
                "dedicated_for": None,
                "workers": None,
                "population": 0,
                "community_code": st["community_code"],
            }
        )
        row = {k: v for k, v in row.items() if k in keep.columns}
        made[st["new_grid"]] = row  # a grid split twice names its own part
        if st["new_grid"] in alive and st["new_grid"] not in done:
            rows.append(row)
            done.add(st["new_grid"])
    if not rows:
        return keep
    new = gpd.GeoDataFrame(pd.DataFrame(rows, columns=keep.columns), geometry=keep.geometry.name, crs=keep.crs)
    return gpd.GeoDataFrame(pd.concat([keep, new], ignore_index=True), geometry=keep.geometry.name, crs=keep.crs)


def propose_alignment(
    compounds: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None = None,
    communities: gpd.GeoDataFrame | None = None,
    tickets: gpd.GeoDataFrame | None = None,
    config: AlignmentConfig | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    roads: gpd.GeoDataFrame | None = None,
) -> Proposal:
    """Propose grids whose lines follow compound boundaries, for every community.

    Parameters
    ----------
    compounds, grids : GeoDataFrame
        Layer frames in EPSG:4326 (``code``; ``households``, ``community_code`` used when present).
    buildings : GeoDataFrame, optional
        Buildings with ``households``: households are then counted per building and large compounds
        are split along building lines.
    communities : GeoDataFrame, optional
        The areas to cover; without them, the union of each community's grids.
    tickets : GeoDataFrame, optional
        Ticket points (``status`` optional): open tickets that would change grid are counted.
    config : AlignmentConfig, optional
    on_progress : callable, optional
        Called as ``on_progress(done, total)`` after each community.
    workers : int, optional
        Processes to align communities in parallel (default: up to 2 from 40 communities on);
        the result does not depend on it.
    roads : GeoDataFrame, optional
        Road centre lines in EPSG:4326 (e.g. :func:`gridgis.alignment.roads.read_roads`): open land
        is divided along those of rank ≤ ``config.road_max_rank`` first (:mod:`gridgis.alignment.roads`).

    Returns
    -------
    Proposal
    """
    config = config or AlignmentConfig()
    grids = require_frame(grids, "grids")
    compounds = require_frame(compounds, "compounds")
    buildings = require_frame(buildings, "buildings", allow_none=True)
    communities = require_frame(communities, "communities", allow_none=True)
    if not len(grids):
        raise ValidationError("grids: the layer is empty; there is nothing to align")
    crs = metric_crs_for(grids)
    road_lines = road_cut_lines(roads, crs, config) if roads is not None else None
    inputs = _community_inputs(compounds, grids, buildings, communities, crs, config, road_lines)
    new_geoms: dict[str, shapely.Geometry] = {}
    new_hh: dict[str, int] = {}
    change_rows, impact_rows, explanations, moves, restructured = [], [], [], [], []
    grids_of: dict[str, list[str]] = {}  # the proposed grids of each community (new ones from splits too)
    community_grids: list[list[str]] = []
    results: list[dict[str, Any]] = [{} for _ in inputs]
    for k, (i, out) in enumerate(_run_communities(inputs, config, workers)):
        results[i] = out
        if on_progress:
            on_progress(k + 1, len(inputs))
    for ci, out in zip(inputs, results):  # in input order, whatever order the processes finished in
        new_geoms.update(out["geoms"])
        grids_of[ci.code] = list(out["geoms"])
        community_grids.append(sorted(out["geoms"]))
        new_hh.update(out["households"])
        change_rows += out["changes"]
        impact_rows += out["impact"]
        explanations += out["explanations"]
        moves += out["moves"]
        restructured += out["restructured"]
    aligned = new_geoms
    if len(inputs) > 1:
        owner = {g: ci.code for ci, out in zip(inputs, community_grids) for g in out}
        new_geoms = match_vertices(aligned, config.grid_size_m, community_of=owner)

    def stored(new_geoms: dict[str, shapely.Geometry]) -> gpd.GeoDataFrame:
        keep = _with_new_grids(
            grids[grids["code"].astype(str).isin(new_geoms)].copy(), grids, restructured, set(new_geoms)
        )
        codes = keep["code"].astype(str).tolist()
        geoms = [new_geoms[c] for c in codes]
        # written with the 7 decimals of storage (exports, API answers), every grid stays valid
        written = storable(to_storage_series(geoms, crs, index=keep.index).values, crs)
        keep = keep.set_geometry(written, crs="EPSG:4326")
        keep["households"] = [new_hh[c] for c in codes]
        keep["area_m2"] = np.round(shapely.area(np.asarray(geoms, dtype=object)), 3)
        return keep.sort_values("code").reset_index(drop=True)

    keep = stored(new_geoms)
    target = (
        gpd.GeoDataFrame(geometry=to_storage_series([ci.area for ci in inputs], crs).values, crs="EPSG:4326")
        if communities is None
        else communities
    )
    # the union must equal each community within 1 m², so the city-wide tolerance is 1 m² per community
    cov_after = validate_coverage(keep, target, tolerance_m2=max(1.0, float(len(inputs))), metric_crs=crs)
    if len(inputs) > 1 and not cov_after.ok:  # the outline vertices alone did not do: re-node everything
        new_geoms = match_vertices(aligned, config.grid_size_m)
        keep = stored(new_geoms)
        cov_after = validate_coverage(keep, target, tolerance_m2=max(1.0, float(len(inputs))), metric_crs=crs)
    changes = gpd.GeoDataFrame(
        change_rows,
        columns=[
            "community_code",
            "from_grid",
            "to_grid",
            "area_m2",
            "households",
            "compounds",
            "buildings",
            "geometry",
        ],
        geometry=to_storage_series([r["geometry"] for r in change_rows], crs).values if change_rows else [],
        crs="EPSG:4326",
    )
    impact = pd.DataFrame(impact_rows)
    if tickets is not None and len(impact):
        tm = _ticket_moves(tickets, grids, keep)
        out_n = tm.groupby("from_grid").size() if len(tm) else pd.Series(dtype=int)
        in_n = tm.groupby("to_grid").size() if len(tm) else pd.Series(dtype=int)
        impact["tickets_out"] = impact["grid"].map(out_n).fillna(0).astype(int)
        impact["tickets_in"] = impact["grid"].map(in_n).fillna(0).astype(int)
    area = communities if communities is not None else None
    cov_before = validate_coverage(grids, area, metric_crs=crs)
    differences = {}
    for ci in inputs:
        mine = [new_geoms[g] for g in grids_of.get(ci.code, []) if g in new_geoms]
        # the grids of a community are an exact coverage: their union is a coverage union
        union = shapely.coverage_union_all(np.array(mine, dtype=object)) if mine else shapely.Polygon()
        differences[ci.code] = round(float(shapely.area(shapely.symmetric_difference(union, ci.area))), 3)
    return Proposal(
        grids=keep,
        changes=changes,
        impact=impact,
        explanations=explanations,
        coverage_before=cov_before,
        coverage_after=cov_after,
        config=config,
        moves=moves,
        community_difference_m2=differences,
        restructured=restructured,
        compactness=compactness_summary(grids, keep, crs),
    )
