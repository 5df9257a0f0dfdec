"""GeoJSON in and out of the feature API: pure functions, no HTTP, no storage.

- Output: layer rows as GeoJSON features (``id`` = code, a read-only ``version`` property) in
  the requested CRS (OGC API – Features Part 2: CRS84 lon/lat by default, EPSG:4326/4490 in
  their lat/lon axis order, EPSG:3857).
- Input: a GeoJSON feature parsed into properties + a storage geometry (lon/lat EPSG:4326),
  honouring ``Content-Crs`` and its axis order, refusing malformed bodies, wrong geometry
  types, unknown properties and coordinates outside China (with a hint when lat/lon look swapped).
- Structured fields (``json``: a grid's ``workers``, a station's ``services``) travel as JSON
  *text*, with flat read-only summaries (``worker_names``, ``worker_count``): QGIS's OAPIF reader
  (OGR's GeoJSON driver underneath) turns a JSON array of objects into NULL but keeps text, so
  this is the form every client can read and send back. Writes accept the text and the
  structured form alike (:func:`read_structured`).
- A structured field sent as ``null`` was not readable by the client (the API never serves
  null for one: an empty list is ``"[]"``), so it keeps the value of the version the client
  edited (:func:`keep_unread`); to empty it, send ``"[]"``, ``""`` or ``[]``.
- JSON merge-patch (RFC 7396) and ETags.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyproj
import shapely
from shapely.geometry import mapping, shape

from gridgis.auth.privacy import without_contacts
from gridgis.crs import CHINA_BOUNDS
from gridgis.editing.changes import plain
from gridgis.errors import CRSError, MalformedInputError, OutOfAreaError, Problem, ValidationError
from gridgis.layers import get_spec
from gridgis.layers.base import _coerce_json

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"
#: CRSs the API reads and writes in (Part 2), storage CRS first
SUPPORTED_CRS = (CRS84, EPSG_URI.format(4326), EPSG_URI.format(4490), EPSG_URI.format(3857))
READ_ONLY = ("version",)
#: read-only flat summaries of structured fields: field -> (summary property, what it holds)
SUMMARIES: dict[str, tuple[tuple[str, str], ...]] = {
    "workers": (("worker_names", "names joined with 、"), ("worker_count", "how many")),
}


@dataclass(frozen=True)
class ApiCRS:
    """A CRS of the API: its URI, whether its axis order is lat/lon, and its EPSG (None for CRS84)."""

    uri: str
    latlon: bool
    epsg: int | None

    @property
    def header(self) -> str:
        return f"<{self.uri}>"


def parse_crs_uri(value: str | None) -> ApiCRS:
    """Parse a ``crs=``/``Content-Crs`` value (``<…>`` brackets allowed); CRS84 when empty.

    >>> parse_crs_uri("<http://www.opengis.net/def/crs/EPSG/0/4326>").latlon
    True
    >>> parse_crs_uri(None).uri == CRS84
    True
    """
    if value is None or not value.strip():
        return ApiCRS(CRS84, False, None)
    uri = value.strip().strip("<>").strip()
    low = uri.lower().rstrip("/")
    if low in (CRS84.lower(), "crs84", "ogc:crs84", "urn:ogc:def:crs:ogc:1.3:crs84", "urn:ogc:def:crs:ogc::crs84"):
        return ApiCRS(CRS84, False, None)
    epsg = None
    for prefix in (
        "http://www.opengis.net/def/crs/epsg/0/",
        "https://www.opengis.net/def/crs/epsg/0/",
        "urn:ogc:def:crs:epsg::",
        "epsg:",
    ):
        if low.startswith(prefix) and low[len(prefix) :].isdigit():
            epsg = int(low[len(prefix) :])
    if epsg in (4326, 4490, 3857):
        return ApiCRS(EPSG_URI.format(epsg), epsg != 3857, epsg)
    raise CRSError(f"CRS {uri!r} is not supported here; use one of {', '.join(SUPPORTED_CRS)}")


def _swap(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda xy: xy[:, ::-1])


def _project(geom: shapely.Geometry, src: int, dst: int) -> shapely.Geometry:
    tr = pyproj.Transformer.from_crs(src, dst, always_xy=True)
    return shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def to_api_crs(geom: shapely.Geometry | None, crs: ApiCRS) -> shapely.Geometry | None:
    """A storage (lon/lat) geometry in ``crs``'s coordinates and axis order."""
    if geom is None:
        return None
    if crs.epsg == 3857:
        return _project(geom, 4326, 3857)
    return _swap(geom) if crs.latlon else geom


def from_api_crs(geom: shapely.Geometry, crs: ApiCRS) -> shapely.Geometry:
    """A geometry given in ``crs`` as storage lon/lat (EPSG:4326)."""
    if crs.epsg == 3857:
        return _project(geom, 3857, 4326)
    return _swap(geom) if crs.latlon else geom


def etag(version: int) -> str:
    """The strong ETag of a feature version: ``"3"``."""
    return f'"{int(version)}"'


def parse_if_match(header: str | None) -> list[str] | None:
    """The entity tags of an ``If-Match`` header (``["*"]`` for any); None when absent."""
    if header is None or not header.strip():
        return None
    return [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]


def feature_json(
    layer: str, row: Any, crs: ApiCRS | None = None, links: list[dict] | None = None, contacts: bool = True
) -> dict[str, Any]:
    """A stored feature (frame row or dict) as a GeoJSON feature: ``id`` = code, properties with ``version``.

    ``contacts=False`` leaves the workers' contacts (phones…) out, for readers who may not see
    them (:func:`gridgis.auth.tokens.sees_personal_data`); names and roles stay.
    """
    get = row.get if hasattr(row, "get") else (lambda k, d=None: getattr(row, k, d))
    geom = to_api_crs(get("geometry"), crs or ApiCRS(CRS84, False, None))
    out: dict[str, Any] = {
        "type": "Feature",
        "id": str(get("code")),
        "geometry": mapping(geom) if geom is not None else None,
        "properties": _properties(get_spec(layer), get, contacts),
    }
    if links:
        out["links"] = links
    return out


def _properties(spec: Any, get: Any, contacts: bool) -> dict[str, Any]:
    """A feature's ``properties`` as served (one place for :func:`feature_json` and :func:`feature_text`)."""
    props: dict[str, Any] = {"code": str(get("code")), "name": plain(get("name"))}
    for f in spec.fields:
        value = plain(get(f.name))
        if f.type == "json":
            structured = _coerce_json(value)
            if not contacts and f.name == "workers":
                structured = without_contacts(structured)
            props[f.name] = json.dumps(structured, ensure_ascii=False)
            props.update(summaries(f.name, structured))
        else:
            props[f.name] = value
    version = plain(get("version"))
    if version is not None:
        props["version"] = int(version)
    return props


def dumps(value: Any) -> str:
    """JSON text as the API's responses write it (UTF-8 kept, no spaces, no NaN)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def feature_text(layer: str, row: dict[str, Any], contacts: bool = True, links: list[dict] | None = None) -> str:
    """:func:`feature_json` as JSON text, for a stored row whose geometry is already GeoJSON text
    (``row["geojson"]``, written by PostGIS in the requested axis order) and whose ``properties``
    are the stored ones: the feature API's fast path, the same content without shapely or a frame."""
    from gridgis.storage.rows import typed_properties

    spec = get_spec(layer)
    values = {**typed_properties(spec, row["properties"]), "code": row["code"], "name": row["name"]}
    values["version"] = row["version"]
    props = _properties(spec, values.get, contacts)
    tail = f',"links":{dumps(links)}' if links else ""
    geometry = row["geojson"] if row["geojson"] is not None else "null"
    return (
        f'{{"type":"Feature","id":{dumps(str(row["code"]))},"geometry":{geometry},"properties":{dumps(props)}{tail}}}'
    )


def summaries(field: str, value: Any) -> dict[str, Any]:
    """The flat read-only summaries of a structured field's value (see :data:`SUMMARIES`).

    >>> summaries("workers", [{"name": "范淑珍", "role": "full_time"}, {"name": "卢刚"}])
    {'worker_names': '范淑珍、卢刚', 'worker_count': 2}
    """
    if field != "workers":
        return {}
    items = value if isinstance(value, list) else []
    names = [str(w.get("name", "")) if isinstance(w, dict) else str(w) for w in items]
    return {"worker_names": "、".join(n for n in names if n), "worker_count": len(items)}


def summary_names(layer: str) -> list[str]:
    """The read-only summary properties of ``layer``'s features."""
    spec = get_spec(layer)
    return [name for f in spec.fields if f.type == "json" for name, _ in SUMMARIES.get(f.name, ())]


def read_structured(layer: str, field: str, value: Any) -> Any:
    """A structured field's value as sent (JSON text, empty text or the structure itself) as its
    structure; ``None`` stays ``None`` (see :func:`keep_unread`). A malformed text is a
    :class:`ValidationError` naming the field.

    >>> read_structured("grids", "workers", '[{"name": "卢刚"}]')
    [{'name': '卢刚'}]
    >>> read_structured("grids", "workers", "")
    []
    """
    if value is None or isinstance(value, list | dict):
        return value
    if isinstance(value, str):
        try:
            return _coerce_json(value)
        except json.JSONDecodeError as exc:
            label = get_spec(layer).field(field).label_zh
            raise ValidationError(
                f"{layer}: {field} ({label}) is not valid JSON text: {exc.msg} at character {exc.pos}",
                [Problem(f"{field} is not valid JSON: {exc.msg}", layer=layer, kind="bad_value")],
            ) from None
    raise ValidationError(
        f"{layer}: {field} must be a JSON list or its text, not {type(value).__name__}",
        [Problem(f"{field} must be a JSON list or its text", layer=layer, kind="bad_value")],
    )


def keep_unread(layer: str, properties: dict[str, Any], edited: dict[str, Any]) -> dict[str, Any]:
    """``properties`` with each structured field sent as ``null`` set to its value in ``edited``
    (the version the client edited): the client could not read that field, so it did not change it.

    >>> keep_unread("grids", {"workers": None, "households": 3}, {"workers": [{"name": "卢刚"}]})
    {'workers': [{'name': '卢刚'}], 'households': 3}
    """
    out = dict(properties)
    for f in get_spec(layer).fields:
        if f.type == "json" and f.name in out and out[f.name] is None:
            out[f.name] = _coerce_json(edited.get(f.name))
    return out


def summary_problems(layer: str, sent: dict[str, Any], new: dict[str, Any], edited: dict[str, Any]) -> list[Problem]:
    """Read-only summaries (``worker_names``…) are ignored on writes when they still describe the
    stored value or the new one; a summary changed by hand would be lost, so it is refused."""
    problems: list[Problem] = []
    for f in get_spec(layer).fields:
        for name, what in SUMMARIES.get(f.name, ()):
            if name not in sent or sent[name] is None:
                continue
            ok = {summaries(f.name, edited.get(f.name)).get(name), summaries(f.name, new.get(f.name)).get(name)}
            if sent[name] not in ok:
                problems.append(
                    Problem(
                        f"{name} ({what} of {f.name}) is read-only; edit {f.name} (JSON text) instead",
                        layer=layer,
                        kind="read_only",
                    )
                )
    return problems


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge-patch (RFC 7396): ``null`` removes, objects merge, anything else replaces.

    >>> merge_patch({"a": 1, "b": {"c": 2}}, {"b": {"c": None, "d": 3}})
    {'a': 1, 'b': {'d': 3}}
    """
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


@dataclass
class ParsedFeature:
    """A feature body read from a client: properties (no ``code``/``version``), storage geometry."""

    code: str | None
    properties: dict[str, Any]
    geometry: shapely.Geometry | None
    version: int | None
    summaries: dict[str, Any] = field(default_factory=dict)  # read-only summaries as sent


def parse_feature(
    layer: str, body: Any, crs: ApiCRS | None = None, max_vertices: int = 200_000, require_geometry: bool = True
) -> ParsedFeature:
    """Read a GeoJSON feature for ``layer``; raise a typed error naming every problem found."""
    spec = get_spec(layer)
    if not isinstance(body, dict) or body.get("type") != "Feature":
        raise MalformedInputError('the body must be a GeoJSON Feature object ({"type": "Feature", …})')
    props = body.get("properties") or {}
    if not isinstance(props, dict):
        raise MalformedInputError("'properties' must be a JSON object")
    known = {"code", "name", *READ_ONLY, *summary_names(layer), *(f.name for f in spec.fields)}
    unknown = sorted(set(props) - known)
    problems = [
        Problem(f"unknown property {k!r}; {layer} has {', '.join(sorted(known))}", layer=layer, kind="unknown_property")
        for k in unknown
    ]
    code = props.get("code", body.get("id"))
    version = props.get("version")
    if version is not None:
        try:
            version = int(version)
        except (TypeError, ValueError):
            problems.append(Problem(f"version {version!r} is not an integer", layer=layer, kind="bad_value"))
            version = None
    geometry = None
    raw = body.get("geometry")
    if raw is None:
        if require_geometry:
            problems.append(Problem("the feature has no geometry", layer=layer, kind="invalid_geometry"))
    else:
        geometry = read_geometry(layer, raw, crs or ApiCRS(CRS84, False, None), max_vertices)
    clean = {k: v for k, v in props.items() if k not in ("code", *READ_ONLY, *summary_names(layer))}
    for f in spec.fields:
        if f.type == "json" and f.name in clean:
            try:
                clean[f.name] = read_structured(layer, f.name, clean[f.name])
            except ValidationError as exc:
                problems += exc.problems
    if problems:
        raise ValidationError(f"{layer}: the feature cannot be accepted; nothing was stored", problems)
    summary = {k: props[k] for k in summary_names(layer) if k in props}
    return ParsedFeature(None if code is None else str(code), clean, geometry, version, summary)


def read_geometry(layer: str, raw: Any, crs: ApiCRS, max_vertices: int = 200_000) -> shapely.Geometry:
    """A GeoJSON geometry as storage lon/lat; malformed, wrong-type, oversized and misplaced ones refused."""
    from gridgis.errors import PayloadTooLargeError

    spec = get_spec(layer)
    try:
        geom = shape(raw)
    except Exception as exc:  # noqa: BLE001 - shapely raises many kinds for bad GeoJSON
        raise MalformedInputError(f"the geometry is not valid GeoJSON: {exc}") from None
    expected = ("Point",) if spec.geometry == "point" else ("Polygon", "MultiPolygon")
    if geom.geom_type not in expected:
        raise ValidationError(
            f"{layer}: wrong geometry type",
            [
                Problem(
                    f"geometry is a {geom.geom_type}; {spec.label_zh} needs {' or '.join(expected)}",
                    layer=layer,
                    kind="wrong_geometry_type",
                )
            ],
        )
    if shapely.get_num_coordinates(geom) > max_vertices:
        raise PayloadTooLargeError(
            f"the geometry has {shapely.get_num_coordinates(geom)} vertices; "
            f"the limit is {max_vertices}; simplify it first"
        )
    geom = from_api_crs(geom, crs)
    check_in_china(layer, geom, crs)
    return geom


def check_in_china(layer: str, geom: shapely.Geometry, crs: ApiCRS) -> None:
    """Refuse lon/lat outside China, suggesting the axis swap when swapped coordinates would fit."""
    if geom.is_empty:
        return
    minx, miny, maxx, maxy = geom.bounds
    inside = lambda a, b, c, d: (
        a >= CHINA_BOUNDS[0] and b >= CHINA_BOUNDS[1] and c <= CHINA_BOUNDS[2] and d <= CHINA_BOUNDS[3]
    )
    if inside(minx, miny, maxx, maxy):
        return
    hint = "check the CRS of the data"
    if inside(miny, minx, maxy, maxx):
        hint = (
            "the coordinates look like lat/lon: send lon/lat (CRS84), or declare "
            f"'Content-Crs: <{EPSG_URI.format(4326)}>' for lat/lon order"
        )
        if crs.latlon:
            hint = f"the coordinates look like lon/lat but Content-Crs {crs.header} says lat/lon; drop the header"
    where = f"{minx:.5f},{miny:.5f} … {maxx:.5f},{maxy:.5f}"
    raise OutOfAreaError(
        f"{layer}: coordinates {where} lie outside China; {hint}", [Problem(hint, layer=layer, kind="out_of_area")]
    )
