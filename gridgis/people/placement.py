"""Place people, wishes and care records on the map: by building code or home address, through routing.

One rule (:meth:`Placer.place`) serves every path — import, API, sample population, intake:

1. a building code that exists → that building (its representative point routed once);
2. otherwise an address text → :class:`gridgis.routing.address.AddressResolver` (the routing index's
   own resolver); accepted when unambiguous and at least :data:`MIN_CONFIDENCE`; the building number
   picks the building, else the compound's point is routed;
3. otherwise → unplaced, with the reason (an import keeps the row and reports it; nothing is dropped).

Buildings are routed once (:attr:`Placer.buildings`, one row per building code with its micro-grid,
grid, community, street, compound, unit count and point in EPSG:4326): that table is also what the
responsibility check, the roster and the boundary follow-up read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgis.errors import GridGISError, ValidationError

#: below this address confidence a person (or a 12345 order) is left unplaced for a person to check
MIN_CONFIDENCE = 0.6


@dataclass
class Place:
    """Where a person or task is; ``reason`` is set (and the codes empty) when unplaced."""

    building_code: str | None = None
    unit: int | None = None
    compound_code: str | None = None
    micro_grid_code: str | None = None
    grid_code: str | None = None
    community_code: str | None = None
    street_code: str | None = None
    lon: float | None = None
    lat: float | None = None
    confidence: float | None = None
    reason: str | None = None

    @property
    def placed(self) -> bool:
        return self.reason is None and self.grid_code is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Placer:
    """Buildings routed once, an address resolver and a routing index of one boundary generation."""

    def __init__(self, city: dict[str, gpd.GeoDataFrame], index: Any = None) -> None:
        from gridgis.routing import RoutingIndex

        self.city = city
        self.index: Any = index or RoutingIndex.build(city)
        self._area_points: dict[str, dict[str, Any]] = {}
        b = city.get("buildings")
        if b is None or len(b) == 0:
            self.buildings = pd.DataFrame(
                columns=[
                    "lon",
                    "lat",
                    "compound_code",
                    "micro_grid_code",
                    "grid_code",
                    "community_code",
                    "street_code",
                    "units",
                    "households",
                    "name",
                ]
            )
            return
        pts = shapely.point_on_surface(b.to_crs(4326).geometry.values)
        lon, lat = shapely.get_x(pts), shapely.get_y(pts)
        routed = self.index.route_many(lon, lat, with_compounds=True)
        frame = pd.DataFrame(
            {
                "lon": lon,
                "lat": lat,
                "compound_code": b["compound_code"].where(b["compound_code"].notna(), routed["compound_code"]).values
                if "compound_code" in b.columns
                else routed["compound_code"].values,
                "micro_grid_code": routed["micro_grid_code"].values,
                "grid_code": routed["grid_code"].values,
                "community_code": routed["community_code"].values,
                "street_code": routed["street_code"].values,
                "units": _ints(b, "units", 1),
                "households": _ints(b, "households", 0),
                "name": b["name"].astype(str).values if "name" in b.columns else b["code"].astype(str).values,
            },
            index=pd.Index(b["code"].astype(str).values, name="code"),
        )
        self.buildings = frame

    @classmethod
    def from_repository(cls, repository: Any) -> Placer:
        """A placer over the repository's current boundaries (raises when none are stored)."""
        from gridgis.errors import NotFoundError

        if repository.current_generation() is None:
            raise NotFoundError("the store has no boundaries yet: load the city first (gridgis import / sample-city)")
        return cls(repository.read_city())

    def building_place(self, code: str, unit: int | None = None, confidence: float = 1.0) -> Place:
        row = self.buildings.loc[code]
        units = int(row["units"])
        if unit is not None and not 1 <= int(unit) <= max(units, 1):
            return Place(reason=f"building {code} has {units} unit(s); unit {unit} does not exist")
        return Place(
            code,
            None if unit is None else int(unit),
            _s(row["compound_code"]),
            _s(row["micro_grid_code"]),
            _s(row["grid_code"]),
            _s(row["community_code"]),
            _s(row["street_code"]),
            float(row["lon"]),
            float(row["lat"]),
            confidence,
        )

    def place(
        self,
        *,
        building_code: str | None = None,
        address: str | None = None,
        unit: int | None = None,
        work_area: str | None = None,
    ) -> Place:
        """Place by building code, else by address, else by work area (see the module docstring); never raises.

        ``work_area`` (a micro-grid, grid or community code) places a worker who is not placed by a home:
        at the area's representative point, without a building.
        """
        code = (building_code or "").strip()
        if not code and not (address or "").strip() and work_area:
            return self.area_place(work_area)
        if code:
            if code in self.buildings.index:
                return self.building_place(code, unit)
            if not (address or "").strip():
                return Place(reason=f"building code {code} is not in the buildings layer")
        text = (address or "").strip()
        if not text:
            return Place(reason="no address and no building code")
        try:
            match = self.index.address_resolver.resolve(text)
        except GridGISError as err:
            return Place(reason=f"address {text!r} not found: {err.message}")
        if match.ambiguous:
            names = "、".join(c.get("name", "") for c in match.candidates[:4])
            return Place(confidence=match.confidence, reason=f"address {text!r} is ambiguous ({names})")
        if match.confidence < MIN_CONFIDENCE:
            return Place(
                confidence=match.confidence,
                reason=f"address {text!r} matches {match.compound_name} only weakly ({match.confidence:.2f})",
            )
        if match.building_code and match.building_code in self.buildings.index:
            return self.building_place(match.building_code, unit if unit is not None else match.unit, match.confidence)
        place = self.route_point(match.lon, match.lat)
        place.confidence = match.confidence
        place.compound_code = place.compound_code or match.compound_code
        return place

    def area_place(self, code: str) -> Place:
        """The representative point of a micro-grid, grid or community, routed (no building)."""
        layer = {17: "micro_grids", 15: "grids", 12: "communities"}.get(len(code), "")
        frame = self.city.get(layer) if layer else None
        if frame is None or not (frame["code"] == code).any():
            return Place(reason=f"work area {code} is not a micro-grid, grid or community code")
        if layer not in self._area_points:
            pts = shapely.point_on_surface(frame.geometry.values)
            self._area_points[layer] = dict(zip(frame["code"].astype(str), pts))
        p = self._area_points[layer][code]
        place = self.route_point(p.x, p.y)
        place.building_code = place.compound_code = None
        return place

    def route_point(self, lon: float, lat: float) -> Place:
        """Route a point (EPSG:4326) to its micro-grid, grid, community, street, compound and building."""
        try:
            r = self.index.route(float(lon), float(lat))
        except GridGISError as err:
            return Place(lon=lon, lat=lat, reason=err.message)
        return Place(
            r.building_code,
            None,
            r.compound_code,
            r.micro_grid_code,
            r.grid_code,
            r.community_code,
            r.street_code,
            float(lon),
            float(lat),
            1.0,
        )

    def units_of(self, code: str) -> int:
        return int(self.buildings.at[code, "units"]) if code in self.buildings.index else 0


def _s(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return str(v)


def _ints(frame: pd.DataFrame, col: str, default: int) -> np.ndarray:
    if col not in frame.columns:
        return np.full(len(frame), default, dtype=np.int64)
    return pd.to_numeric(frame[col], errors="coerce").fillna(default).astype(np.int64).values


def check_phone(phone: str | None) -> str | None:
    """A phone number kept as digits and dashes; ``ValidationError`` for anything else."""
    if phone is None or str(phone).strip() == "":
        return None
    text = str(phone).strip().replace(" ", "")
    text = text.removesuffix(".0")
    if not all(ch.isdigit() or ch in "-+" for ch in text) or len(text) > 20:
        raise ValidationError(f"phone {phone!r} is not a phone number")
    return text


__all__ = ["MIN_CONFIDENCE", "Place", "Placer", "check_phone"]
