"""What every layer shares: the field schema, normalisation and per-feature validation.

A *layer frame* is a GeoDataFrame in the storage CRS (EPSG:4326, lon/lat) whose columns
are the layer's fields plus ``geometry``. Functions here are pure: they return new
frames and lists of :class:`~gridgis.errors.Problem`, and never touch storage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgis import codes
from gridgis.crs import STORAGE_CRS, ensure_storage_crs
from gridgis.errors import Problem, ValidationError

FieldType = Literal["str", "int", "float", "bool", "json"]


@dataclass(frozen=True)
class Field:
    """One attribute of a layer. ``choices`` restricts a ``str`` field to an enumeration."""

    name: str
    type: FieldType
    label_zh: str
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class LayerSpec:
    """The schema of one layer: name, Chinese label, geometry kind, parent and fields."""

    name: str
    label_zh: str
    geometry: Literal["polygon", "point"]
    parent_layer: str | None
    parent_field: str | None
    fields: tuple[Field, ...] = field(default_factory=tuple)

    @property
    def columns(self) -> list[str]:
        return ["code", "name", *(f.name for f in self.fields), "geometry"]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


_DTYPES = {"str": "object", "int": "Int64", "float": "float64", "bool": "boolean", "json": "object"}


def _coerce_json(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("[", "{")):
            return json.loads(text)
        return [] if text == "" else [v.strip() for v in text.split(",") if v.strip()]
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, np.ndarray | tuple):  # GDAL reads string lists as arrays
        return [v.item() if isinstance(v, np.generic) else v for v in value]
    return value


def empty_frame(spec: LayerSpec) -> gpd.GeoDataFrame:
    """An empty frame with the columns, dtypes and CRS of ``spec``."""
    data = {"code": pd.Series(dtype="object"), "name": pd.Series(dtype="object")}
    for f in spec.fields:
        data[f.name] = pd.Series(dtype=_DTYPES[f.type])
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=STORAGE_CRS), crs=STORAGE_CRS)


def normalize_frame(spec: LayerSpec, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return a copy of ``frame`` with exactly the columns of ``spec``, in order, typed.

    Missing optional fields get their default; extra columns are dropped; JSON fields
    given as text are parsed. The frame must be in EPSG:4326 (or 4490): any other CRS
    is a :class:`~gridgis.errors.CRSError` — convert first with :func:`gridgis.crs.to_storage`.
    """
    frame = ensure_storage_crs(frame, what=spec.name)
    out = gpd.GeoDataFrame(index=frame.index, geometry=frame.geometry.values, crs=STORAGE_CRS)
    problems: list[Problem] = []
    for col in ("code", "name"):
        if col not in frame.columns:
            raise ValidationError(f"{spec.name}: column {col!r} is missing")
        out[col] = _text_column(frame[col], strip=True)
    for f in spec.fields:
        if f.name in frame.columns:
            raw = frame[f.name]
        elif f.required:
            raise ValidationError(f"{spec.name}: required column {f.name!r} ({f.label_zh}) is missing")
        else:
            raw = pd.Series([f.default] * len(frame), index=frame.index, dtype="object")
        try:
            if f.type == "json":
                out[f.name] = [_coerce_json(v) for v in raw]
            elif f.type == "int":
                out[f.name] = pd.to_numeric(raw, errors="raise").round().astype("Int64")
            elif f.type == "float":
                out[f.name] = pd.to_numeric(raw, errors="raise").astype("float64")
            elif f.type == "bool":
                out[f.name] = raw.map(_to_bool).astype("boolean")
            else:
                out[f.name] = _text_column(raw)
        except (ValueError, TypeError) as exc:
            problems.append(Problem(f"field {f.name!r} ({f.label_zh}) cannot be read as {f.type}: {exc}",
                                    layer=spec.name))
    if problems:
        raise ValidationError(f"{spec.name}: attributes cannot be read", problems)
    return out[spec.columns]


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _text_column(raw: pd.Series, strip: bool = False) -> pd.Series:
    """Text values as an object column with ``None`` for missing ones.

    (pandas 3 infers a string dtype from ``Series.map`` and turns ``None`` into NaN, which
    is truthy and would hide an empty name from validation; this keeps ``None``.)
    """
    values = [None if _is_missing(v) else (str(v).strip() if strip else str(v)) for v in raw]
    return pd.Series(values, index=raw.index, dtype=object)


def _to_bool(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return pd.NA
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("1", "true", "t", "yes", "y", "是", "有"):
            return True
        if v in ("0", "false", "f", "no", "n", "否", "无", ""):
            return False
        raise ValueError(f"{value!r} is not a yes/no value")
    return bool(value)


def feature_label(row: pd.Series) -> str:
    """How a problem names a feature: ``code (name)``."""
    code = row.get("code")
    name = row.get("name")
    return f"{code} ({name})" if name else str(code)


def validate_frame(spec: LayerSpec, frame: gpd.GeoDataFrame) -> list[Problem]:
    """Check each feature of a normalised frame on its own; return every problem found.

    Checks: code rule and duplicates, required fields, enumerations, non-negative
    counts, geometry present, of the right type, valid (with GEOS's reason) and inside
    China's extent. Checks across layers live in :mod:`gridgis.layers.hierarchy`.
    """
    from gridgis.crs import CHINA_BOUNDS

    problems: list[Problem] = []
    seen: dict[str, int] = {}
    geoms = frame.geometry.values
    reasons = shapely.is_valid_reason(geoms)
    for i, (idx, row) in enumerate(frame.iterrows()):
        label = feature_label(row)
        code = row["code"]
        if not codes.is_valid_code(spec.name, code):
            problems.append(Problem(f"code {code!r} does not follow the rule for {spec.label_zh}",
                                    feature=label, layer=spec.name, kind="bad_code"))
        elif code in seen:
            problems.append(Problem(f"duplicate code {code} (also row {seen[code]})",
                                    feature=label, layer=spec.name, kind="duplicate_code"))
        else:
            seen[code] = i
        if not row["name"]:
            problems.append(Problem("name (名称) is empty", feature=label, layer=spec.name, kind="missing"))
        for f in spec.fields:
            value = row[f.name]
            missing = value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))
            if f.required and missing:
                problems.append(Problem(f"{f.name} ({f.label_zh}) is required", feature=label,
                                        layer=spec.name, kind="missing"))
            elif f.choices and not missing and value not in f.choices:
                problems.append(Problem(f"{f.name}={value!r} is not one of {list(f.choices)}",
                                        feature=label, layer=spec.name, kind="bad_value"))
            elif f.type == "int" and not missing and int(value) < 0:
                problems.append(Problem(f"{f.name}={value} must not be negative", feature=label,
                                        layer=spec.name, kind="bad_value"))
        geom = geoms[i]
        if geom is None or shapely.is_empty(geom):
            problems.append(Problem("geometry is missing or empty", feature=label, layer=spec.name,
                                    kind="invalid_geometry"))
            continue
        gtype = geom.geom_type
        expected = ("Point",) if spec.geometry == "point" else ("Polygon", "MultiPolygon")
        if gtype not in expected:
            problems.append(Problem(f"geometry is a {gtype}; {spec.label_zh} needs {' or '.join(expected)}",
                                    feature=label, layer=spec.name, kind="wrong_geometry_type"))
            continue
        if reasons[i] != "Valid Geometry":
            problems.append(Problem(f"invalid geometry: {reasons[i]}", feature=label, layer=spec.name,
                                    kind="invalid_geometry", where=_where(reasons[i], geom)))
        minx, miny, maxx, maxy = geom.bounds
        if minx < CHINA_BOUNDS[0] or miny < CHINA_BOUNDS[1] or maxx > CHINA_BOUNDS[2] or maxy > CHINA_BOUNDS[3]:
            problems.append(Problem(
                f"coordinates {minx:.5f},{miny:.5f}…{maxx:.5f},{maxy:.5f} lie outside China's extent "
                "(wrong CRS or swapped lon/lat?)", feature=label, layer=spec.name, kind="out_of_area"))
    return problems


def _where(reason: str, geom: shapely.Geometry) -> tuple[float, float]:
    """The location GEOS names in an invalidity reason (``Self-intersection[x y]``), else a point inside."""
    if "[" in reason and "]" in reason:
        try:
            x, y = reason[reason.index("[") + 1 : reason.index("]")].split()[:2]
            return (float(x), float(y))
        except ValueError:
            pass
    p = geom.representative_point() if geom.is_valid else geom.centroid
    return (p.x, p.y)


def check_frame(spec: LayerSpec, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Normalise and validate ``frame``; raise :class:`ValidationError` listing every problem."""
    out = normalize_frame(spec, frame)
    problems = validate_frame(spec, out)
    if problems:
        raise ValidationError(f"{spec.name}: {len(problems)} problem(s) found; nothing was stored", problems)
    return out
