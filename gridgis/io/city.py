"""A whole city as one folder: ``<dir>/<layer>.geojson`` per layer (EPSG:4326, UTF-8)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from gridgis.crs import STORAGE_CRS
from gridgis.io.geojson import write_geojson
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
    """Write each frame to ``<dir>/<layer>.geojson`` with gridgis's GeoJSON writer
    (:func:`gridgis.io.geojson.write_geojson`: UTF-8, RFC 7946, JSON fields as JSON, the storage's 7
    decimals), so that :func:`read_city` gives back exactly the coordinates the store would hold."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return [write_geojson(frame, directory / f"{layer}.geojson") for layer, frame in city.items()]
