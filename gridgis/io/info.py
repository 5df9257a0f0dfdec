"""Describe a file, a folder or the store: layers, counts, bounds, CRS (for ``gridgis info``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyogrio

from gridgis.errors import MalformedInputError
from gridgis.io.city import read_city
from gridgis.io.export import frame_summary
from gridgis.io.readers import gpkg_layers, read_source, shapefile_encoding, source_format


def _bounds(values) -> list[float] | None:
    b = np.asarray(values, dtype=float)
    return [round(float(x), 6) for x in b] if len(b) == 4 and np.all(np.isfinite(b)) else None


def _ogr_row(path: Path, layer: str | None, name: str, encoding: str | None = None) -> dict[str, Any]:
    try:
        meta = pyogrio.read_info(
            str(path), layer=layer, encoding=encoding, force_feature_count=True, force_total_bounds=True
        )
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise MalformedInputError(f"{path}: cannot be read: {exc}") from None
    return {
        "layer": name,
        "count": int(meta["features"]),
        "bounds": _bounds(meta.get("total_bounds", [])),
        "crs": meta.get("crs") or "not declared",
        "geometry": [meta.get("geometry_type") or ""],
    }


def describe_path(path: str | Path) -> list[dict[str, Any]]:
    """One row per layer of ``path`` (a file, or a folder of ``<layer>.geojson``).

    Each row: ``layer``, ``count``, ``bounds`` (in the file's coordinates), ``crs`` (as declared;
    ``"not declared"`` when the file says nothing — an import then needs ``--crs``), ``geometry``.
    """
    path = Path(path)
    if path.is_dir():
        city = read_city(path)
        if not city:
            raise MalformedInputError(f"{path}: no <layer>.geojson files here")
        return [frame_summary(layer, frame) for layer, frame in city.items()]
    if not path.exists():
        raise MalformedInputError(f"{path}: no such file")
    fmt = source_format(path)
    if fmt == "gpkg":
        return [_ogr_row(path, t, t) for t in gpkg_layers(path)]
    if fmt == "shp":
        return [_ogr_row(path, None, path.stem, shapefile_encoding(path))]
    raw = read_source(path)
    geoms = raw.frame.geometry
    row = frame_summary(path.stem, raw.frame.drop(columns=["_feature"]))
    row["bounds"] = _bounds(geoms.total_bounds) if len(geoms) else None
    if raw.declared:
        row["crs"] = raw.declared.label
    else:
        row["crs"] = f"{raw.implied.label} (implied by the format)" if raw.implied else "not declared"
    return [row]


def describe_store(repo, generation: int | None = None) -> tuple[list[dict[str, Any]], str]:
    """Rows per layer of the store (count, bounds, CRS) and a header naming the generation."""
    gen = repo.generation(generation) if generation is not None else repo.current_generation()
    if gen is None:
        return [], f"{repo!r}: empty (no generation yet); import or load data first"
    counts = repo.counts(gen.id)
    rows = []
    for layer, count in counts.items():
        row = {"layer": layer, "count": count, "bounds": None, "crs": "EPSG:4326", "geometry": []}
        if count:
            row.update(frame_summary(layer, repo.read_layer(layer, generation=gen.id)))
        rows.append(row)
    from gridgis.storage.roads import RoadStore

    roads = RoadStore(repo).read()  # the reference layer: its current set, whatever the generation
    if roads is not None:
        rows.append(frame_summary("roads", roads))
    header = (
        f"{repo!r} — generation {gen.id} ({gen.created_at:%Y-%m-%d %H:%M}, {gen.author}: {gen.message}); "
        f"{len(repo.generations())} generation(s)"
    )
    return rows, header
