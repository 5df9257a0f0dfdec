"""The answer of a routing look-up: :class:`RouteResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class RouteResult:
    """Where a point belongs: codes and names at every level, and who is responsible.

    ``compound_*``/``building_*`` are ``None`` outside compounds/buildings; ``micro_grid_*`` is
    ``None`` where the grid has no micro-grid at the point. ``snapped`` says the point lay
    outside every grid and was moved to the nearest one, ``distance_m`` metres away.
    """

    lon: float
    lat: float
    micro_grid_code: str | None
    micro_grid_name: str | None
    grid_code: str
    grid_name: str | None
    community_code: str
    community_name: str | None
    street_code: str
    street_name: str | None
    compound_code: str | None = None
    compound_name: str | None = None
    building_code: str | None = None
    building_name: str | None = None
    micro_grid_workers: list = field(default_factory=list)
    grid_workers: list = field(default_factory=list)
    snapped: bool = False
    distance_m: float = 0.0
    generation: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: one object per level (``None`` where the point is in no such area)."""

        def level(code: str | None, name: str | None, workers: list | None = None) -> dict[str, Any] | None:
            if code is None:
                return None
            out: dict[str, Any] = {"code": code, "name": name}
            if workers is not None:
                out["workers"] = workers
            return out

        return {
            "point": {"lon": self.lon, "lat": self.lat, "crs": "EPSG:4326"},
            "micro_grid": level(self.micro_grid_code, self.micro_grid_name, self.micro_grid_workers),
            "grid": level(self.grid_code, self.grid_name, self.grid_workers),
            "community": level(self.community_code, self.community_name),
            "street": level(self.street_code, self.street_name),
            "compound": level(self.compound_code, self.compound_name),
            "building": level(self.building_code, self.building_name),
            "snapped": self.snapped,
            "distance_m": round(self.distance_m, 2),
            "generation": self.generation,
        }
