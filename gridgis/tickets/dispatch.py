"""Who must act and by when: the routing interface, first level by tier, deadlines by calendar.

The ticket store depends only on the small :class:`Router` protocol: ``route(lon, lat)``
(WGS84) returning an object with ``micro_grid_code``, ``grid_code``, ``community_code``,
``street_code``, ``workers``, ``snapped`` and ``distance_m``. :func:`router_for` builds the real
one from :mod:`gridgis.routing` (``RoutingService(repository)``); tests can pass any object
with that method, e.g. :class:`FrameRouter` over a grids frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from gridgis.codes import community_of, grid_of, street_of
from gridgis.crs import points_to_storage
from gridgis.errors import CRSError, OutOfAreaError, ValidationError
from gridgis.tickets.calendar import WorkCalendar, default_calendar
from gridgis.tickets.catalogue import Deadlines, Item


class Router(Protocol):
    def route(self, lon: float, lat: float, crs: str = "wgs84") -> Any: ...


@dataclass(frozen=True)
class Routed:
    """The routing answer a ticket keeps."""

    micro_grid_code: str | None
    grid_code: str | None
    community_code: str | None
    street_code: str | None
    workers: list[Any] = field(default_factory=list)
    snapped: bool = False
    distance_m: float = 0.0


def routed_from(result: Any) -> Routed:
    """Normalise a router's answer (object with attributes, or mapping) to :class:`Routed`."""

    def get(key: str, default: Any = None) -> Any:
        return result.get(key, default) if isinstance(result, dict) else getattr(result, key, default)

    workers = get("workers") or [*(get("micro_grid_workers") or []), *(get("grid_workers") or [])]
    return Routed(
        get("micro_grid_code"),
        get("grid_code"),
        get("community_code"),
        get("street_code"),
        list(workers),
        bool(get("snapped", False)),
        float(get("distance_m", 0.0) or 0.0),
    )


def to_wgs84(lon: Any, lat: Any, crs: str = "wgs84") -> tuple[float, float]:
    """Check a reported point and convert it to WGS84 lon/lat.

    Raises :class:`ValidationError` for missing/NaN/out-of-range values (naming them) and
    :class:`CRSError` for an unknown CRS.
    """
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        raise ValidationError(f"coordinates must be numbers, got lon={lon!r}, lat={lat!r}") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValidationError(f"coordinates must be finite numbers, got lon={lon!r}, lat={lat!r}")
    if not crs:
        raise CRSError("no CRS given for the reported point; use wgs84, cgcs2000, gcj02, bd09 or EPSG:nnnn")
    geographic = str(crs).lower() in ("wgs84", "cgcs2000", "gcj02", "bd09", "epsg:4326", "epsg:4490", "4326")
    if geographic and not (-180 <= x <= 180 and -90 <= y <= 90):
        raise ValidationError(
            f"coordinates out of range: lon={x} must be in [-180, 180], lat={y} in [-90, 90] (are lon and lat swapped?)"
        )
    lons, lats = points_to_storage([x], [y], crs)
    out = float(lons[0]), float(lats[0])
    if not (math.isfinite(out[0]) and math.isfinite(out[1])):
        raise ValidationError(f"coordinates ({x}, {y}) in {crs} cannot be converted to WGS84")
    if not (73 <= out[0] <= 136 and 3 <= out[1] <= 54):
        raise OutOfAreaError(f"point ({out[0]:.6f}, {out[1]:.6f}) is outside China; check the coordinates and CRS")
    return out


def router_for(repository: Any) -> Router:
    """The real router over ``repository``: :class:`gridgis.routing.RoutingService` when available,
    else a :class:`RepositoryRouter` (a routing index of the current generation, rebuilt when it changes)."""
    try:
        from gridgis.routing.service import RoutingService  # lazy: another area
    except ImportError:
        return RepositoryRouter(repository)
    return RoutingService(repository)


def route_at(router: Router, lon: float, lat: float, at: datetime | None) -> Any:
    """Route a WGS84 point against the boundaries valid at ``at`` when the router knows
    generations; a report older than every stored generation is routed on the current one."""
    from gridgis.errors import NotFoundError

    if at is not None:
        try:
            return router.route(lon, lat, "wgs84", at=at)  # type: ignore[call-arg]
        except (TypeError, NotFoundError):
            pass
    return router.route(lon, lat, "wgs84")


def generation_picker(router: Any, repository: Any) -> Any:
    """For batch work: a function ``at -> router`` that picks the routing index of the generation
    valid at ``at`` from one read of the generations (no query per point); None when the router
    has no generations (then :func:`route_at` is used per point)."""
    if not (hasattr(router, "index") and hasattr(repository, "generations")):
        return None
    gens = sorted(repository.generations(), key=lambda g: g.id)
    if not gens:
        return None
    cache: dict[int, Any] = {}

    def pick(at: datetime | None) -> Any:
        chosen = gens[-1]
        if at is not None:
            valid = [g for g in gens if g.created_at <= at]
            chosen = valid[-1] if valid else gens[-1]  # older than every generation: current boundaries
        if chosen.id not in cache:
            cache[chosen.id] = router.index(chosen.id)
        return cache[chosen.id]

    return pick


ROUTING_LAYERS = ("streets", "communities", "grids", "micro_grids", "compounds", "buildings")


class RepositoryRouter:
    """Routes with :class:`gridgis.routing.RoutingIndex` built from the repository's current layers."""

    def __init__(self, repository: Any) -> None:
        self.repository = repository
        self._index: Any = None
        self._generation: Any = object()

    def _current(self) -> Any:
        from gridgis.routing import RoutingIndex

        gen = self.repository.current_generation()
        gen_id = gen.id if gen is not None else None
        if self._index is None or gen_id != self._generation:
            if gen_id is None:
                raise OutOfAreaError("no boundaries are loaded yet: import a city before reporting tickets")
            city = {layer: self.repository.read_layer(layer) for layer in ROUTING_LAYERS}
            self._index = RoutingIndex.build({k: v for k, v in city.items() if len(v)}, generation=gen_id)
            self._generation = gen_id
        return self._index

    def route(self, lon: float, lat: float, crs: str = "wgs84") -> Any:
        return self._current().route(lon, lat, crs)


class FrameRouter:
    """A small exact router over a ``grids`` (or micro-grid) frame: for tests and tools.

    Points inside a polygon go to it (ties: lowest code); outside all, within ``tolerance_m``
    to the nearest (``snapped``); beyond, :class:`OutOfAreaError` naming the nearest and distance.
    """

    def __init__(self, micro_grids: Any, tolerance_m: float = 30.0) -> None:
        import shapely

        from gridgis.crs import metric_crs_for

        frame = micro_grids.sort_values("code").reset_index(drop=True)
        self._frame = frame
        self._metric = frame.to_crs(metric_crs_for(frame))
        self._tree = shapely.STRtree(frame.geometry.values)
        self.tolerance_m = tolerance_m

    def _codes(self, row: Any) -> dict[str, Any]:
        code = str(row["code"])
        out: dict[str, Any] = {}
        if len(code) == 17:  # micro-grid code = grid code + 2 digits (gridgis.codes)
            out["micro_grid_code"] = code
            code = grid_of(code)
        out["grid_code"] = code
        out["community_code"] = community_of(code)
        out["street_code"] = street_of(code)
        return out

    def route(self, lon: float, lat: float, crs: str = "wgs84") -> Routed:
        import geopandas as gpd
        import shapely

        x, y = to_wgs84(lon, lat, crs)
        pt = shapely.Point(x, y)
        hits = sorted(int(i) for i in self._tree.query(pt, predicate="covered_by"))
        if hits:
            return Routed(**_fill(self._codes(self._frame.iloc[hits[0]])))
        mpt = gpd.GeoSeries([pt], crs="EPSG:4326").to_crs(self._metric.crs).iloc[0]
        dist = self._metric.geometry.distance(mpt)
        i = int(dist.idxmin())
        d = float(dist.iloc[i])
        if d > self.tolerance_m:
            nearest = self._frame.iloc[i]["code"]
            raise OutOfAreaError(
                f"point ({x:.6f}, {y:.6f}) is outside the service area: nearest grid {nearest} "
                f"is {d:.0f} m away (tolerance {self.tolerance_m:.0f} m)"
            )
        return Routed(**_fill(self._codes(self._frame.iloc[i])), snapped=True, distance_m=round(d, 1))


def _fill(codes: dict[str, Any]) -> dict[str, Any]:
    return {k: codes.get(k) for k in ("micro_grid_code", "grid_code", "community_code", "street_code")}


# -- who and by when ------------------------------------------------------------------------------
def first_level(item: Item, routed: Routed) -> str:
    """Small matters start at the micro-grid (grid when there is none), big at the community,
    hard at the street — 小事快速响应、大事协商共议、难事提级共管."""
    if item.tier == "small":
        return "micro_grid" if routed.micro_grid_code else "grid"
    return "community" if item.tier == "big" else "street"


def deadlines_for(item: Item, start: datetime, calendar: WorkCalendar | None = None) -> dict[str, datetime]:
    """Due times of the four limits of ``item`` counted from ``start`` on ``calendar``."""
    cal = calendar or default_calendar()
    dl = item.deadlines
    assert isinstance(dl, Deadlines)
    return {f"{k}_due": cal.add(start, getattr(dl, k)) for k in ("respond", "reply", "coordinate", "solve")}
