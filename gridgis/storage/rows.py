"""Converting between layer frames and feature rows (pure functions, no database).

A *row* is a dict with ``code``, ``name``, ``parent_code``, ``properties`` (the layer's fields,
JSON-ready), ``geometry`` (shapely, EPSG:4326) and the bounding box ``xmin … ymax``.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridgis import codes
from gridgis.crs import STORAGE_CRS
from gridgis.layers import LayerSpec


def json_value(value: Any) -> Any:
    """A plain-Python, JSON-ready version of one cell (NA/NaN → None, numpy scalars → Python)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool:
        return value
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [json_value(v) for v in value.tolist()]
    return value


def parent_of(spec: LayerSpec, code: str, properties: dict[str, Any]) -> str | None:
    """The parent code: the layer's parent field when set, else the parent implied by the code."""
    if spec.parent_field:
        value = properties.get(spec.parent_field)
        if value:
            return str(value)
    try:
        return codes.parent_code(spec.name, code)
    except Exception:  # noqa: BLE001 - a code without an implied parent simply has none
        return None


def _plain(values: list[Any]) -> list[Any]:
    """Scalars of one column as plain Python (``pd.NA``/NaN → None)."""
    return [None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v for v in values]


def frame_to_rows(spec: LayerSpec, frame: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """Rows of a *normalised and validated* layer frame (see :func:`gridgis.layers.check_frame`).

    Each row also carries ``wkb``: the geometry as WKB bytes, as stored.
    """
    geoms = np.asarray(frame.geometry.values, dtype=object)
    bounds = shapely.bounds(geoms)
    wkb = shapely.to_wkb(geoms)
    columns = {}
    for f in spec.fields:
        values = frame[f.name].tolist()
        columns[f.name] = [json_value(v) for v in values] if f.type == "json" else _plain(values)
    names = list(columns)
    rows = []
    for i, (code, name) in enumerate(zip(frame["code"].tolist(), frame["name"].tolist(), strict=True)):
        props = {n: columns[n][i] for n in names}
        rows.append(
            {
                "code": code,
                "name": name,
                "parent_code": parent_of(spec, code, props),
                "properties": props,
                "geometry": geoms[i],
                "wkb": wkb[i],
                "min_lon": float(bounds[i, 0]),
                "min_lat": float(bounds[i, 1]),
                "max_lon": float(bounds[i, 2]),
                "max_lat": float(bounds[i, 3]),
            }
        )
    return rows


_DTYPES = {"str": object, "int": "Int64", "float": "float64", "bool": "boolean", "json": object}
_CRS = pyproj.CRS.from_user_input(STORAGE_CRS)


def rows_to_frame(
    spec: LayerSpec, rows: list[dict[str, Any]], extra: tuple[str, ...] = ("version",)
) -> gpd.GeoDataFrame:
    """A layer frame (EPSG:4326, ``spec.columns`` typed as :func:`normalize_frame` types them) from
    stored rows, plus the ``extra`` row keys as columns (``version`` as Int64)."""
    data: dict[str, Any] = {
        "code": pd.array([r["code"] for r in rows], dtype=object),
        "name": pd.array([r["name"] for r in rows], dtype=object),
    }
    for f in spec.fields:
        values = [r["properties"].get(f.name, f.default) for r in rows]
        if f.type == "json":
            values = [[] if v is None else v for v in values]
        data[f.name] = pd.array(values, dtype=_DTYPES[f.type])
    for col in extra:
        data[col] = pd.array([r[col] for r in rows], dtype="Int64" if col == "version" else object)
    geometry = gpd.array.from_shapely(np.array([r["geometry"] for r in rows], dtype=object), crs=_CRS)
    frame = gpd.GeoDataFrame(pd.DataFrame(data), geometry=geometry, crs=_CRS)
    return frame[[*spec.columns, *extra]]


def typed_properties(spec: LayerSpec, properties: dict[str, Any]) -> dict[str, Any]:
    """A stored row's field values typed as :func:`rows_to_frame` types them (missing → the
    field's default, ints as ``int``, floats as ``float``, an absent list as ``[]``), without a frame.

    >>> from gridgis.layers import get_spec
    >>> spec = get_spec("grids")
    >>> typed_properties(spec, {"workers": None})["workers"]
    []
    """
    out: dict[str, Any] = {}
    for f in spec.fields:
        value = properties.get(f.name, f.default)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out[f.name] = [] if f.type == "json" else None
        elif f.type == "int":
            out[f.name] = int(value)
        elif f.type == "float":
            out[f.name] = float(value)
        elif f.type == "bool":
            out[f.name] = bool(value)
        else:
            out[f.name] = value
    return out


def same_feature(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """True when two rows hold the same name, parent, properties and exactly the same geometry.

    Geometries compare by their WKB bytes when both rows carry them (the fast path used when a
    whole layer is rewritten), else coordinate by coordinate.
    """
    if a["name"] != b["name"] or a.get("parent_code") != b.get("parent_code") or a["properties"] != b["properties"]:
        return False
    if "wkb" in a and "wkb" in b:
        return bytes(a["wkb"]) == bytes(b["wkb"])
    return bool(shapely.equals_exact(a["geometry"], b["geometry"], tolerance=0))
