"""API routes: point routing. Thin: parse, call :class:`gridgis.routing.service.RoutingService`, answer.

- ``GET /route?lon=..&lat=..&crs=wgs84|cgcs2000|gcj02|bd09|EPSG:nnnn[&at=ISO-time][&address=..]``
- ``POST /route`` with a JSON list of points (``{"lon", "lat", "id"?}`` or ``[lon, lat]``), an object
  ``{"points": [...]}``, or a GeoJSON FeatureCollection of points; at most
  ``settings.max_batch_points`` points (413 beyond).
"""

from __future__ import annotations

import json
import math
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Body, FastAPI, Query, Request
from fastapi.responses import Response

from gridgis.api.deps import SettingsDep
from gridgis.api.schemas.common import documented, request_body
from gridgis.api.schemas.routing import CountyOut, RouteBatchIn, RouteBatchOut, RouteOut
from gridgis.auth.deps import CurrentPrincipal
from gridgis.auth.privacy import without_contacts
from gridgis.auth.tokens import sees_personal_data
from gridgis.errors import GridGISError, MalformedInputError, PayloadTooLargeError, ValidationError
from gridgis.routing.county import parse_counties
from gridgis.routing.service import RoutingService

router = APIRouter(tags=["route"])

CRS_HELP = "CRS of lon/lat: wgs84, cgcs2000, gcj02 (AMap/Tencent/WeChat), bd09 (Baidu) or EPSG:nnnn"


def setup(app: FastAPI) -> None:
    """One routing service per app, over the app's repository; with ``prewarm_routing`` (the default)
    the current index is built in the background as the service starts, else on first use."""
    settings = app.state.settings
    service = app.state.routing = RoutingService(
        app.state.repository,
        snap_tolerance_m=settings.snap_tolerance_m,
        counties=parse_counties(getattr(settings, "counties", "")),
        shared_dir=getattr(settings, "routing_shared_dir", "") or None,
    )
    if not getattr(settings, "prewarm_routing", False):
        return
    previous = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> Any:
        service.prewarm()
        async with previous(application) as state:
            yield state

    app.router.lifespan_context = lifespan


def _service(request: Request) -> RoutingService:
    service = getattr(request.app.state, "routing", None)
    if service is None:
        service = request.app.state.routing = RoutingService(
            request.app.state.repository, snap_tolerance_m=request.app.state.settings.snap_tolerance_m
        )
    return service


@router.get(
    "/route/county",
    summary="The county (6-digit code) whose routing pool answers a point: the front's look-up",
    **documented(CountyOut),
)
def route_county(
    request: Request,
    lon: Annotated[str | None, Query(max_length=40, description="longitude or x in `crs`")] = None,
    lat: Annotated[str | None, Query(max_length=40, description="latitude or y in `crs`")] = None,
    crs: Annotated[str, Query(max_length=40, description=CRS_HELP)] = "wgs84",
) -> Response:
    """``{"county": "310115", "held": true}`` and the header ``Gridgis-County`` (``any`` when the point
    has no county: missing or invalid coordinates or CRS, which any pool then refuses with the usual
    400/422). Always 200, so nginx's ``auth_request`` can take the header and pass the request to that
    county's upstream."""
    service = _service(request)
    index = service.current()
    county = None
    if lon is not None and lat is not None:
        try:
            county = service.county_locator(index).locate(_number(lon), _number(lat), crs)
        except GridGISError:  # an unknown CRS: the pool's own answer names it
            county = None
    held = None if county is None else (index.counties is None or county in index.counties)
    return Response(
        json.dumps({"county": county, "held": held}),
        media_type="application/json",
        headers={"Gridgis-County": county or "any", "Cache-Control": "no-store"},
    )


@router.get(
    "/route",
    summary="Route a point (or an address) to its micro-grid, grid, community, street and workers",
    **documented(RouteOut),
)
def route_point(
    request: Request,
    principal: CurrentPrincipal,
    lon: Annotated[float | None, Query(description="longitude or x in `crs`")] = None,
    lat: Annotated[float | None, Query(description="latitude or y in `crs`")] = None,
    crs: Annotated[str, Query(description=CRS_HELP)] = "wgs84",
    at: Annotated[datetime | None, Query(description="route against the boundaries valid at this ISO time")] = None,
    address: Annotated[str | None, Query(max_length=200, description="address text, e.g. 梅园三街坊12号楼")] = None,
) -> dict[str, Any]:
    service = _service(request)
    match = None
    if address is not None:
        match = service.resolve_address(address, at=at)
    if lon is None or lat is None:
        if match is None:
            raise ValidationError("give lon and lat (with crs), or an address")
        if not match.routable:  # tied candidates: answer with them and no route rather than guess the first
            levels = ("micro_grid", "grid", "community", "street", "compound", "building")
            return {
                **dict.fromkeys(levels),
                "point": None,
                "input": {"lon": lon, "lat": lat, "crs": crs},
                "address": match.to_dict(),
                "reason": match.notes[-1],
            }
        result = service.route(match.lon, match.lat, "wgs84", at=at)
    else:
        result = service.route(lon, lat, crs, at=at)
    body = result.to_dict()
    for level in ("micro_grid", "grid"):  # workers' phones: the worker in scope, planners in scope, admins
        area = body.get(level)
        if area and "workers" in area and not sees_personal_data(principal, "worker_contacts", area["code"]):
            area["workers"] = without_contacts(area["workers"])
    body["input"] = {"lon": lon, "lat": lat, "crs": crs}
    if match is not None:
        body["address"] = match.to_dict()
    return body


def _points(body: Any) -> tuple[list[Any], list[Any] | None]:
    """(points, features) from a batch body; ``features`` is set for a GeoJSON FeatureCollection."""
    if isinstance(body, dict) and body.get("type") == "FeatureCollection":
        feats = body.get("features")
        if not isinstance(feats, list):
            raise MalformedInputError("the FeatureCollection has no 'features' list")
        pts = []
        for f in feats:
            geom = f.get("geometry") if isinstance(f, dict) else None
            if isinstance(geom, dict) and geom.get("type") == "Point" and isinstance(geom.get("coordinates"), list):
                pts.append(geom["coordinates"][:2])
            else:
                pts.append([None, None])
        return pts, feats
    if isinstance(body, dict) and isinstance(body.get("points"), list):
        return body["points"], None
    if isinstance(body, list):
        return body, None
    raise MalformedInputError(
        'send a JSON list of points ({lon, lat} or [lon, lat]), {"points": [...]}, '
        "or a GeoJSON FeatureCollection of points"
    )


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        return math.nan
    try:
        return float(v)
    except ValueError:
        return math.nan


def _lon_lat(p: Any) -> tuple[float, float]:
    if isinstance(p, dict):
        return _number(p.get("lon")), _number(p.get("lat"))
    if isinstance(p, list | tuple) and len(p) >= 2:
        return _number(p[0]), _number(p[1])
    return math.nan, math.nan


def _json(payload: dict[str, Any]) -> Response:
    """A large batch answer serialised in one ``json.dumps`` (FastAPI's generic encoder walks every value
    and is slower); NaN or infinities that the client put in its own ids or properties (Python's JSON
    reader accepts them) are written as null, so the answer stays strict JSON."""
    try:
        text = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        text = json.dumps(_finite(payload), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(text, media_type="application/json")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


@router.post(
    "/route",
    summary="Route a batch of points (JSON list or GeoJSON FeatureCollection)",
    **documented(RouteBatchOut),
    openapi_extra=request_body(RouteBatchIn, "application/json"),
)
def route_batch(
    request: Request,
    settings: SettingsDep,
    body: Annotated[Any, Body(description="points: [{lon, lat, id?}] or [[lon, lat]] or a FeatureCollection")],
    crs: Annotated[str, Query(description=CRS_HELP)] = "wgs84",
    at: Annotated[datetime | None, Query(description="route against the boundaries valid at this ISO time")] = None,
) -> Response:
    points, features = _points(body)
    if len(points) > settings.max_batch_points:
        raise PayloadTooLargeError(
            f"the batch has {len(points)} points; at most {settings.max_batch_points} are "
            "accepted per request: split it, or use `gridgis route` for files"
        )
    lonlat = [_lon_lat(p) for p in points]
    lon = np.array([p[0] for p in lonlat], dtype=float)
    lat = np.array([p[1] for p in lonlat], dtype=float)
    service = _service(request)
    index = service.current() if at is None else service.index_at(at)
    service.check_held(index, lon, lat, crs)  # a routing pool: every point of one of its counties, else 421
    frame = index.route_many(lon, lat, crs)
    names = list(frame.columns)  # code columns hold None, not NaN; snapped and distance_m are plain numbers
    rows = [dict(zip(names, values)) for values in zip(*(frame[c].tolist() for c in names))]
    if features is not None:
        out = []
        for f, row in zip(features, rows):
            f = dict(f) if isinstance(f, dict) else {"type": "Feature", "geometry": None}
            f["properties"] = {**(f.get("properties") or {}), **row}
            out.append(f)
        return _json({"type": "FeatureCollection", "features": out, "generation": index.generation})
    results = []
    for i, (p, row) in enumerate(zip(points, rows)):
        item = {"index": i}
        if isinstance(p, dict) and "id" in p:
            item["id"] = p["id"]
        item.update(row)
        results.append(item)
    return _json(
        {
            "generation": index.generation,
            "count": len(results),
            "routed": int(sum(1 for r in rows if r["reason"] == "")),
            "results": results,
        }
    )
