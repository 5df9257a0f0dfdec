"""A whole city as one folder: ``<dir>/<layer>.geojson`` per layer (EPSG:4326, UTF-8)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd

from gridgis.crs import STORAGE_CRS, STORAGE_DECIMALS
from gridgis.layers import LAYERS, get_spec, normalize_frame


def read_city(directory: str | Path, layers: tuple[str, ...] | None = None) -> dict[str, gpd.GeoDataFrame]:
    """Read every ``<layer>.geojson`` present in ``directory`` as normalised layer frames (EPSG:4326).

    ``tickets.geojson``, when present, is returned under ``"tickets"`` as read.
    """
    directory = Path(directory)
    city: dict[str, gpd.GeoDataFrame] = {}
    for layer in layers or tuple(LAYERS):
        path = directory / f"{layer}.geojson"
        if path.exists():
            frame = gpd.read_file(path, engine="pyogrio")
            frame = frame.set_crs(STORAGE_CRS, allow_override=True)
            city[layer] = normalize_frame(get_spec(layer), frame)
    tickets = directory / "tickets.geojson"
    if (layers is None or "tickets" in layers) and tickets.exists():
        city["tickets"] = gpd.read_file(tickets, engine="pyogrio").set_crs(STORAGE_CRS, allow_override=True)
    return city


def write_city(city: dict[str, gpd.GeoDataFrame], directory: str | Path) -> list[Path]:
    """Write each frame to ``<dir>/<layer>.geojson`` (JSON fields as JSON text, UTF-8, 7 decimals)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for layer, frame in city.items():
        out = frame.copy()
        for col in out.columns:
            if col != "geometry" and out[col].map(lambda v: isinstance(v, list | dict)).any():
                out[col] = out[col].map(lambda v: json.dumps(v, ensure_ascii=False))
        path = directory / f"{layer}.geojson"
        path.unlink(missing_ok=True)
        out.to_file(path, driver="GeoJSON", engine="pyogrio", COORDINATE_PRECISION=STORAGE_DECIMALS, RFC7946="YES")
        written.append(path)
    return written
