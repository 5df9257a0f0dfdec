"""Input checks and geometry helpers shared by the alignment modules (private)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, overload

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgis.crs import STORAGE_CRS, ensure_storage_crs
from gridgis.errors import ValidationError


@overload
def require_frame(
    frame: gpd.GeoDataFrame | None, what: str, columns: Iterable[str] = ..., allow_none: Literal[False] = ...
) -> gpd.GeoDataFrame: ...
@overload
def require_frame(
    frame: gpd.GeoDataFrame | None, what: str, columns: Iterable[str] = ..., allow_none: bool = ...
) -> gpd.GeoDataFrame | None: ...
def require_frame(
    frame: gpd.GeoDataFrame | None, what: str, columns: Iterable[str] = ("code",), allow_none: bool = False
) -> gpd.GeoDataFrame | None:
    """Check ``frame`` is an EPSG:4326 GeoDataFrame with ``columns`` and unique codes; return it."""
    if frame is None:
        if allow_none:
            return None
        raise ValidationError(f"{what}: no layer given; pass a GeoDataFrame in EPSG:4326")
    if not isinstance(frame, gpd.GeoDataFrame):
        raise ValidationError(f"{what}: expected a GeoDataFrame, got {type(frame).__name__}")
    frame = ensure_storage_crs(frame, what=what)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValidationError(f"{what}: column(s) {missing} missing; every feature needs a code")
    if "code" in frame.columns:
        dup = frame["code"][frame["code"].duplicated()].unique().tolist()
        if dup:
            raise ValidationError(f"{what}: duplicate code(s) {dup[:5]}; codes must be unique")
    return frame


#: arrays shorter than this are not worth a second thread
HALVES_MIN = 4096
_HELPER: tuple[int, ThreadPoolExecutor] | None = None
_HELPER_LOCK = threading.Lock()


def _helper() -> ThreadPoolExecutor:
    """One helper thread per process (a pool made before a fork has no thread in the child)."""
    global _HELPER
    with _HELPER_LOCK:
        if _HELPER is None or _HELPER[0] != os.getpid():
            _HELPER = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="gridgis-halves"))
        return _HELPER[1]


def halves(fn: Callable[..., np.ndarray], *arrays: np.ndarray) -> np.ndarray:
    """``fn(*arrays)`` for an element-wise shapely function, computed as two halves in two threads.

    GEOS releases the GIL inside shapely's vectorized functions, so on two cores the serial parts of
    an alignment (a city's compounds against its grids, its buildings against both) take about half
    the wall time; the result is the same array ``fn`` gives on the whole.
    """
    n = len(arrays[0]) if arrays else 0
    if n < HALVES_MIN or (os.cpu_count() or 1) < 2:
        return fn(*arrays)
    h = n // 2
    first = _helper().submit(fn, *(a[:h] for a in arrays))
    second = fn(*(a[h:] for a in arrays))
    return np.concatenate([first.result(), second])


def polygonal(geoms: np.ndarray) -> np.ndarray:
    """Valid polygonal parts of ``geoms`` (bow-ties repaired, lines and points dropped, None → empty)."""
    geoms = np.asarray(geoms, dtype=object)
    geoms = np.where(shapely.is_missing(geoms), shapely.Polygon(), geoms)
    bad = ~halves(shapely.is_valid, geoms)
    if bad.any():
        geoms = geoms.copy()
        geoms[bad] = shapely.make_valid(geoms[bad])
    out = geoms.copy()
    for i in np.flatnonzero(~np.isin(shapely.get_type_id(geoms), (3, 6))):
        parts = shapely.get_parts(geoms[i])
        parts = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
        out[i] = shapely.union_all(parts) if len(parts) else shapely.Polygon()
    return out


def metric(frame: gpd.GeoDataFrame, crs: str) -> np.ndarray:
    """The polygonal geometries of an EPSG:4326 frame projected to ``crs``."""
    return polygonal(frame.geometry.to_crs(crs).values)


def to_storage_series(geoms: Iterable, crs: str, index=None) -> gpd.GeoSeries:
    """Metric geometries back to an EPSG:4326 GeoSeries."""
    return gpd.GeoSeries(list(geoms), crs=crs, index=index).to_crs(STORAGE_CRS)


def households(frame: gpd.GeoDataFrame | None) -> np.ndarray:
    """The ``households`` column as int64 (missing → 0)."""
    if frame is None or "households" not in frame.columns:
        return np.zeros(0 if frame is None else len(frame), dtype=np.int64)
    return pd.to_numeric(frame["households"], errors="coerce").fillna(0).to_numpy().astype(np.int64)


def text_column(frame: gpd.GeoDataFrame | None, column: str) -> np.ndarray:
    """A text column as an object array of str or None (missing column → all None)."""
    if frame is None:
        return np.zeros(0, dtype=object)
    if column not in frame.columns:
        return np.array([None] * len(frame), dtype=object)
    return np.array(
        [
            None if (v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or str(v) == "") else str(v)
            for v in frame[column]
        ],
        dtype=object,
    )


def label(frame: gpd.GeoDataFrame, i: int) -> str:
    """``code (name)`` of row ``i`` for messages."""
    code = frame["code"].iloc[i]
    name = frame["name"].iloc[i] if "name" in frame.columns else None
    return f"{code} ({name})" if isinstance(name, str) and name else str(code)
