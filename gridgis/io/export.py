"""Export layers: GeoJSON (one file per layer), GeoPackage (one file, a table per layer), Shapefile.

All take storage frames (EPSG:4326) and can emit WGS84/CGCS2000, GCJ-02 or BD-09 lon/lat
(``crs=``) for overlaying on AMap/Tencent or Baidu maps. GCJ-02/BD-09 have no EPSG code: such
GeoPackage and Shapefile output carries a CRS entry named for the system
(:func:`gridgis.crs.china_lonlat_crs`), which gridgis reads back as that system, and the
GeoPackage table description says so too; GeoJSON output carries ``"gridgis_crs"``. Nothing is half-written: each file appears only when complete.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from gridgis.crs import CHINA_CRS_NAMES, STORAGE_CRS, china_lonlat_crs, ensure_storage_crs, parse_crs
from gridgis.errors import ValidationError
from gridgis.io.geojson import json_value, output_geometries, write_geojson
from gridgis.io.shapefile import write_shapefile

FORMATS = {"geojson": ".geojson", "gpkg": ".gpkg", "shp": ".shp"}


def _output_frame(frame: gpd.GeoDataFrame, crs: str, what: str) -> gpd.GeoDataFrame:
    """``frame`` with its geometries in ``crs``, labelled so the file's CRS entry says which system it is."""
    frame = ensure_storage_crs(frame, what=what)
    target = parse_crs(crs)
    label = china_lonlat_crs(target.china) if target.china in CHINA_CRS_NAMES else STORAGE_CRS
    out = frame.copy()
    return out.set_geometry(gpd.GeoSeries(output_geometries(frame, crs), index=frame.index, crs=label))


def _gpkg_columns(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """JSON fields as JSON text; nullable booleans as plain objects (GDAL has no NA boolean)."""
    out = frame.copy()
    for col in out.columns:
        if col == out.geometry.name:
            continue
        if out[col].map(lambda v: isinstance(v, list | dict | tuple | np.ndarray)).any():
            out[col] = out[col].map(lambda v: None if v is None else json.dumps(json_value(v), ensure_ascii=False))
        elif str(out[col].dtype) == "boolean" and out[col].isna().any():
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


def write_gpkg(city: dict[str, gpd.GeoDataFrame], path: str | Path, *, crs: str = "wgs84") -> Path:
    """Write layers into one GeoPackage, a table per layer (QGIS opens each as a layer).

    JSON fields are stored as JSON text. The file is built under a temporary name and moved
    into place when every table is written, replacing any earlier file.
    """
    path = Path(path)
    target = parse_crs(crs)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.gpkg")
    tmp.unlink(missing_ok=True)
    try:
        for layer, frame in city.items():
            out = _gpkg_columns(_output_frame(frame, crs, layer))
            options = {}
            if target.china is not None and target.china != "wgs84":
                options["DESCRIPTION"] = f"{layer}: lon/lat in {target.china.upper()} (not WGS84)"
            out.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio", layer_options=options or None)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def export_layers(
    city: dict[str, gpd.GeoDataFrame], fmt: str, out: str | Path, *, crs: str = "wgs84", encoding: str = "utf-8"
) -> list[Path]:
    """Export ``city`` (``{layer: frame}``) in ``fmt`` (``geojson``, ``gpkg`` or ``shp``) to ``out``.

    ``out`` is a file for ``gpkg``, and for ``geojson``/``shp`` with a single layer when it ends in
    the format's suffix; otherwise a folder that receives ``<layer>.<suffix>`` per layer.
    ``encoding`` applies to Shapefiles (``utf-8`` or ``gbk``; GeoJSON and GeoPackage are UTF-8).
    """
    if fmt not in FORMATS:
        raise ValidationError(f"unknown export format {fmt!r}; use {', '.join(FORMATS)}")
    parse_crs(crs)
    layers = {k: v for k, v in city.items() if isinstance(v, gpd.GeoDataFrame)}
    if not layers:
        raise ValidationError("nothing to export: no layers")
    out = Path(out)
    if fmt == "gpkg":
        out.parent.mkdir(parents=True, exist_ok=True)
        return [write_gpkg(layers, out if out.suffix else out.with_suffix(".gpkg"), crs=crs)]
    suffix = FORMATS[fmt]
    if len(layers) == 1 and out.suffix.lower() == suffix:
        targets = {next(iter(layers)): out}
    else:
        targets = {layer: out / f"{layer}{suffix}" for layer in layers}
    written: list[Path] = []
    for layer, frame in layers.items():
        target = targets[layer]
        target.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "geojson":
            written.append(write_geojson(frame, target, crs=crs))
        else:
            write_shapefile(_output_frame(frame, crs, layer), target, encoding=encoding)
            written.append(target)
    return written


def frame_summary(layer: str, frame: gpd.GeoDataFrame) -> dict:
    """Count, bounds and CRS of one layer frame (for ``gridgis info``)."""
    bounds = [round(float(b), 6) for b in frame.total_bounds] if len(frame) else None
    crs = frame.crs.to_string() if frame.crs is not None else None
    types = sorted(pd.Series(frame.geometry.geom_type).dropna().unique().tolist()) if len(frame) else []
    return {"layer": layer, "count": len(frame), "bounds": bounds, "crs": crs, "geometry": types}
