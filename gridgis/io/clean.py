"""Dirty input, feature by feature: find it, and repair what can be repaired when asked.

Kinds of problem (``Problem.kind``) and what ``repair=True`` does with them:

====================== ============================================== ===========================
kind                   what                                           repair
====================== ============================================== ===========================
``unclosed_ring``      a ring whose first and last points differ      close the ring
``degenerate``         a ring of < 3 distinct points, or zero area    drop the ring / feature
``empty_geometry``     no geometry, or an empty one                   drop the feature
``self_intersection``  a bow-tie or a ring crossing itself            ``make_valid``, keep the
``invalid_geometry``   any other invalid geometry (GEOS reason)       polygonal parts
``duplicate_geometry`` the same polygon as an earlier feature         drop the later feature
``duplicate_code``     the same code as an earlier feature            drop the later feature
``wrong_geometry_type`` e.g. a line where a polygon is needed         — (refused)
``out_of_area``        coordinates outside China (wrong CRS?)         — (refused)
====================== ============================================== ===========================

Every problem names the feature (``#index code (name)``) and, when it can, where it is
(lon/lat). A repair is reported as a problem whose ``details["action"]`` says what was done.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely

from gridgis.crs import CHINA_BOUNDS, STORAGE_CRS, STORAGE_DECIMALS
from gridgis.errors import Problem
from gridgis.io.source import FEATURE_COLUMN, feature_label

REPAIRABLE = frozenset(
    {
        "unclosed_ring",
        "degenerate",
        "empty_geometry",
        "self_intersection",
        "invalid_geometry",
        "duplicate_geometry",
        "duplicate_code",
    }
)


@dataclass
class CleanResult:
    """The outcome of :func:`clean_features`.

    ``frame`` is the cleaned frame (only meaningful when ``problems`` is empty), ``problems``
    the problems left (the import must refuse), ``repairs`` what ``repair=True`` did.
    """

    frame: gpd.GeoDataFrame
    problems: list[Problem] = field(default_factory=list)
    repairs: list[Problem] = field(default_factory=list)


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygonal parts of ``geom`` as a Polygon or MultiPolygon (empty when there are none)."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    polys = [q for p in parts for q in shapely.get_parts(p) if not q.is_empty and q.area > 0]
    if not polys:
        return shapely.Polygon()
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def _where(geom: shapely.Geometry | None, reason: str | None = None) -> tuple[float, float] | None:
    if reason and "[" in reason and "]" in reason:
        try:
            x, y = reason[reason.index("[") + 1 : reason.index("]")].split()[:2]
            return (round(float(x), STORAGE_DECIMALS), round(float(y), STORAGE_DECIMALS))
        except ValueError:
            pass
    if geom is None or geom.is_empty:
        return None
    if geom.is_valid:
        p = geom.representative_point()
        return (round(p.x, STORAGE_DECIMALS), round(p.y, STORAGE_DECIMALS))
    xy = shapely.get_coordinates(geom)
    if len(xy) == 0:
        return None
    return (round(float(xy[0, 0]), STORAGE_DECIMALS), round(float(xy[0, 1]), STORAGE_DECIMALS))


def clean_features(
    frame: gpd.GeoDataFrame,
    *,
    geometry: str = "polygon",
    notes: list[Problem] | None = None,
    repair: bool = False,
    layer: str | None = None,
    key: str | None = "code",
) -> CleanResult:
    """Check every feature of an EPSG:4326 frame for dirty geometry and duplicates.

    Parameters
    ----------
    frame
        Features in EPSG:4326 with a ``_feature`` column (position in the source file).
    geometry
        ``"polygon"`` (Polygon/MultiPolygon) or ``"point"``.
    notes
        Problems found while parsing (``unclosed_ring``/``degenerate``), with ``details["index"]``.
    repair
        Fix what can be fixed (see the module table) and report each fix in ``repairs``.
    layer
        Layer name put on every problem.
    key
        Column of codes checked for duplicates (``None``: no code check).

    Returns
    -------
    CleanResult
        Without ``repair`` every finding is in ``problems``; with it only the unrepairable ones.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> bow = shapely.Polygon([(116, 39), (116.1, 39.1), (116.1, 39), (116, 39.1)])
    >>> f = gpd.GeoDataFrame({"_feature": [0]}, geometry=[bow], crs=4326)
    >>> [p.kind for p in clean_features(f, key=None).problems]
    ['self_intersection']
    >>> out = clean_features(f, key=None, repair=True)
    >>> out.frame.geometry[0].geom_type, out.problems
    ('MultiPolygon', [])
    """
    frame = frame.copy()
    if FEATURE_COLUMN not in frame.columns:
        frame[FEATURE_COLUMN] = np.arange(len(frame))
    n = len(frame)
    feat = frame[FEATURE_COLUMN].to_numpy()
    pos_of = {int(f): i for i, f in enumerate(feat)}
    codes = frame[key].to_numpy() if key and key in frame.columns else np.full(n, None, dtype=object)
    names = frame["name"].to_numpy() if "name" in frame.columns else np.full(n, None, dtype=object)
    labels = [feature_label(int(feat[i]), codes[i], names[i]) for i in range(n)]
    geoms = np.asarray(frame.geometry.values, dtype=object).copy()
    drop = np.zeros(n, dtype=bool)
    problems: list[Problem] = []
    repairs: list[Problem] = []

    def found(i: int, kind: str, message: str, action: str | None, where=None) -> None:
        p = Problem(
            message, feature=labels[i], layer=layer, kind=kind, where=where if where is not None else _where(geoms[i])
        )
        if repair and action is not None and kind in REPAIRABLE:
            p.details["action"] = action
            repairs.append(p)
        else:
            problems.append(p)

    for note in notes or []:
        i = pos_of.get(int(note.details.get("index", -1)))
        if i is None:
            continue
        if note.kind == "unclosed_ring":
            found(i, "unclosed_ring", note.message, "closed the ring")
        elif note.kind == "degenerate":
            whole = geoms[i] is None
            found(i, "degenerate", note.message, "dropped the feature" if whole else "dropped the degenerate ring")
            drop[i] |= whole
        else:
            found(i, note.kind, note.message, None)
    noted_degenerate = {pos_of.get(int(p.details.get("index", -1))) for p in notes or [] if p.kind == "degenerate"}

    expected = ("Point",) if geometry == "point" else ("Polygon", "MultiPolygon")
    reasons = shapely.is_valid_reason(geoms)
    for i in range(n):
        if drop[i]:
            continue
        g = geoms[i]
        if g is None or g.is_empty:
            if i not in noted_degenerate:
                found(i, "empty_geometry", "geometry is missing or empty", "dropped the feature")
            drop[i] = True
            continue
        gtype = g.geom_type
        reason = reasons[i]
        if geometry != "point" and gtype == "GeometryCollection":
            poly = _polygonal(g)
            if poly.is_empty:
                found(i, "wrong_geometry_type", "a GeometryCollection without polygons", None)
                continue
            found(i, "invalid_geometry", "a GeometryCollection; only its polygons can be used", "kept its polygons")
            g = geoms[i] = poly if repair else g
            gtype = g.geom_type
            reason = shapely.is_valid_reason(g)
        if gtype not in expected:
            found(i, "wrong_geometry_type", f"geometry is a {gtype}; expected {' or '.join(expected)}", None)
            continue
        if geometry != "point":
            valid = reason == "Valid Geometry"
            fixed = g if valid else _polygonal(shapely.make_valid(g))
            if fixed.is_empty or fixed.area == 0:
                found(
                    i,
                    "degenerate",
                    "polygon has zero area (it collapses to a line or a point)",
                    "dropped the feature",
                    _where(g, reason),
                )
                drop[i] = repair
                continue
            if not valid:
                kind = "self_intersection" if "Self-intersection" in reason else "invalid_geometry"
                action = "made valid (polygonal parts kept)"
                found(i, kind, f"invalid geometry: {reason}", action, _where(g, reason))
                if repair:
                    geoms[i] = fixed
        minx, miny, maxx, maxy = shapely.bounds(geoms[i])
        if not (
            np.isfinite([minx, miny, maxx, maxy]).all()
            and minx >= CHINA_BOUNDS[0]
            and miny >= CHINA_BOUNDS[1]
            and maxx <= CHINA_BOUNDS[2]
            and maxy <= CHINA_BOUNDS[3]
        ):
            found(
                i,
                "out_of_area",
                f"coordinates {minx:.5f},{miny:.5f}…{maxx:.5f},{maxy:.5f} lie outside China's "
                "extent: wrong CRS, or lon/lat swapped?",
                None,
            )

    _duplicates(geoms, codes, drop, labels, found, key, same_geometry=geometry != "point")
    keep = ~drop if repair else np.ones(n, dtype=bool)
    out = frame.iloc[np.flatnonzero(keep)].copy()
    out = out.set_geometry(gpd.GeoSeries(geoms[keep], index=out.index, crs=frame.crs or STORAGE_CRS))
    return CleanResult(frame=out, problems=problems, repairs=repairs)


def _duplicates(geoms, codes, drop, labels, found, key, same_geometry: bool = True) -> None:
    """Report (and mark for dropping) later features repeating an earlier geometry or code.

    Points may share a position (a canteen and a help-desk point at one address), so for point
    layers only codes are compared.
    """
    seen_geom: dict[bytes, int] = {}
    seen_code: dict[str, int] = {}
    live = np.array([not drop[i] and g is not None and not g.is_empty for i, g in enumerate(geoms)], dtype=bool)
    wkbs = np.full(len(geoms), None, dtype=object)
    if live.any():
        wkbs[live] = shapely.to_wkb(shapely.normalize(np.asarray(geoms[live], dtype=object)))
    for i in np.flatnonzero(live).tolist():
        if drop[i]:
            continue
        wkb = wkbs[i]
        code = codes[i]
        has_code = key is not None and code is not None and str(code).strip() not in ("", "nan")
        if same_geometry and wkb in seen_geom:
            found(i, "duplicate_geometry", f"same geometry as {labels[seen_geom[wkb]]}", "dropped the duplicate")
            drop[i] = True
            continue
        if has_code and str(code) in seen_code:
            found(
                i,
                "duplicate_code",
                f"code {code} is also used by {labels[seen_code[str(code)]]}",
                "dropped the duplicate",
            )
            drop[i] = True
            continue
        seen_geom[wkb] = i
        if has_code:
            seen_code[str(code)] = i
