"""Hierarchy checks across layers, with a report a planner can act on.

:func:`check_city` looks at a whole city (a ``dict`` of layer frames in EPSG:4326) and finds:

========================= ==========================================================
kind                      what
========================= ==========================================================
``malformed_code``        a code that does not follow its layer's rule (:mod:`gridgis.codes`)
``duplicate_code``        the same code twice in one layer
``orphan``                a parent code that does not exist in the parent layer
``parent_mismatch``       a code whose prefix disagrees with its parent field
``outside_parent``        a child reaching further than ``tolerance_m`` out of its parent
``coverage_gap``          part of a parent covered by none of its children
``coverage_overlap``      part of a parent covered by two children
``coverage_edge``         children whose shared edges do not match (GEOS coverage check)
``coverage_area``         children whose union differs from the parent by more than 1 m² in slivers
``community_households``  a community outside 1,000–3,000 households
``grid_households``       a basic grid outside the configured range (default 300–500)
``compound_households``   a compound whose households differ from the sum of its buildings
========================= ==========================================================

Areas and distances are computed in :func:`gridgis.crs.metric_crs_for` the city. Every
problem names the feature (``code (name)``) and carries a location (lon/lat); gaps,
overlaps and parts outside a parent carry their geometry too (see
:meth:`HierarchyReport.to_frame`, which a planner opens in QGIS).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridgis import codes
from gridgis.crs import STORAGE_CRS, STORAGE_DECIMALS, ensure_storage_crs, metric_crs_for
from gridgis.errors import Problem
from gridgis.layers.community import HOUSEHOLD_RANGE as COMMUNITY_HOUSEHOLDS
from gridgis.layers.coverage import (
    MIN_AREA_M2,
    OUTSIDE_TOLERANCE_M,
    check_coverage,
    detached_parts,
    outside_parent,
    project,
    takes_land,
)
from gridgis.layers.grid import HOUSEHOLD_RANGE as GRID_HOUSEHOLDS

KIND_LABELS: dict[str, tuple[str, str]] = {
    "malformed_code": ("编码格式错误", "malformed code"),
    "duplicate_code": ("编码重复", "duplicate code"),
    "orphan": ("上级编码不存在", "orphan (parent code missing)"),
    "parent_mismatch": ("编码与上级不一致", "code prefix disagrees with parent"),
    "outside_parent": ("超出上级范围", "outside its parent"),
    "coverage_gap": ("覆盖空隙", "coverage gap"),
    "coverage_overlap": ("覆盖重叠", "coverage overlap"),
    "coverage_edge": ("边界不吻合", "coverage edges do not match"),
    "coverage_area": ("覆盖面积不符", "children's area differs from the parent"),
    "disconnected": ("被分割为不相连的几块", "in detached parts a neighbour borders"),
    "community_households": ("社区户数超出范围", "community households out of range"),
    "grid_households": ("网格户数超出范围", "grid households out of range"),
    "compound_households": ("小区户数与楼栋合计不符", "compound households differ from its buildings"),
}

#: (child layer, parent layer, parent field) for the within-parent and orphan checks
LINKS: tuple[tuple[str, str, str], ...] = (
    ("communities", "streets", "street_code"),
    ("grids", "communities", "community_code"),
    ("micro_grids", "grids", "grid_code"),
    ("compounds", "communities", "community_code"),
    ("buildings", "compounds", "compound_code"),
    ("stations", "streets|communities", "area_code"),
)
#: (parent layer, child layer, parent field of the child) that must form exact coverages
COVERAGES: tuple[tuple[str, str, str], ...] = (
    ("streets", "communities", "street_code"),
    ("communities", "grids", "community_code"),
    ("grids", "micro_grids", "grid_code"),
)


@dataclass
class HierarchyReport:
    """What :func:`check_city` found: every problem, located, and the counts behind it."""

    problems: list[Problem] = field(default_factory=list)
    geometries: list[Any] = field(default_factory=list)  # EPSG:4326 geometry per problem (or None)
    features: dict[str, int] = field(default_factory=dict)  # features checked per layer
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def counts(self) -> dict[str, int]:
        """Number of problems per kind, in the order of :data:`KIND_LABELS`."""
        found = pd.Series([p.kind for p in self.problems], dtype="object").value_counts()
        return {k: int(found[k]) for k in KIND_LABELS if k in found.index}

    def add(self, problem: Problem, geometry: Any = None) -> None:
        self.problems.append(problem)
        self.geometries.append(geometry)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "counts": self.counts,
            "features": dict(self.features),
            "settings": dict(self.settings),
            "problems": [p.to_dict() for p in self.problems],
        }

    def to_frame(self) -> gpd.GeoDataFrame:
        """One row per problem (EPSG:4326): the gap/overlap/outside part, else the problem's point."""
        rows, geoms = [], []
        for p, g in zip(self.problems, self.geometries):
            d = p.details
            rows.append(
                {
                    "kind": p.kind,
                    "kind_zh": KIND_LABELS.get(p.kind, (p.kind,))[0],
                    "layer": p.layer,
                    "code": d.get("code"),
                    "name": d.get("name"),
                    "feature": p.feature,
                    "message": p.message,
                    "message_zh": d.get("message_zh"),
                    "area_m2": d.get("area_m2"),
                    "value": d.get("value"),
                }
            )
            if g is None and p.where is not None:
                g = shapely.Point(p.where)
            geoms.append(g)
        columns = ["kind", "kind_zh", "layer", "code", "name", "feature", "message", "message_zh", "area_m2", "value"]
        frame = pd.DataFrame(rows, columns=columns)
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=STORAGE_CRS), crs=STORAGE_CRS)

    def summary(self) -> str:
        """A readable bilingual summary: features checked, then problems by kind."""
        lines = ["层级检查 Hierarchy check: " + ", ".join(f"{k} {v:,}" for k, v in self.features.items())]
        if self.ok:
            lines.append("  未发现问题 No problems found.")
            return "\n".join(lines)
        lines.append(f"  发现 {len(self.problems):,} 个问题 {len(self.problems):,} problem(s):")
        for kind, n in self.counts.items():
            zh, en = KIND_LABELS[kind]
            lines.append(f"  - {zh} {en}: {n:,}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _missing(value: Any) -> bool:
    """True for None, NA, NaN and the empty string."""
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float):
        return bool(np.isnan(value))
    return isinstance(value, str) and value.strip() == ""


def _label(code: Any, name: Any) -> str:
    return f"{code} ({name})" if name else str(code)


class _Ctx:
    """Frames of the city projected once to the metric CRS, with code lookups."""

    def __init__(self, city: dict[str, gpd.GeoDataFrame]) -> None:
        self.frames = {
            k: ensure_storage_crs(v, what=k).reset_index(drop=True)
            for k, v in city.items()
            if k in ("streets", "communities", "grids", "micro_grids", "compounds", "buildings", "stations")
        }
        nonempty = [f for f in self.frames.values() if len(f)]
        self.metric = (
            metric_crs_for(pd.concat([f[["geometry"]] for f in nonempty]).pipe(gpd.GeoDataFrame, crs=STORAGE_CRS))
            if nonempty
            else "EPSG:4549"
        )
        self.geom = {k: f.to_crs(self.metric).geometry.values for k, f in self.frames.items()}
        self.first: dict[str, dict[str, int]] = {}
        for k, f in self.frames.items():
            codes_ = f["code"].astype("object").tolist()
            index: dict[str, int] = {}
            for i, c in enumerate(codes_):
                index.setdefault(c, i)
            self.first[k] = index
        self._back = pyproj.Transformer.from_crs(self.metric, STORAGE_CRS, always_xy=True)
        self._buffered: dict[tuple[str, float], Any] = {}

    def buffered(self, layer: str, tol: float) -> Any:
        """The layer's metric geometries grown by ``tol`` metres (computed once)."""
        key = (layer, tol)
        if key not in self._buffered:
            self._buffered[key] = shapely.buffer(self.geom[layer], tol)
        return self._buffered[key]

    def to_storage(self, geoms: Any) -> Any:
        def fn(xy: np.ndarray) -> np.ndarray:
            return np.column_stack(self._back.transform(xy[:, 0], xy[:, 1]))

        return shapely.transform(np.asarray(geoms, dtype=object), fn)

    def where(self, geom: Any) -> tuple[float, float] | None:
        if geom is None or shapely.is_empty(geom):
            return None
        p = shapely.point_on_surface(geom)
        x, y = self._back.transform(p.x, p.y)
        return (round(float(x), STORAGE_DECIMALS), round(float(y), STORAGE_DECIMALS))


def check_city(
    city: dict[str, gpd.GeoDataFrame],
    tolerance_m: float = OUTSIDE_TOLERANCE_M,
    grid_households: tuple[int, int] = GRID_HOUSEHOLDS,
    community_households: tuple[int, int] = COMMUNITY_HOUSEHOLDS,
    min_area_m2: float = MIN_AREA_M2,
) -> HierarchyReport:
    """Check the hierarchy of ``city`` and return a :class:`HierarchyReport`.

    Parameters
    ----------
    city : dict of GeoDataFrame
        Layer frames in EPSG:4326 keyed by layer name; missing layers are skipped.
    tolerance_m : float
        How far (metres) a child may reach out of its parent before it is reported.
    grid_households, community_households : (int, int)
        Inclusive household ranges; dedicated grids (专属网格) are not held to the grid range.
    min_area_m2 : float
        Gaps and overlaps smaller than this (m²) are rounding noise and not reported.

    Examples
    --------
    The sample city has a few grids and communities outside the household ranges, on purpose:

    >>> from gridgis.sample import generate_city
    >>> report = check_city(generate_city(seed=0, tickets=0))
    >>> report.counts
    {'community_households': 2, 'grid_households': 5}
    """
    ctx = _Ctx(city)
    report = HierarchyReport(
        features={k: len(v) for k, v in ctx.frames.items()},
        settings={
            "tolerance_m": tolerance_m,
            "grid_households": list(grid_households),
            "community_households": list(community_households),
            "min_area_m2": min_area_m2,
            "metric_crs": ctx.metric,
        },
    )
    for layer in ctx.frames:
        _malformed(ctx, layer, report)
        _duplicates(ctx, layer, report)
    for child, parent, fld in LINKS:
        if child in ctx.frames:
            _links(ctx, child, parent.split("|"), fld, tolerance_m, report)
    for parent, child, fld in COVERAGES:
        if parent in ctx.frames and child in ctx.frames:
            _coverage(ctx, parent, child, fld, min_area_m2, report)
    _households(ctx, report, grid_households, community_households)
    return report


def _malformed(ctx: _Ctx, layer: str, report: HierarchyReport) -> None:
    """Codes that break their layer's rule (checked by :func:`gridgis.codes.check_code`)."""
    f = ctx.frames[layer]
    for i, (code, name) in enumerate(zip(f["code"], f["name"])):
        if _missing(code):
            continue
        try:
            codes.check_code(layer, code)
        except codes.CodeError as err:
            report.add(
                Problem(
                    f"{err}; give it a code that follows the rule",
                    feature=_label(code, name),
                    layer=layer,
                    kind="malformed_code",
                    where=ctx.where(ctx.geom[layer][i]),
                    details={
                        "code": code,
                        "name": name,
                        "row": int(i),
                        "message_zh": f"编码 {code} 不符合{layer}编码规则，请更正",
                    },
                )
            )


def _duplicates(ctx: _Ctx, layer: str, report: HierarchyReport) -> None:
    f = ctx.frames[layer]
    dup = f["code"].duplicated(keep="first") & f["code"].notna()
    for i in np.flatnonzero(dup.to_numpy()):
        code, name = f["code"].iat[i], f["name"].iat[i]
        first = ctx.first[layer][code]
        report.add(
            Problem(
                f"duplicate code {code}: rows {first} and {i} of {layer}; give one a new code",
                feature=_label(code, name),
                layer=layer,
                kind="duplicate_code",
                where=ctx.where(ctx.geom[layer][i]),
                details={
                    "code": code,
                    "name": name,
                    "row": int(i),
                    "message_zh": f"编码 {code} 重复（第 {first} 与第 {i} 行），请为其一重新编码",
                },
            )
        )


def _links(ctx: _Ctx, child: str, parents: list[str], fld: str, tol: float, report: HierarchyReport) -> None:
    f = ctx.frames[child]
    if fld not in f.columns:
        return
    present = [p for p in parents if p in ctx.frames]
    pairs_c, pairs_p, pairs_layer = [], [], []
    for i, (code, name, pcode) in enumerate(zip(f["code"], f["name"], f[fld])):
        label = _label(code, name)
        layer_p = present
        if child == "buildings" and _missing(pcode):  # a building outside every compound
            pcode = f["community_code"].iat[i] if "community_code" in f.columns else None
            layer_p = ["communities"] if "communities" in ctx.frames else []
        if _missing(pcode):
            continue  # a missing required parent field is the per-layer validation's concern
        if codes.is_valid_code(child, code):
            implied = codes.parent_code(child, code)
            if child == "stations" or (child == "buildings" and codes.compound_of(code) is None):
                ok_prefix = implied == pcode or (child == "buildings" and codes.area_of(code) == pcode)
            else:
                ok_prefix = implied == pcode
            if not ok_prefix:
                report.add(
                    Problem(
                        f"code {code} implies parent {implied} but {fld} is {pcode}; fix the code or the parent field",
                        feature=label,
                        layer=child,
                        kind="parent_mismatch",
                        where=ctx.where(ctx.geom[child][i]),
                        details={
                            "code": code,
                            "name": name,
                            "parent": pcode,
                            "message_zh": f"编码 {code} 的上级应为 {implied}，但所属字段为 {pcode}",
                        },
                    )
                )
        found = next(((pl, ctx.first[pl][pcode]) for pl in layer_p if pcode in ctx.first[pl]), None)
        if not layer_p:
            continue
        if found is None:
            report.add(
                Problem(
                    f"parent {pcode} ({fld}) does not exist in {'/'.join(layer_p)}; add the parent or correct the code",
                    feature=label,
                    layer=child,
                    kind="orphan",
                    where=ctx.where(ctx.geom[child][i]),
                    details={
                        "code": code,
                        "name": name,
                        "parent": pcode,
                        "message_zh": f"上级编码 {pcode} 不存在，请补充上级或更正编码",
                    },
                )
            )
            continue
        pairs_c.append(i)
        pairs_p.append(found[1])
        pairs_layer.append(found[0])
    if not pairs_c:
        return
    child_g = ctx.geom[child][np.array(pairs_c)]
    parent_g = np.array([ctx.geom[pl][j] for pl, j in zip(pairs_layer, pairs_p)], dtype=object)
    if ctx.frames[child].geometry.geom_type.eq("Point").all():
        dist = shapely.distance(child_g, parent_g)
        bad = np.flatnonzero(dist > tol)
        for k in bad:
            i = pairs_c[k]
            _outside(ctx, report, child, i, pairs_layer[k], pairs_p[k], None, float(dist[k]))
        return
    parent_b = np.array([ctx.buffered(pl, tol)[j] for pl, j in zip(pairs_layer, pairs_p)], dtype=object)
    outside, area = outside_parent(child_g, None, tol, grown_parent_metric=parent_b)
    for k in np.flatnonzero(area > 0):
        _outside(ctx, report, child, pairs_c[k], pairs_layer[k], pairs_p[k], outside[k], float(area[k]))


def _outside(ctx, report, child, i, player, j, part, measure) -> None:
    f, pf = ctx.frames[child], ctx.frames[player]
    code, name = f["code"].iat[i], f["name"].iat[i]
    parent = _label(pf["code"].iat[j], pf["name"].iat[j])
    if part is None:
        msg = f"lies {measure:.1f} m outside its parent {parent}"
        details = {
            "code": code,
            "name": name,
            "parent": pf["code"].iat[j],
            "value": round(measure, 2),
            "message_zh": f"位于上级 {parent} 之外 {measure:.1f} 米",
        }
        where = ctx.where(ctx.geom[child][i])
        geom = None
    else:
        msg = f"{measure:,.1f} m² lie outside its parent {parent}; redraw the boundary or move it to the right parent"
        details = {
            "code": code,
            "name": name,
            "parent": pf["code"].iat[j],
            "area_m2": round(measure, 2),
            "message_zh": f"有 {measure:,.1f} 平方米超出上级 {parent}，请调整边界或归属",
        }
        where = ctx.where(part)
        geom = ctx.to_storage([part])[0]
    report.add(
        Problem(msg, feature=_label(code, name), layer=child, kind="outside_parent", where=where, details=details), geom
    )


def _coverage(ctx: _Ctx, parent: str, child: str, fld: str, min_area: float, report: HierarchyReport) -> None:
    """Report what the one coverage rule (:func:`gridgis.layers.coverage.check_coverage`) finds per parent."""
    pf, cf = ctx.frames[parent], ctx.frames[child]
    if fld not in cf.columns:
        return
    groups = pd.Series(np.arange(len(cf))).groupby(cf[fld].astype("object").to_numpy()).apply(list).to_dict()
    seen: set[str] = set()
    stored = cf.geometry.values
    for j, (pcode, pname) in enumerate(zip(pf["code"], pf["name"])):
        if pcode in seen:
            continue
        seen.add(pcode)
        members = np.array(groups.get(pcode, []), dtype=int)
        label = _label(pcode, pname)
        found = check_coverage(
            stored[members] if len(members) else [],
            [str(i) for i in members],
            pf.geometry.values[j],
            metric_crs=ctx.metric,
            min_area_m2=min_area,
        )
        overlapping = {c for i in found.issues if i.kind == "coverage_overlap" for c in i.codes}
        for issue in found.issues:
            if issue.kind == "coverage_outside":
                continue  # reported per child by the within-parent check (_links)
            if issue.kind == "coverage_edge" and issue.codes[0] in overlapping:
                continue  # the overlap says it
            if issue.kind == "coverage_gap":
                area = issue.measure
                report.add(
                    Problem(
                        f"{area:,.1f} m² of {label} are covered by no {child}; "
                        f"extend a neighbouring {child[:-1]} or add one",
                        feature=label,
                        layer=parent,
                        kind="coverage_gap",
                        where=issue.where,
                        details={
                            "code": pcode,
                            "name": pname,
                            "child_layer": child,
                            "message_zh": f"{area:,.1f} 平方米未被任何下级覆盖，请扩展相邻单元或新增",
                            "area_m2": round(area, 2),
                        },
                    ),
                    issue.geometry,
                )
            elif issue.kind == "coverage_overlap":
                cx, cy = (int(c) for c in issue.codes)
                c1 = _label(cf["code"].iat[cx], cf["name"].iat[cx])
                c2 = _label(cf["code"].iat[cy], cf["name"].iat[cy])
                area = issue.measure
                report.add(
                    Problem(
                        f"{c1} and {c2} overlap by {area:,.1f} m²; give the overlap to one of them",
                        feature=c1,
                        layer=child,
                        kind="coverage_overlap",
                        where=issue.where,
                        details={
                            "code": cf["code"].iat[cx],
                            "name": cf["name"].iat[cx],
                            "other": cf["code"].iat[cy],
                            "parent": pcode,
                            "message_zh": f"与 {c2} 重叠 {area:,.1f} 平方米，请将重叠部分划归其一",
                            "area_m2": round(area, 2),
                        },
                    ),
                    issue.geometry,
                )
            elif issue.kind == "coverage_edge":
                ci = int(issue.codes[0])
                code, name = cf["code"].iat[ci], cf["name"].iat[ci]
                length = issue.measure
                report.add(
                    Problem(
                        f"{length:,.2f} m of edges do not match the neighbours' edges inside "
                        f"{label} (misaligned vertices, spikes or slivers); snap the shared edges",
                        feature=_label(code, name),
                        layer=child,
                        kind="coverage_edge",
                        where=issue.where,
                        details={
                            "code": code,
                            "name": name,
                            "parent": pcode,
                            "message_zh": f"{length:,.2f} 米边界与相邻要素不吻合，请对齐共边",
                            "value": round(length, 3),
                        },
                    ),
                    issue.geometry,
                )
        _detached(ctx, child, members, report)
        reported = any(i.kind in ("coverage_gap", "coverage_outside") for i in found.issues)
        if len(members) and not reported and found.difference_m2 > found.tolerance_m2:
            report.add(
                Problem(
                    f"the {child} of {label} differ from it by {found.difference_m2:,.1f} m² in slivers "
                    f"(more than {found.tolerance_m2:g} m²); snap them to its outline",
                    feature=label,
                    layer=parent,
                    kind="coverage_area",
                    where=ctx.where(ctx.geom[parent][j]),
                    details={
                        "code": pcode,
                        "name": pname,
                        "child_layer": child,
                        "area_m2": round(found.difference_m2, 2),
                        "message_zh": f"下级合计与其面积相差 {found.difference_m2:,.1f} 平方米（碎片），请对齐边界",
                    },
                )
            )


def _detached(ctx: _Ctx, child: str, members: np.ndarray, report: HierarchyReport) -> None:
    """Report siblings in detached parts (the one contiguity rule,
    :func:`gridgis.layers.coverage.detached_parts`)."""
    cf = ctx.frames[child]
    stored = cf.geometry.values[members] if len(members) else np.zeros(0, dtype=object)
    kinds = cf["kind"].to_numpy()[members] if "kind" in cf.columns and len(members) else np.full(len(stored), None)
    takers = np.array([takes_land(child, k) for k in kinds], dtype=bool)
    several: Any = np.flatnonzero(shapely.get_num_geometries(stored) > 1) if len(stored) else []
    for k in several:
        others = stored[takers & (np.arange(len(stored)) != k)]
        parts = detached_parts(stored[k], others)
        if not parts:
            continue
        i = int(members[k])
        code, name = cf["code"].iat[i], cf["name"].iat[i]
        areas = [
            round(float(a), 1) for a in shapely.area(project(np.asarray(parts, dtype=object), STORAGE_CRS, ctx.metric))
        ]
        p = shapely.point_on_surface(parts[0])
        report.add(
            Problem(
                f"{_label(code, name)} has {len(parts)} detached part(s) ({', '.join(f'{a:,.0f}' for a in areas)} m²) "
                "that a neighbour borders; give each to the neighbour or join it to the rest",
                feature=_label(code, name),
                layer=child,
                kind="disconnected",
                where=(round(p.x, STORAGE_DECIMALS), round(p.y, STORAGE_DECIMALS)),
                details={
                    "code": code,
                    "name": name,
                    "parts_m2": areas,
                    "message_zh": f"有 {len(parts)} 块与主体不相连且与相邻单元接壤，请划归相邻单元或与主体连通",
                },
            ),
            shapely.MultiPolygon(list(parts)) if len(parts) > 1 else parts[0],
        )


def _households(ctx: _Ctx, report: HierarchyReport, grid_range: tuple[int, int], comm_range: tuple[int, int]) -> None:
    def ranged(layer: str, lo: int, hi: int, kind: str, mask: np.ndarray | None = None) -> None:
        f = ctx.frames.get(layer)
        if f is None or "households" not in f.columns:
            return
        hh = pd.to_numeric(f["households"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isnan(hh) & ((hh < lo) | (hh > hi))
        if mask is not None:
            bad &= mask
        for i in np.flatnonzero(bad):
            code, name = f["code"].iat[i], f["name"].iat[i]
            side = "below" if hh[i] < lo else "above"
            report.add(
                Problem(
                    f"{int(hh[i]):,} households is {side} the range {lo:,}–{hi:,}; "
                    f"{'merge it with a neighbour' if side == 'below' else 'split it'}",
                    feature=_label(code, name),
                    layer=layer,
                    kind=kind,
                    where=ctx.where(ctx.geom[layer][i]),
                    details={
                        "code": code,
                        "name": name,
                        "value": int(hh[i]),
                        "range": [lo, hi],
                        "message_zh": f"户数 {int(hh[i]):,} {'低于' if side == 'below' else '高于'}"
                        f" {lo:,}–{hi:,}，建议{'合并' if side == 'below' else '拆分'}",
                    },
                )
            )

    ranged("communities", *comm_range, "community_households")
    grids = ctx.frames.get("grids")
    if grids is not None:
        basic = (
            (grids["kind"].astype("object").fillna("basic") != "dedicated").to_numpy()
            if "kind" in grids.columns
            else None
        )
        ranged("grids", *grid_range, "grid_households", basic)
    comp, bld = ctx.frames.get("compounds"), ctx.frames.get("buildings")
    if comp is None or bld is None or "households" not in comp.columns or "compound_code" not in bld.columns:
        return
    sums = pd.to_numeric(bld["households"], errors="coerce").groupby(bld["compound_code"]).sum()
    for i, (code, name, hh) in enumerate(zip(comp["code"], comp["name"], comp["households"])):
        if code not in sums.index or pd.isna(hh) or int(hh) == int(sums[code]):
            continue
        report.add(
            Problem(
                f"{int(hh):,} households recorded but its buildings sum to {int(sums[code]):,}; "
                "correct the compound or the buildings",
                feature=_label(code, name),
                layer="compounds",
                kind="compound_households",
                where=ctx.where(ctx.geom["compounds"][i]),
                details={
                    "code": code,
                    "name": name,
                    "value": int(hh),
                    "buildings": int(sums[code]),
                    "message_zh": f"登记户数 {int(hh):,}，楼栋合计 {int(sums[code]):,}，请核对",
                },
            )
        )
