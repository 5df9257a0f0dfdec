"""Validate proposed edits against the layers they change, before anything is stored.

:func:`validate_edits` applies the edits to copies of the frames and returns every problem
found, each located (layer, feature, a lon/lat point): per-feature rules (code, attributes,
geometry type and validity with GEOS's reason, China's extent), attributes consistent with
the code, inside the parent, no overlap with siblings, no new gap in a coverage (grids fill
their community, communities their street, micro-grids their grid) and no orphaned children.
Pure: frames in (EPSG:4326), problems out; areas in the metric CRS of the data.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from gridgis import codes
from gridgis.crs import STORAGE_CRS, STORAGE_DECIMALS, metric_crs_for
from gridgis.editing.changes import Edit, _by_code, apply_edits
from gridgis.errors import GridGISError, Problem
from gridgis.layers import get_spec
from gridgis.layers.base import normalize_frame, validate_frame
from gridgis.layers.coverage import (
    MIN_AREA_M2,
    CoverageCheck,
    check_coverage,
    detached_parts,
    outside_parent,
    overlay,
    polygonal_part,
    project,
    takes_land,
)

#: child layer -> parent layer whose area its features must cover without gaps
COVERAGE_OF = {"grids": "communities", "communities": "streets", "micro_grids": "grids"}
#: parent layer -> the child layer that must still cover it when its outline changes
MUST_STAY_COVERED = {"communities": "grids", "streets": "communities"}
#: parent layer -> child layers that point at it (a parent with children cannot be deleted)
CHILDREN_OF = {
    "streets": ("communities",),
    "communities": ("grids", "compounds"),
    "grids": ("micro_grids",),
    "compounds": ("buildings",),
}


@dataclass(frozen=True)
class ValidationOptions:
    """Tolerances, in square metres of the metric CRS: slivers below them are not reported.

    The default is the one coverage rule's (:data:`gridgis.layers.coverage.MIN_AREA_M2`), so an edit
    is refused for exactly what ``gridgis check`` would report.
    """

    area_tolerance_m2: float = MIN_AREA_M2


def parent_of(layer: str, code: str) -> tuple[str, str] | None:
    """The (layer, code) of the feature that must contain ``code``, or None for a street.

    >>> parent_of("grids", "110105001001003")
    ('communities', '110105001001')
    >>> parent_of("buildings", "110105001001Q000B004")
    ('communities', '110105001001')
    >>> parent_of("stations", "110105001000S001")
    ('streets', '110105001000')
    """
    if not codes.is_valid_code(layer, code):
        return None
    if layer == "stations":
        area = codes.area_of(code)
        return ("streets", area) if codes.is_street_code(area) else ("communities", area)
    parent = codes.parent_code(layer, code)
    if parent is None:
        return None
    if layer == "buildings":
        return ("communities", parent) if len(parent) == 12 else ("compounds", parent)
    return (get_spec(layer).parent_layer or "", parent)


def expected_attributes(layer: str, code: str) -> dict[str, str | None]:
    """The attribute values implied by ``code`` (the parent-code fields).

    >>> expected_attributes("grids", "110105001001003")
    {'community_code': '110105001001'}
    """
    if layer == "communities":
        return {"street_code": codes.street_of(code)}
    if layer in ("grids", "compounds"):
        return {"community_code": codes.area_of(code)}
    if layer == "micro_grids":
        return {"grid_code": codes.grid_of(code)}
    if layer == "stations":
        return {"area_code": codes.area_of(code)}
    if layer == "buildings":
        return {"community_code": codes.area_of(code), "compound_code": codes.compound_of(code)}
    return {}


def validate_edits(
    frames: dict[str, gpd.GeoDataFrame], edits: list[Edit], options: ValidationOptions | None = None
) -> list[Problem]:
    """Every problem the edits would cause; an empty list means they may be stored.

    ``frames`` are the current layers (EPSG:4326) the checks need: the edited layers, their
    parent layers and, for deletes, their child layers; a missing layer's checks are skipped.

    >>> validate_edits({}, [])
    []
    """
    options = options or ValidationOptions()
    problems: list[Problem] = []
    try:
        after = apply_edits(frames, edits)
    except GridGISError as exc:
        return [Problem(exc.message, layer=None, kind="bad_edit")] + exc.problems
    before = {k: _by_code(v) for k, v in frames.items()}
    changed = [e for e in edits if e.op != "delete"]
    metric = _metric_crs(after, edits)
    problems += _feature_problems(changed)
    geometric = [e for e in changed if _usable(e)]
    for edit in geometric:
        problems += _parent_problems(edit, after, metric, options)
    problems += _overlap_problems(geometric, after, metric, options)
    problems += _coverage_problems(edits, before, after, metric, options)
    problems += _contiguity_problems(geometric, before, after, metric)
    for edit in edits:
        if edit.op == "delete":
            problems += _orphan_problems(edit, after)
    for edit in geometric:
        problems += _children_problems(edit, after, metric, options)
    return problems


def _usable(edit: Edit) -> bool:
    """Geometry that the spatial checks can measure: present, valid, inside China, with a valid code."""
    from gridgis.crs import CHINA_BOUNDS

    g = edit.geometry
    if g is None or shapely.is_empty(g) or not shapely.is_valid(g) or not codes.is_valid_code(edit.layer, edit.code):
        return False
    x0, y0, x1, y1 = g.bounds
    return x0 >= CHINA_BOUNDS[0] and y0 >= CHINA_BOUNDS[1] and x1 <= CHINA_BOUNDS[2] and y1 <= CHINA_BOUNDS[3]


def _metric_crs(frames: dict[str, gpd.GeoDataFrame], edits: list[Edit]) -> str:
    geoms = [e.geometry for e in edits if e.geometry is not None and not shapely.is_empty(e.geometry)]
    for e in edits:
        frame = frames.get(e.layer)
        if not geoms and frame is not None and len(frame):
            geoms = list(frame.geometry.values[:1])
    if not geoms:
        return "EPSG:4548"
    try:
        return metric_crs_for(gpd.GeoSeries(geoms, crs=STORAGE_CRS))
    except GridGISError:
        return "EPSG:4548"


_LOCK = threading.Lock()
_TRANSFORMERS: dict[str, pyproj.Transformer] = {}


def _project(geom: shapely.Geometry, metric: str) -> shapely.Geometry:
    """``geom`` (lon/lat) in ``metric``; one cached transformer per CRS, used under a lock."""
    with _LOCK:
        tr = _TRANSFORMERS.get(metric)
        if tr is None:
            tr = _TRANSFORMERS[metric] = pyproj.Transformer.from_crs(STORAGE_CRS, metric, always_xy=True)
        return shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def _area(geom: shapely.Geometry | None, metric: str) -> float:
    """Area of a lon/lat geometry in m², measured in ``metric``."""
    if geom is None or shapely.is_empty(geom):
        return 0.0
    return float(shapely.area(_project(geom, metric)))


def _outside(child: shapely.Geometry, parent: shapely.Geometry, metric: str) -> tuple[shapely.Geometry, float]:
    """The part of ``child`` beyond the one within-parent rule (:func:`gridgis.layers.coverage.outside_parent`),
    in lon/lat, and its area (0 when it is within the rule)."""
    if child.geom_type == "Point":
        return shapely.Point(), 0.0
    parts, areas = outside_parent([project(child, STORAGE_CRS, metric)], [project(parent, STORAGE_CRS, metric)])
    if not areas[0] > 0:
        return shapely.Point(), 0.0
    return project(parts[0], metric, STORAGE_CRS), float(areas[0])


def _point(geom: shapely.Geometry) -> tuple[float, float]:
    p = shapely.point_on_surface(geom)
    return (round(p.x, STORAGE_DECIMALS), round(p.y, STORAGE_DECIMALS))


def _feature_problems(edits: list[Edit]) -> list[Problem]:
    """Per-feature rules, checked in one frame per layer; a layer whose frame cannot be read is
    checked feature by feature so each problem names its feature."""
    problems: list[Problem] = []
    by_layer: dict[str, list[Edit]] = {}
    for edit in edits:
        by_layer.setdefault(edit.layer, []).append(edit)
    for layer, group in by_layer.items():
        spec = get_spec(layer)
        frame = gpd.GeoDataFrame(
            [{"code": e.code, **e.properties} for e in group], geometry=[e.geometry for e in group], crs=STORAGE_CRS
        )
        try:
            problems += validate_frame(spec, normalize_frame(spec, frame))
        except GridGISError:
            for edit in group:
                one = gpd.GeoDataFrame(
                    [{"code": edit.code, **edit.properties}], geometry=[edit.geometry], crs=STORAGE_CRS
                )
                try:
                    problems += validate_frame(spec, normalize_frame(spec, one))
                except GridGISError as exc:
                    found = exc.problems or [Problem(exc.message, kind="bad_value")]
                    for p in found:
                        p.feature, p.layer = p.feature or edit.code, layer
                    problems += found
        for edit in group:
            problems += _attribute_problems(edit)
    return problems


def _attribute_problems(edit: Edit) -> list[Problem]:
    spec = get_spec(edit.layer)
    problems = []
    for key, want in expected_attributes(edit.layer, edit.code).items():
        have = edit.properties.get(key)
        have = None if have in ("", None) else str(have)
        if have != want:
            problems.append(
                Problem(
                    f"{key} ({spec.field(key).label_zh}) is {have!r} but the code says {want!r}; "
                    f"set {key} to {want!r} or change the code",
                    feature=edit.code,
                    layer=edit.layer,
                    kind="inconsistent_code",
                )
            )
    return problems


def _parent_problems(
    edit: Edit, after: dict[str, gpd.GeoDataFrame], metric: str, options: ValidationOptions
) -> list[Problem]:
    parent = parent_of(edit.layer, edit.code)
    if parent is None or parent[0] not in after:
        return []
    player, pcode = parent
    frame = after[player]
    if pcode not in frame.index:
        return [
            Problem(
                f"its parent {player} {pcode} does not exist; create the parent first or fix the code",
                feature=edit.code,
                layer=edit.layer,
                kind="missing_parent",
            )
        ]
    pgeom = frame.at[pcode, "geometry"]
    if pgeom is None or not shapely.is_valid(pgeom) or edit.geometry is None:
        return []
    if (
        edit.geometry is not None
        and edit.geometry.geom_type == "Point"
        and not shapely.intersects(pgeom, edit.geometry)
    ):
        return [
            Problem(
                f"the point lies outside its parent {player} {pcode}",
                feature=edit.code,
                layer=edit.layer,
                kind="outside_parent",
                where=_point(edit.geometry),
            )
        ]
    outside, area = _outside(edit.geometry, pgeom, metric)
    if area > 0:
        return [
            Problem(
                f"{area:.1f} m² lie outside its parent {player} {pcode}; keep the boundary inside the parent",
                feature=edit.code,
                layer=edit.layer,
                kind="outside_parent",
                where=_point(outside),
                details={"area_m2": round(area, 2), "parent": pcode},
            )
        ]
    return []


def _overlap_problems(
    edits: list[Edit], after: dict[str, gpd.GeoDataFrame], metric: str, options: ValidationOptions
) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[str, ...]] = set()
    for edit in edits:
        if get_spec(edit.layer).geometry != "polygon" or edit.layer in COVERAGE_OF:
            continue  # overlaps within a coverage are found by the one coverage rule (_coverage_problems)
        frame = after[edit.layer]
        family = _family(edit.layer, edit.code)
        others = frame[
            np.array([str(c) != edit.code and _family(edit.layer, str(c)) == family for c in frame.index], dtype=bool)
        ]
        if not len(others):
            continue
        hits = others[others.geometry.intersects(edit.geometry)]
        for code, geom in zip(hits.index, hits.geometry.values):
            low, high = sorted((edit.code, str(code)))
            key = (edit.layer, low, high)
            if key in seen or geom is None or not shapely.is_valid(geom):
                continue
            seen.add(key)
            inter = shapely.intersection(edit.geometry, geom)
            area = _area(inter, metric)
            if area > options.area_tolerance_m2:
                problems.append(
                    Problem(
                        f"overlaps {edit.layer} {code} by {area:.1f} m²; siblings must not overlap",
                        feature=edit.code,
                        layer=edit.layer,
                        kind="overlap",
                        where=_point(inter),
                        details={"other": str(code), "area_m2": round(area, 2)},
                    )
                )
    return problems


def _coverage_problems(
    edits: list[Edit],
    before: dict[str, gpd.GeoDataFrame],
    after: dict[str, gpd.GeoDataFrame],
    metric: str,
    options: ValidationOptions,
) -> list[Problem]:
    """What the one coverage rule (:func:`gridgis.layers.coverage.check_coverage`) finds after the edits
    in every coverage they touch and did not find before: mismatched edges (a sub-millimetre spike
    too), new gaps, and a union that drifts from its parent. Overlaps are reported by
    :func:`_overlap_problems` (kind ``overlap``), so edges of overlapping features are not repeated."""
    problems: list[Problem] = []
    parents: set[tuple[str, str, str, bool]] = set()
    for edit in edits:
        player = COVERAGE_OF.get(edit.layer)
        parent = parent_of(edit.layer, edit.code)
        if player is None or parent is None or player not in after:
            continue
        parents.add((edit.layer, player, parent[1], False))
    for edit in edits:  # a parent whose outline changes must stay covered by its children
        child = MUST_STAY_COVERED.get(edit.layer)
        if edit.op == "replace" and child is not None and child in after:
            parents.add((child, edit.layer, edit.code, True))
    # a gap is area of the parent its children covered before and do not now; when the parent's own
    # outline changed and it must stay covered, area it gained counts as uncovered too
    flags: dict[tuple[str, str, str], bool] = {}
    for layer, player, pcode, grown in parents:
        flags[(layer, player, pcode)] = flags.get((layer, player, pcode), False) or grown
    moved = {(e.layer, e.code) for e in edits if e.op == "delete" or _geometry_changed(e, before)}
    for (layer, player, pcode), grown_counts in sorted(flags.items()):
        if pcode not in after[player].index:
            continue
        pgeom = after[player].at[pcode, "geometry"]
        if pgeom is None or not shapely.is_valid(pgeom):
            continue
        old = before.get(player)
        old_pgeom = old.at[pcode, "geometry"] if grown_counts and old is not None and pcode in old.index else pgeom
        now = _family_check(layer, after.get(layer), pgeom, pcode, metric)
        was = _family_check(layer, before.get(layer), old_pgeom, pcode, metric)
        if now is None:
            continue
        new_gap = polygonal_part(overlay("difference", now.gap, was.gap)) if was is not None else now.gap
        area = _area(new_gap, metric)
        if area >= options.area_tolerance_m2:
            problems.append(
                Problem(
                    f"the edit leaves {area:.1f} m² of {player} {pcode} covered by no {layer}; "
                    "move the shared boundary instead (POST /operations/move-boundary) so a neighbour takes the area",
                    feature=pcode,
                    layer=layer,
                    kind="gap",
                    where=_point(new_gap),
                    details={"area_m2": round(area, 2)},
                )
            )
        overlapping = {c for i in now.of_kind("coverage_overlap") for c in i.codes}
        old_pairs = {i.codes for i in was.of_kind("coverage_overlap")} if was is not None else set()
        for issue in now.of_kind("coverage_overlap"):
            x, y = issue.codes
            if issue.codes in old_pairs and (layer, x) not in moved and (layer, y) not in moved:
                continue  # there before, and neither side changed
            mine, other = (y, x) if (layer, y) in moved and (layer, x) not in moved else (x, y)
            problems.append(
                Problem(
                    f"overlaps {layer} {other} by {issue.measure:.1f} m²; siblings must not overlap",
                    feature=mine,
                    layer=layer,
                    kind="overlap",
                    where=issue.where,
                    details={"other": other, "area_m2": round(issue.measure, 2)},
                )
            )
        old_edges = {i.codes[0] for i in was.of_kind("coverage_edge")} if was is not None else set()
        fresh = [
            i
            for i in now.of_kind("coverage_edge")
            if i.codes[0] not in overlapping and ((layer, i.codes[0]) in moved or i.codes[0] not in old_edges)
        ]
        fresh.sort(key=lambda i: ((layer, i.codes[0]) not in moved, i.codes[0]))
        for issue in fresh:
            problems.append(
                Problem(
                    f"{issue.measure:.4f} m of its edges would not match the neighbouring {layer} exactly "
                    f"inside {player} {pcode} (a spike, sliver or vertex missing on the shared edge; "
                    "`gridgis check` reports it as coverage_edge); snap it to the shared boundary",
                    feature=issue.codes[0],
                    layer=layer,
                    kind="coverage_edge",
                    where=issue.where,
                    details={"parent": pcode, "length_m": round(issue.measure, 6)},
                )
            )
        drift = now.difference_m2 > now.tolerance_m2 and (
            was is None
            or was.difference_m2 <= was.tolerance_m2
            or now.difference_m2 > was.difference_m2 + options.area_tolerance_m2
        )
        if drift and not area >= options.area_tolerance_m2 and not overlapping:
            problems.append(
                Problem(
                    f"the {layer} of {player} {pcode} would differ from it by {now.difference_m2:.2f} m² "
                    f"(more than {now.tolerance_m2:g} m²); snap the edited outline to its parent",
                    feature=pcode,
                    layer=layer,
                    kind="coverage_area",
                    details={"area_m2": round(now.difference_m2, 3)},
                )
            )
    return problems


def _contiguity_problems(
    edits: list[Edit], before: dict[str, gpd.GeoDataFrame], after: dict[str, gpd.GeoDataFrame], metric: str
) -> list[Problem]:
    """Children of a coverage that the edits leave in more detached parts than before (the one
    contiguity rule, :func:`gridgis.layers.coverage.detached_parts`): a grid cut in two by a move or a
    transfer. A child already in parts, or with an island part no neighbour borders, is not refused."""
    problems: list[Problem] = []
    for edit in edits:
        if edit.layer not in COVERAGE_OF or edit.layer not in after or edit.geometry is None:
            continue
        if shapely.get_num_geometries(edit.geometry) < 2:
            continue
        now = detached_parts(edit.geometry, _siblings(after, edit.layer, edit.code))
        old_frame = before.get(edit.layer)
        old_geom = (
            old_frame.at[edit.code, "geometry"] if old_frame is not None and edit.code in old_frame.index else None
        )
        was = detached_parts(old_geom, _siblings(before, edit.layer, edit.code)) if old_geom is not None else []
        if len(now) <= len(was):
            continue
        parts = shapely.get_parts(polygonal_part(edit.geometry))
        areas = sorted((_area(p, metric) for p in parts), reverse=True)
        smallest = min(now, key=lambda p: _area(p, metric))
        problems.append(
            Problem(
                f"{edit.layer} {edit.code} would be in {len(parts)} separate parts "
                f"({' + '.join(f'{a:,.0f}' for a in areas)} m²) and a neighbour borders the smaller ones; "
                "keep it one piece: move the boundary so the parts stay joined, or hand the detached part "
                "to the neighbour too",
                feature=edit.code,
                layer=edit.layer,
                kind="disconnected",
                where=_point(smallest),
                details={"parts_m2": [round(a, 1) for a in areas]},
            )
        )
    return problems


def _siblings(frames: dict[str, gpd.GeoDataFrame], layer: str, code: str) -> list[shapely.Geometry]:
    """The geometries of ``code``'s siblings in ``frames[layer]`` that could take a detached part of it
    (:func:`gridgis.layers.coverage.takes_land`; none when the layer is absent)."""
    frame = frames.get(layer)
    if frame is None:
        return []
    family = _family(layer, code)
    kinds = frame["kind"].to_numpy() if "kind" in frame.columns else np.full(len(frame), None)
    return [
        g
        for c, g, kind in zip(frame.index, frame.geometry.values, kinds)
        if str(c) != code and g is not None and _family(layer, str(c)) == family and takes_land(layer, kind)
    ]


def _geometry_changed(edit: Edit, before: dict[str, gpd.GeoDataFrame]) -> bool:
    frame = before.get(edit.layer)
    if edit.op == "create" or frame is None or edit.code not in frame.index:
        return True
    old = frame.at[edit.code, "geometry"]
    return old is None or edit.geometry is None or not shapely.equals_exact(old, edit.geometry, 0.0)


def _family_check(
    layer: str, children: gpd.GeoDataFrame | None, pgeom: shapely.Geometry, pcode: str, metric: str
) -> CoverageCheck | None:
    """The one coverage rule applied to the children of ``pcode`` in ``children``."""
    if children is None:
        return None
    family = codes.street_prefix(pcode) if layer == "communities" else pcode
    mine = children[np.array([_family(layer, str(c)) == family for c in children.index], dtype=bool)]
    usable = [(str(c), g) for c, g in zip(mine.index, mine.geometry.values) if g is not None and shapely.is_valid(g)]
    return check_coverage(
        [g for _, g in usable], [c for c, _ in usable], pgeom, metric_crs=metric, min_area_m2=MIN_AREA_M2
    )


def _family(layer: str, code: str) -> str:
    """Siblings share a family key: the street part for communities, the parent code otherwise."""
    if layer == "streets":
        return ""
    if layer == "communities":
        return codes.street_prefix(code)
    if layer == "micro_grids":
        return codes.grid_of(code)
    return codes.area_of(code)


def _children_problems(
    edit: Edit, after: dict[str, gpd.GeoDataFrame], metric: str, options: ValidationOptions
) -> list[Problem]:
    """Children (present in ``after``) that the edited parent's new outline no longer holds."""
    problems = []
    for child in CHILDREN_OF.get(edit.layer, ()):
        frame = after.get(child)
        if frame is None or not len(frame) or get_spec(child).geometry != "polygon":
            continue
        for code, geom in zip(frame.index, frame.geometry.values):
            parent = parent_of(child, str(code))
            if parent is None or parent[1] != edit.code or geom is None or not shapely.is_valid(geom):
                continue
            outside, area = _outside(geom, edit.geometry, metric)
            if area > 0:
                problems.append(
                    Problem(
                        f"{area:.1f} m² of {child} {code} would lie outside {edit.layer} {edit.code}; "
                        f"edit {code} too (the planner operations fit micro-grids for you)",
                        feature=str(code),
                        layer=child,
                        kind="child_outside",
                        where=_point(outside),
                        details={"parent": edit.code, "area_m2": round(area, 2)},
                    )
                )
    return problems


def _orphan_problems(edit: Edit, after: dict[str, gpd.GeoDataFrame]) -> list[Problem]:
    problems = []
    for child in CHILDREN_OF.get(edit.layer, ()):
        frame = after.get(child)
        if frame is None or not len(frame):
            continue
        kids = [str(c) for c in frame.index if codes.lies_in(str(c), edit.code) and str(c) != edit.code]
        if kids:
            problems.append(
                Problem(
                    f"{len(kids)} {child} still belong to it ({', '.join(kids[:5])}…); move or merge them first",
                    feature=edit.code,
                    layer=edit.layer,
                    kind="orphans",
                    details={"children": kids[:50]},
                )
            )
    return problems


__all__ = ["COVERAGE_OF", "ValidationOptions", "expected_attributes", "parent_of", "validate_edits"]
