"""Route the points of a file (CSV, GeoJSON, GeoPackage), keeping every input column.

The output adds ``micro_grid_code``, ``grid_code``, ``community_code``, ``street_code``,
``snapped``, ``distance_m`` and ``reason`` (empty codes and a reason where a row cannot be
routed). Rows are routed in chunks so a caller can show progress.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgis.crs import STORAGE_CRS, SourceCRS, parse_crs, points_to_storage, to_storage
from gridgis.errors import CRSError, MalformedInputError, ValidationError
from gridgis.io.geojson import CRS_MEMBER, read_geojson, write_geojson
from gridgis.io.source import declared_from_proj, resolve_crs
from gridgis.routing.index import RoutingIndex

OUTPUT_COLUMNS = ("micro_grid_code", "grid_code", "community_code", "street_code", "snapped", "distance_m", "reason")
GEO_SUFFIXES = (".geojson", ".json", ".gpkg")


def read_points(
    path: str | Path,
    lon_col: str = "lon",
    lat_col: str = "lat",
    crs: str | None = None,
    layer: str | None = None,
    encoding: str = "utf-8",
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, str]:
    """Read a point file: (the frame as read, x array, y array, the CRS name of x/y).

    CSV columns are kept as text exactly as written; ``lon_col``/``lat_col`` are read as numbers
    (non-numbers become NaN and get a reason later). For GeoJSON/GeoPackage the coordinates are
    the point geometries. The CRS is never guessed (:func:`gridgis.io.source.resolve_crs`): a CSV
    says nothing, so ``crs`` is required; GeoJSON is WGS84 (RFC 7946) unless it carries a ``crs``
    or ``gridgis_crs`` member; a GeoPackage says its own.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.exists():
        raise ValidationError(f"input file {path} does not exist")
    if suffix == ".csv":
        if crs is None or not str(crs).strip():
            raise CRSError(
                f"{path.name}: a CSV file does not say which CRS its coordinates are in; "
                "pass --crs (wgs84, cgcs2000, gcj02, bd09 or EPSG:nnnn)"
            )
        parse_crs(crs)
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)
        except (UnicodeDecodeError, pd.errors.ParserError) as err:
            raise MalformedInputError(f"cannot read {path} as CSV ({encoding}): {err}; try --encoding gbk") from err
        missing = [c for c in (lon_col, lat_col) if c not in frame.columns]
        if missing:
            raise ValidationError(
                f"{path.name} has no column {', '.join(missing)}; its columns are "
                f"{', '.join(frame.columns)} (use --lon-col/--lat-col)"
            )
        x = pd.to_numeric(frame[lon_col].str.strip(), errors="coerce").to_numpy(dtype=float)
        y = pd.to_numeric(frame[lat_col].str.strip(), errors="coerce").to_numpy(dtype=float)
        return frame, x, y, crs
    if suffix in GEO_SUFFIXES:
        try:
            frame = (
                gpd.read_file(path, layer=layer, engine="pyogrio") if layer else gpd.read_file(path, engine="pyogrio")
            )
        except Exception as err:  # pyogrio raises several error types for unreadable files
            raise MalformedInputError(f"cannot read {path}: {err}") from err
        geoms = frame.geometry.values
        is_point = np.asarray(shapely.get_type_id(geoms) == 0) & ~np.asarray(shapely.is_empty(geoms))
        x = np.where(is_point, shapely.get_x(geoms), np.nan).astype(float)
        y = np.where(is_point, shapely.get_y(geoms), np.nan).astype(float)
        declared, implied = _declared_crs(path, frame)
        return frame, x, y, resolve_crs(declared, crs, str(path), implied).label
    raise ValidationError(f"unsupported input {path.name}: use .csv, .geojson or .gpkg")


def _declared_crs(path: Path, frame: gpd.GeoDataFrame) -> tuple[SourceCRS | None, SourceCRS | None]:
    """(declared, implied) CRS of a point file; GDAL labels every GeoJSON EPSG:4326, so GeoJSON is read for its members."""
    if path.suffix.lower() in (".geojson", ".json"):
        text = path.read_text(encoding="utf-8", errors="replace")
        if CRS_MEMBER not in text and '"crs"' not in text:
            return None, parse_crs("wgs84")  # RFC 7946
        raw = read_geojson(path)
        return raw.declared, raw.implied
    return declared_from_proj(frame.crs, str(path)), None


def route_points(
    index: RoutingIndex,
    x: np.ndarray,
    y: np.ndarray,
    crs: str,
    chunk_size: int = 100_000,
    on_chunk: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Route arrays in chunks of ``chunk_size``; ``on_chunk(n)`` after each chunk of ``n`` rows."""
    parse_crs(crs)  # an unknown CRS fails before any work
    parts = []
    for start in range(0, len(x), max(1, chunk_size)):
        part = index.route_many(x[start : start + chunk_size], y[start : start + chunk_size], crs, with_compounds=False)
        parts.append(part)
        if on_chunk is not None:
            on_chunk(len(part))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in OUTPUT_COLUMNS})
    return pd.concat(parts, ignore_index=True)[list(OUTPUT_COLUMNS)]


def write_points(
    frame: pd.DataFrame, routed: pd.DataFrame, out: str | Path, x: np.ndarray, y: np.ndarray, crs: str
) -> Path:
    """Write the input columns plus the routing columns to ``out`` (.csv, .geojson or .gpkg)."""
    out = Path(out)
    suffix = out.suffix.lower()
    result = frame.copy()
    result.index = range(len(result))
    for col in OUTPUT_COLUMNS:
        result[col] = routed[col].to_numpy()
    result["reason"] = result["reason"].fillna("")
    if suffix == ".csv":
        if isinstance(result, gpd.GeoDataFrame):
            result = pd.DataFrame(result.drop(columns=result.geometry.name)).assign(geometry=result.geometry.to_wkt())
        result.to_csv(out, index=False, encoding="utf-8")
        return out
    if suffix not in GEO_SUFFIXES:
        raise ValidationError(f"unsupported output {out.name}: use .csv, .geojson or .gpkg")
    if not isinstance(result, gpd.GeoDataFrame):
        lon, lat = points_to_storage(x, y, crs)
        ok = np.isfinite(lon) & np.isfinite(lat)
        geoms = np.where(ok, shapely.points(np.where(ok, lon, 0), np.where(ok, lat, 0)), None)
        result = gpd.GeoDataFrame(result, geometry=gpd.GeoSeries(geoms, crs=STORAGE_CRS), crs=STORAGE_CRS)
        crs = "wgs84"
    out.unlink(missing_ok=True)
    if suffix == ".gpkg":
        result.to_file(out, driver="GPKG", engine="pyogrio")
        return out
    # gridgis's GeoJSON writer: the input geometries as they were read, unrounded; lon/lat in GCJ-02
    # or BD-09 carry the gridgis_crs member (read back without a guess), a projected CRS becomes
    # WGS84 as RFC 7946 wants
    source = parse_crs(crs)
    if source.china is None:
        result, crs = to_storage(result, source), "wgs84"
    return write_geojson(result, out, crs=crs, precision=None, converted=True)
