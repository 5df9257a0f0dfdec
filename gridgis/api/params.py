"""Small ``Annotated`` dependencies that parse and range-check one query parameter each.

Each turns the raw parameter into a domain value or raises
:class:`~gridgis.errors.InvalidParameterError` (400, naming the parameter), as OGC API –
Features Part 1 asks for a ``limit`` of 0, a ``bbox`` of three numbers or one out of range.
A ``limit`` above the maximum is capped, not refused (Part 1, /req/core/fc-limit-response-1).
The parsing is in plain functions (``parse_bbox``, ``parse_limit`` …) that the CLI can call too.

>>> # in a router:
>>> # def items(box: BBoxDep, limit: LimitDep, offset: OffsetDep, crs: CrsDep): ...
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Annotated

from fastapi import Depends, Path, Query

from gridgis.editing.geojson import CRS84, ApiCRS, parse_crs_uri
from gridgis.editing.ogc import DEFAULT_LIMIT, MAX_LIMIT
from gridgis.errors import CRSError, InvalidParameterError
from gridgis.storage.model import BBox

#: the largest generation id (PostgreSQL ``bigint``)
MAX_GENERATION = 2**63 - 1
#: Web Mercator's extent in metres (EPSG:3857 is the only projected CRS the API speaks)
_MERCATOR = 20037508.342789244


def parse_bbox(value: str, crs: ApiCRS | None = None) -> BBox:
    """``minx,miny,maxx,maxy`` (or six numbers with heights) in ``crs`` → lon/lat in CRS84.

    Axis order follows ``crs`` (lat/lon for EPSG:4326 and EPSG:4490); EPSG:3857 is in metres.
    Longitudes must lie in −180..180 and latitudes in −90..90, and the minimum may not exceed
    the maximum on either axis.

    >>> parse_bbox("116.3,39.8,116.5,40.0")
    (116.3, 39.8, 116.5, 40.0)
    >>> parse_bbox("39.8,116.3,40.0,116.5", parse_crs_uri("http://www.opengis.net/def/crs/EPSG/0/4326"))
    (116.3, 39.8, 116.5, 40.0)
    >>> parse_bbox("1,2,3")
    Traceback (most recent call last):
    ...
    gridgis.errors.InvalidParameterError: bbox '1,2,3' must be four numbers minx,miny,maxx,maxy (or six with heights)
    >>> parse_bbox("200,100,300,120")
    Traceback (most recent call last):
    ...
    gridgis.errors.InvalidParameterError: bbox '200,100,300,120': longitude 200.0 is outside -180..180
    """
    crs = crs or ApiCRS(CRS84, False, None)
    try:
        parts = [float(v) for v in value.split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (4, 6) or not all(math.isfinite(p) for p in parts):
        raise InvalidParameterError(
            "bbox", f"bbox {value!r} must be four numbers minx,miny,maxx,maxy (or six with heights)"
        )
    if len(parts) == 6:
        parts = [parts[0], parts[1], parts[3], parts[4]]
    if crs.latlon:
        parts = [parts[1], parts[0], parts[3], parts[2]]
    x0, y0, x1, y1 = parts
    if x0 > x1 or y0 > y1:
        raise InvalidParameterError(
            "bbox", f"bbox {value!r}: the minimum exceeds the maximum (give minx,miny,maxx,maxy in {crs.uri})"
        )
    if crs.epsg == 3857:
        for v in parts:
            if abs(v) > _MERCATOR:
                raise InvalidParameterError("bbox", f"bbox {value!r}: {v} is outside Web Mercator's ±{_MERCATOR:.0f} m")
        import shapely

        from gridgis.editing.geojson import from_api_crs

        b = from_api_crs(shapely.box(x0, y0, x1, y1), crs).bounds
        return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
    for lon in (x0, x1):
        if not -180.0 <= lon <= 180.0:
            raise InvalidParameterError("bbox", f"bbox {value!r}: longitude {lon} is outside -180..180")
    for lat in (y0, y1):
        if not -90.0 <= lat <= 90.0:
            raise InvalidParameterError("bbox", f"bbox {value!r}: latitude {lat} is outside -90..90")
    return (x0, y0, x1, y1)


def parse_limit(value: int, maximum: int = MAX_LIMIT) -> int:
    """A page size: at least 1; above ``maximum`` it is capped to ``maximum`` (OGC API Part 1).

    >>> parse_limit(10), parse_limit(10_001, maximum=10_000)
    (10, 10000)
    >>> parse_limit(0)
    Traceback (most recent call last):
    ...
    gridgis.errors.InvalidParameterError: limit 0 must be at least 1
    """
    if value < 1:
        raise InvalidParameterError("limit", f"limit {value} must be at least 1")
    return min(value, maximum)


def parse_offset(value: int) -> int:
    """A page start: 0 or more.

    >>> parse_offset(0)
    0
    """
    if value < 0:
        raise InvalidParameterError("offset", f"offset {value} must be 0 or more")
    return value


def parse_generation(value: int | None, name: str = "generation") -> int | None:
    """A generation id: 0..2^63−1 (``None`` means the current state).

    >>> parse_generation(3), parse_generation(None)
    (3, None)
    >>> parse_generation(2**63)
    Traceback (most recent call last):
    ...
    gridgis.errors.InvalidParameterError: generation 9223372036854775808 is outside 0..9223372036854775807
    """
    if value is not None and not 0 <= value <= MAX_GENERATION:
        raise InvalidParameterError(name, f"{name} {value} is outside 0..{MAX_GENERATION}")
    return value


def parse_instant(value: str | None, name: str = "datetime") -> datetime | None:
    """One RFC 3339 instant (``Z`` or an offset); intervals are not supported.

    >>> parse_instant("2026-01-01T08:00:00Z").isoformat()
    '2026-01-01T08:00:00+00:00'
    >>> parse_instant("2026-01-01/2026-02-01")
    Traceback (most recent call last):
    ...
    gridgis.errors.InvalidParameterError: datetime must be one instant (RFC 3339), e.g. 2026-01-01T00:00:00Z; intervals are not supported
    """
    if value is None:
        return None
    if "/" in value:
        raise InvalidParameterError(
            name, f"{name} must be one instant (RFC 3339), e.g. 2026-01-01T00:00:00Z; intervals are not supported"
        )
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise InvalidParameterError(
            name, f"{name} {value!r} is not an RFC 3339 instant, e.g. 2026-01-01T00:00:00Z"
        ) from None


def parse_date(value: str | None, name: str = "date") -> date | None:
    """A calendar date ``YYYY-MM-DD``.

    >>> parse_date("2026-10-01")
    datetime.date(2026, 10, 1)
    >>> parse_date("2026-13-01", "start")
    Traceback (most recent call last):
    ...
    gridgis.errors.InvalidParameterError: start '2026-13-01' is not a date YYYY-MM-DD
    """
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidParameterError(name, f"{name} {value!r} is not a date YYYY-MM-DD") from None


def parse_api_crs(value: str | None, name: str = "crs") -> ApiCRS:
    """A CRS URI of the API (CRS84 when absent); an unsupported one is a 400 naming the parameter.

    >>> parse_api_crs(None).uri
    'http://www.opengis.net/def/crs/OGC/1.3/CRS84'
    """
    try:
        return parse_crs_uri(value)
    except CRSError as exc:
        raise InvalidParameterError(name, f"{name}: {exc.message}") from None


# ------------------------------------------------------------------ FastAPI dependencies

_CRS_DOC = (
    "CRS URI of the coordinates (OGC API – Features Part 2); default CRS84 (WGS84 lon/lat). "
    "Supported: CRS84, EPSG:4326 (lat/lon), EPSG:4490 (CGCS2000, lat/lon), EPSG:3857."
)


async def bbox_param(
    bbox: Annotated[
        str | None,
        Query(
            description="minx,miny,maxx,maxy (or six numbers with heights) in bbox-crs; lon −180..180, lat −90..90",
            examples=["116.3,39.8,116.5,40.0"],
        ),
    ] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", description="CRS URI of bbox; default CRS84")] = None,
) -> BBox | None:
    if bbox is None:
        return None
    return parse_bbox(bbox, parse_api_crs(bbox_crs, "bbox-crs"))


async def limit_param(
    limit: Annotated[
        int,
        Query(
            description=f"page size, at least 1; above {MAX_LIMIT} it is capped to {MAX_LIMIT}",
            json_schema_extra={"minimum": 1},
        ),
    ] = DEFAULT_LIMIT,
) -> int:
    return parse_limit(limit)


async def offset_param(
    offset: Annotated[int, Query(description="index of the first feature", json_schema_extra={"minimum": 0})] = 0,
) -> int:
    return parse_offset(offset)


async def generation_param(
    generation: Annotated[
        int | None,
        Query(
            description="read as of this generation (default: the current state)",
            json_schema_extra={"minimum": 0, "maximum": MAX_GENERATION},
        ),
    ] = None,
) -> int | None:
    return parse_generation(generation)


async def crs_param(crs: Annotated[str | None, Query(description=_CRS_DOC)] = None) -> ApiCRS:
    return parse_api_crs(crs)


async def datetime_param(
    datetime_: Annotated[
        str | None,
        Query(alias="datetime", description="read as of this RFC 3339 instant, e.g. 2026-01-01T00:00:00Z"),
    ] = None,
) -> datetime | None:
    return parse_instant(datetime_)


#: a stored id in a path (``/tickets/{ticket_id}``): 1..2^63−1, so no lookup overflows the store's integer
RowId = Annotated[int, Path(ge=1, le=MAX_GENERATION, description="an id (1..2^63-1)")]
#: a generation id in a path (``/generations/{generation}/revert``)
GenerationId = Annotated[int, Path(ge=0, le=MAX_GENERATION, description="a generation id (0..2^63-1)")]

# the parameter dependencies are ``async``: pure parsing, so FastAPI runs them on the event loop
# instead of sending each to the thread pool (a hop per parameter per request)
BBoxDep = Annotated[BBox | None, Depends(bbox_param)]
LimitDep = Annotated[int, Depends(limit_param)]
OffsetDep = Annotated[int, Depends(offset_param)]
GenerationDep = Annotated[int | None, Depends(generation_param)]
CrsDep = Annotated[ApiCRS, Depends(crs_param)]
DateTimeDep = Annotated[datetime | None, Depends(datetime_param)]

__all__ = [
    "MAX_GENERATION",
    "BBoxDep",
    "CrsDep",
    "DateTimeDep",
    "GenerationDep",
    "GenerationId",
    "LimitDep",
    "OffsetDep",
    "RowId",
    "parse_api_crs",
    "parse_bbox",
    "parse_date",
    "parse_generation",
    "parse_instant",
    "parse_limit",
    "parse_offset",
]
