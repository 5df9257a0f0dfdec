"""GeoJSON, read strictly and written by the book (RFC 7946).

Reading parses the JSON text itself rather than through GDAL so that nothing is silently
fixed: an unclosed ring or a ring with too few points is kept as a located *note* (see
:mod:`gridgis.io.clean`), and anything that is not GeoJSON at all — malformed JSON, a top
level that is not a FeatureCollection, an unknown geometry type, coordinates that are not
numbers — is a :class:`~gridgis.errors.MalformedInputError` naming every feature at fault.

Writing produces UTF-8 with Chinese text kept as is, codes always as strings, JSON fields as
JSON, polygons wound counter-clockwise and coordinates rounded to 7 decimals (about 1 cm).
:func:`write_geojson` is the one GeoJSON writer of gridgis (exports, the sample city of
:func:`gridgis.io.write_city`, alignment files, routed points, ``gridgis check --out``): GDAL's
writer is not used, because its ``COORDINATE_PRECISION`` writes 116.4000009 as 116.4, a whole
storage step away from the 7 decimals of :func:`gridgis.crs.round_to_storage`, so a file it wrote
and read back would not hold what the store holds.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgis import chinacoords
from gridgis.crs import STORAGE_DECIMALS, SourceCRS, ensure_storage_crs, parse_crs, round_to_storage
from gridgis.errors import CRSError, MalformedInputError, Problem
from gridgis.io.source import FEATURE_COLUMN, RawSource, decode_text, feature_label

#: the foreign member (RFC 7946 §6.1) gridgis writes when coordinates are not WGS84
CRS_MEMBER = "gridgis_crs"
GEOMETRY_TYPES = (
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
)


class _Bad(ValueError):
    """A geometry that is not GeoJSON (the message says why)."""


def _coords(value: Any, depth: int) -> Any:
    """Check the nesting of a coordinates member; positions come back as ``(n, 2)`` float arrays."""
    if depth == 1 and isinstance(value, list) and value:
        try:
            arr = np.asarray(value) if all(isinstance(v, list) for v in value) else None
        except ValueError:  # ragged: positions of 2 and 3 numbers mixed; checked one by one below
            arr = None
        if (
            arr is not None
            and arr.dtype.kind in "if"
            and arr.ndim == 2
            and arr.shape[1] in (2, 3)
            and np.isfinite(arr).all()
        ):
            return arr[:, :2].astype(float)
    if depth == 0:
        if (
            not isinstance(value, list)
            or len(value) < 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        ):
            raise _Bad(f"a position must be a list of 2 or 3 numbers, got {json.dumps(value)[:60]}")
        if not all(math.isfinite(v) for v in value):
            raise _Bad("a position holds a non-finite number")
        return [float(value[0]), float(value[1])]
    if not isinstance(value, list):
        raise _Bad(f"coordinates must be nested {depth + 1} levels deep")
    out = [_coords(v, depth - 1) for v in value]
    if depth == 1:
        return np.asarray(out, dtype=float).reshape(-1, 2)
    return out


def _ring(points: np.ndarray, notes: list[tuple[str, str]], what: str) -> np.ndarray | None:
    """A closed ring, or None (with a note) when it has fewer than 3 distinct points."""
    if len(points) and not np.array_equal(points[0], points[-1]):
        notes.append(("unclosed_ring", f"{what} is not closed (first and last points differ)"))
        points = np.vstack([points, points[:1]])
    distinct = len(set(map(tuple, points.tolist())))
    if len(points) < 4 or distinct < 3:
        notes.append(("degenerate", f"{what} has {distinct} distinct point(s); a ring needs at least 3"))
        return None
    return points


def _polygon(rings: list, notes: list[tuple[str, str]], what: str) -> shapely.Polygon | None:
    if not rings:
        return shapely.Polygon()
    shell = _ring(rings[0], notes, f"the outer ring of {what}")
    if shell is None:
        return None
    holes = [h for i, r in enumerate(rings[1:], 1) if (h := _ring(r, notes, f"hole {i} of {what}")) is not None]
    return shapely.polygons(shell, holes=[shapely.linearrings(h) for h in holes] or None)


def parse_geometry(obj: Any) -> tuple[shapely.Geometry | None, list[tuple[str, str]]]:
    """Build a shapely geometry from a GeoJSON geometry object.

    Returns the geometry (``None`` for a null geometry or one whose outer ring is degenerate)
    and the notes ``(kind, message)`` about unclosed or degenerate rings. Raises ``ValueError``
    for anything that is not GeoJSON.

    >>> g, notes = parse_geometry({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]})
    >>> g.wkt, notes[0][0]
    ('POLYGON ((0 0, 1 0, 1 1, 0 0))', 'unclosed_ring')
    """
    notes: list[tuple[str, str]] = []
    if obj is None:
        return None, notes
    if not isinstance(obj, dict):
        raise _Bad("geometry must be an object or null")
    gtype = obj.get("type")
    if gtype not in GEOMETRY_TYPES:
        raise _Bad(f"unknown geometry type {gtype!r}; GeoJSON has {', '.join(GEOMETRY_TYPES)}")
    if gtype == "GeometryCollection":
        members = obj.get("geometries")
        if not isinstance(members, list):
            raise _Bad("a GeometryCollection needs a 'geometries' list")
        parts = []
        for m in members:
            g, n = parse_geometry(m)
            notes.extend(n)
            if g is not None:
                parts.append(g)
        return shapely.GeometryCollection(parts), notes
    if "coordinates" not in obj:
        raise _Bad(f"{gtype} has no 'coordinates'")
    depth = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}
    c = _coords(obj["coordinates"], depth[gtype])
    if gtype == "Point":
        return shapely.Point(c), notes
    if gtype == "MultiPoint":
        return shapely.MultiPoint(c) if len(c) else shapely.MultiPoint(), notes
    if gtype == "LineString":
        return (shapely.LineString(c) if len(c) >= 2 else shapely.LineString()), notes
    if gtype == "MultiLineString":
        return shapely.MultiLineString([line for line in c if len(line) >= 2]), notes
    if gtype == "Polygon":
        return _polygon(c, notes, "the polygon"), notes
    polys = [p for i, rings in enumerate(c) if (p := _polygon(rings, notes, f"part {i}")) is not None]
    if c and not polys:
        return None, notes
    return shapely.MultiPolygon([p for p in polys if not p.is_empty]), notes


def _declared(doc: dict, path: str) -> SourceCRS | None:
    if CRS_MEMBER in doc:
        return parse_crs(doc[CRS_MEMBER])
    crs = doc.get("crs")
    if crs is None:
        return None  # RFC 7946 implies WGS84: see RawSource.implied
    try:
        return parse_crs(crs["properties"]["name"])
    except (KeyError, TypeError):
        raise CRSError(
            f"{path}: the 'crs' member is not of the form {{{{'type': 'name', 'properties': {{{{'name': ...}}}}}}}}"
        ) from None


def parse_features(doc: Any, path: str, *, allow_bare_array: bool = False) -> RawSource:
    """Turn a parsed GeoJSON document into a :class:`RawSource` (see the module doc).

    ``allow_bare_array`` accepts a JSON array of Feature-like objects (as some web-map demos
    ship) in place of a FeatureCollection; it is off for ordinary imports.
    """
    features: Any
    if isinstance(doc, list) and allow_bare_array:
        features, declared = doc, None
    elif isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise MalformedInputError(f"{path}: the FeatureCollection has no 'features' list")
        declared = _declared(doc, path)
    else:
        kind = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
        raise MalformedInputError(
            f"{path}: expected a GeoJSON FeatureCollection, got {kind!r}; "
            "wrap single features or geometries in a FeatureCollection"
        )
    props: list[dict] = []
    geoms: list[shapely.Geometry | None] = []
    bad: list[Problem] = []
    notes: list[Problem] = []
    for i, feat in enumerate(features):
        p = feat.get("properties") if isinstance(feat, dict) else None
        p = p if isinstance(p, dict) else {}
        label = feature_label(i, p.get("code"), p.get("name"))
        if not isinstance(feat, dict) or (not allow_bare_array and feat.get("type") != "Feature"):
            bad.append(Problem("not a GeoJSON Feature object", feature=label, kind="malformed"))
            continue
        if "geometry" not in feat:
            bad.append(Problem("the Feature has no 'geometry' member", feature=label, kind="malformed"))
            continue
        if feat.get("properties") is not None and not isinstance(feat.get("properties"), dict):
            bad.append(Problem("'properties' must be an object or null", feature=label, kind="malformed"))
            continue
        try:
            geom, found = parse_geometry(feat["geometry"])
        except ValueError as exc:
            bad.append(Problem(f"bad geometry: {exc}", feature=label, kind="malformed"))
            continue
        notes.extend(Problem(msg, feature=label, kind=kind, details={"index": i}) for kind, msg in found)
        props.append(p)
        geoms.append(geom)
    if bad:
        raise MalformedInputError(f"{path}: {len(bad)} feature(s) are not valid GeoJSON; nothing was imported", bad)
    table = pd.DataFrame.from_records(props, index=range(len(props))) if props else pd.DataFrame(index=range(0))
    # properties named like the columns gridgis adds are kept under another name
    table = table.rename(columns={c: f"properties.{c}" for c in ("geometry", FEATURE_COLUMN) if c in table.columns})
    frame = gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geoms, index=range(len(geoms))))
    frame[FEATURE_COLUMN] = np.arange(len(frame))
    # RFC 7946: coordinates are WGS84 lon/lat unless the document says otherwise (a legacy "crs" member,
    # or gridgis's own "gridgis_crs"); a CRS the user gives overrides what the format implies
    implied = parse_crs("wgs84") if declared is None else None
    return RawSource(path=path, frame=frame, declared=declared, implied=implied, notes=notes)


def read_geojson(path: str | Path, *, encoding: str | None = None, allow_bare_array: bool = False) -> RawSource:
    """Read a GeoJSON file strictly into a :class:`RawSource` (coordinates as in the file).

    Raises :class:`MalformedInputError` for text that is not UTF-8 (unless ``encoding`` is
    given), malformed JSON (with line and column), a top level that is not a
    FeatureCollection, or features whose geometry is not GeoJSON.
    """
    data = Path(path).read_bytes()
    try:
        text = decode_text(data, str(path), encoding)
    except MalformedInputError as exc:
        exc.problems = _undecodable_features(data, encoding) or exc.problems
        raise
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedInputError(
            f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            [Problem(exc.msg, feature=f"line {exc.lineno} column {exc.colno}", kind="malformed")],
        ) from None
    return parse_features(doc, str(path), allow_bare_array=allow_bare_array)


def _undecodable_features(data: bytes, encoding: str | None) -> list[Problem]:
    """The features whose text does not decode, named by index/code (best effort; [] if unknown)."""
    enc = encoding or "utf-8-sig"
    try:
        doc = json.loads(data.decode(enc, errors="replace"))
        features = doc.get("features") if isinstance(doc, dict) else None
    except (json.JSONDecodeError, LookupError):
        return []
    out = []
    for i, feat in enumerate(features if isinstance(features, list) else []):
        props = feat.get("properties") if isinstance(feat, dict) else None
        if not isinstance(props, dict):
            continue
        bad = [k for k, v in props.items() if "\ufffd" in f"{k}{v}"]
        if bad:
            out.append(
                Problem(
                    f"text in {', '.join(map(str, bad))} is not valid {enc.replace('-sig', '')}; "
                    "give the file's encoding (e.g. gbk)",
                    feature=feature_label(i, props.get("code")),
                    kind="bad_encoding",
                )
            )
    return out


# --------------------------------------------------------------------------------------------- writing


def _is_missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, float) and math.isnan(v)


def json_value(v: Any) -> Any:
    """A property value as plain JSON (numpy scalars unwrapped, missing values as null)."""
    if isinstance(v, list | tuple):
        return [json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): json_value(x) for k, x in v.items()}
    if isinstance(v, np.ndarray):
        return [json_value(x) for x in v.tolist()]
    if _is_missing(v):
        return None
    if isinstance(v, np.bool_ | bool):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, pd.Timestamp | dt.date | dt.time):
        return v.isoformat()
    return v


def is_code_column(name: str) -> bool:
    """Columns that hold codes: always written as strings so leading zeros survive."""
    return name == "code" or name.endswith("_code")


def output_geometries(
    frame: gpd.GeoDataFrame, crs: str = "wgs84", precision: int | None = STORAGE_DECIMALS, *, converted: bool = False
) -> np.ndarray:
    """The geometries of a storage frame in ``crs`` (``wgs84``/``cgcs2000``, ``gcj02`` or ``bd09``), rounded.

    ``converted``: the frame's coordinates are in ``crs`` already (a point file routed as it was
    read, say in GCJ-02): they are only rounded.
    """
    target = parse_crs(crs)
    if target.china is None:
        raise CRSError(f"export writes lon/lat only: wgs84, cgcs2000, gcj02 or bd09, not {target.label}")
    if not converted:
        frame = ensure_storage_crs(frame, what="export")
    geoms = np.asarray(frame.geometry.values, dtype=object)
    if target.china != "wgs84" and not converted:
        geoms = chinacoords.convert_geometries(geoms, "wgs84", target.china)
    if precision == STORAGE_DECIMALS:
        geoms = round_to_storage(geoms)  # the one rounding every writer shares
    elif precision is not None:
        geoms = shapely.transform(geoms, lambda c: np.round(c, precision))
    return geoms


def to_feature_collection(
    frame: gpd.GeoDataFrame, crs: str = "wgs84", precision: int | None = STORAGE_DECIMALS, *, converted: bool = False
) -> dict[str, Any]:
    """A storage frame as an RFC 7946 FeatureCollection dict (see the module doc).

    >>> import geopandas as gpd, shapely
    >>> f = gpd.GeoDataFrame({"code": ["011"], "name": ["建外"]}, geometry=[shapely.Point(116.4, 39.9)], crs=4326)
    >>> to_feature_collection(f)["features"][0]["properties"]
    {'code': '011', 'name': '建外'}
    """
    geoms = output_geometries(frame, crs, precision, converted=converted)
    geoms = shapely.orient_polygons(geoms, exterior_cw=False)
    texts = shapely.to_geojson(geoms)
    columns = [c for c in frame.columns if c != frame.geometry.name]
    features = []
    for i, row in enumerate(frame[columns].itertuples(index=False, name=None)):
        props = {}
        for col, v in zip(columns, row, strict=True):
            v = json_value(v)
            if is_code_column(col) and v is not None and not isinstance(v, str):
                v = str(v)
            props[col] = v
        features.append(
            {"type": "Feature", "properties": props, "geometry": None if texts[i] is None else json.loads(texts[i])}
        )
    doc: dict[str, Any] = {"type": "FeatureCollection"}
    target = parse_crs(crs)
    if target.china != "wgs84":
        doc[CRS_MEMBER] = target.china
    doc["features"] = features
    return doc


def write_geojson(
    frame: gpd.GeoDataFrame,
    path: str | Path,
    *,
    crs: str = "wgs84",
    precision: int | None = STORAGE_DECIMALS,
    converted: bool = False,
) -> Path:
    """Write a storage frame as GeoJSON (UTF-8, RFC 7946), atomically: a failed write leaves no file.

    The one GeoJSON writer (see the module doc): one feature per line, Chinese text as is, lists
    and objects as JSON, coordinates rounded to ``precision`` decimals (the storage's 7 by default;
    ``None`` keeps them as they are). With ``crs="gcj02"`` or ``"bd09"`` the coordinates are
    converted (or, with ``converted``, already are) and the collection carries
    ``"gridgis_crs": "gcj02"`` so that reading it back needs no guess.

    >>> import geopandas as gpd, shapely, tempfile
    >>> f = gpd.GeoDataFrame({"code": ["011"]}, geometry=[shapely.Point(116.4000009, 39.9)], crs=4326)
    >>> p = write_geojson(f, Path(tempfile.mkdtemp()) / "x.geojson")
    >>> read_geojson(p).frame.geometry[0].x
    116.4000009
    """
    path = Path(path)
    doc = to_feature_collection(frame, crs, precision, converted=converted)
    features = doc.pop("features")
    head = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))[:-1]
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(head + ',"features":[')
            for i, feature in enumerate(features):
                fh.write(",\n" if i else "\n")
                fh.write(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
            fh.write("\n]}\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
