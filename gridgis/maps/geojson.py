"""Fast GeoJSON text for maps and viewer tiles (coordinates rounded, properties JSON-safe)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

#: 6 decimals of a degree ≈ 0.1 m: plenty for a map, half the bytes of full precision
PRECISION = 6


def plain(value: Any) -> Any:
    """A JSON-safe Python value: NA/NaN → None, numpy scalars → Python, lists and dicts kept."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def geometry_json(geoms: Iterable, precision: int = PRECISION) -> list[str | None]:
    """GeoJSON geometry texts, coordinates rounded to ``precision`` decimals."""
    arr = np.asarray(list(geoms) if not isinstance(geoms, np.ndarray) else geoms, dtype=object)
    if len(arr) == 0:
        return []
    rounded = shapely.transform(arr, lambda xy: np.round(xy, precision))
    texts = shapely.to_geojson(rounded)
    return [None if t is None else t for t in texts.tolist()]


def feature_collection(
    frame: gpd.GeoDataFrame, columns: Iterable[str] | None = None, precision: int = PRECISION
) -> str:
    """A GeoJSON FeatureCollection text of ``frame`` (EPSG:4326) with the given property columns.

    >>> import shapely
    >>> f = gpd.GeoDataFrame({"code": ["a"], "n": [pd.NA]}, geometry=[shapely.Point(1.23456789, 2)], crs=4326)
    >>> feature_collection(f)
    '{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1.234568,2.0]},"properties":{"code":"a","n":null}}]}'
    """
    cols = [
        c
        for c in (columns if columns is not None else frame.columns)
        if c in frame.columns and c != "geometry" and c != frame.geometry.name
    ]
    geoms = geometry_json(frame.geometry.values, precision)
    records = frame[cols].to_dict(orient="records") if cols else [{} for _ in range(len(frame))]
    parts = []
    for g, props in zip(geoms, records):
        if g is None:
            continue
        p = json.dumps({k: plain(v) for k, v in props.items()}, ensure_ascii=False, separators=(",", ":"))
        parts.append('{"type":"Feature","geometry":' + g + ',"properties":' + p + "}")
    return '{"type":"FeatureCollection","features":[' + ",".join(parts) + "]}"
