"""What every layer shares: the field schema, normalisation and per-feature validation.

A *layer frame* is a GeoDataFrame in the storage CRS (EPSG:4326, lon/lat) whose columns
are the layer's fields plus ``geometry``. Functions here are pure: they return new
frames and lists of :class:`~gridgis.errors.Problem`, and never touch storage.
"""

from __future__ import annotations

import json
from collections.abc import Callable
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
_Make = Callable[[int], Problem]  # builds the problem of the feature at a row position
_Add = Callable[[np.ndarray, _Make], None]  # records a check: which rows fail it, and their problem
_Label = Callable[[int], str]  # names the feature at a row position


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
                out[f.name] = [v if type(v) is list else _coerce_json(v) for v in raw]
            elif f.type == "int":
                out[f.name] = pd.to_numeric(raw, errors="raise").round().astype("Int64")
            elif f.type == "float":
                out[f.name] = pd.to_numeric(raw, errors="raise").astype("float64")
            elif f.type == "bool":
                out[f.name] = raw.map(_to_bool).astype("boolean")
            else:
                out[f.name] = _text_column(raw)
        except (ValueError, TypeError) as exc:
            problems.append(
                Problem(f"field {f.name!r} ({f.label_zh}) cannot be read as {f.type}: {exc}", layer=spec.name)
            )
    if problems:
        raise ValidationError(f"{spec.name}: attributes cannot be read", problems)
    return out[spec.columns]


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _text_column(raw: pd.Series, strip: bool = False) -> pd.Series:
    """Text values as an object column with ``None`` for missing ones.

    (pandas 3 infers a string dtype from ``Series.map`` and turns ``None`` into NaN, which
    is truthy and would hide an empty name from validation; this keeps ``None``.)
    Works on the whole column: ``str()`` runs per value only when some values are not
    text already (codes read as numbers), and the missing test per value only on the
    values pandas thinks are missing.
    """
    values = raw.to_numpy(dtype=object)
    missing = np.asarray(pd.isna(values), dtype=bool)
    suspects = np.flatnonzero(missing)
    if len(suspects):  # pandas counts NaT and numpy float32 NaN as missing too; the text rule does not
        missing[suspects] = [_is_missing(v) for v in values[suspects]]
    present = values[~missing]
    if pd.api.types.infer_dtype(present, skipna=False) not in ("string", "empty"):
        present = np.array([str(v) for v in present] or [], dtype=object)
    if strip and len(present):
        present = pd.Series(present, dtype=object).str.strip().to_numpy(dtype=object)
    out = np.full(len(values), None, dtype=object)
    out[~missing] = present
    return pd.Series(out, index=raw.index, dtype=object)


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

    Every check runs on whole columns (pandas string methods, numpy masks, shapely's
    array functions); Python-level work is spent only on the features that have a
    problem. Problems come per feature, in row order, and for one feature in the order
    code, name, fields (in schema order), geometry.

    Parameters
    ----------
    spec : LayerSpec
        The layer's schema.
    frame : geopandas.GeoDataFrame
        A frame as returned by :func:`normalize_frame`.

    Returns
    -------
    list of Problem
        Empty when every feature passes.
    """
    if len(frame) == 0:
        return []
    code_values = frame["code"].to_numpy(dtype=object)
    name_values = frame["name"].to_numpy(dtype=object)
    found: list[tuple[np.ndarray, _Make]] = []  # (row positions, make(position) -> Problem), in check order

    def label(i: int) -> str:
        name = name_values[i]
        return f"{code_values[i]} ({name})" if not _is_blank(name) else str(code_values[i])

    def add(mask: np.ndarray, make: _Make) -> None:
        rows = np.flatnonzero(mask)
        if len(rows):
            found.append((rows, make))

    good_code = codes.valid_code_mask(spec.name, code_values)
    add(
        ~good_code,
        lambda i: Problem(
            f"code {code_values[i]!r} does not follow the rule for {spec.label_zh}",
            feature=label(i),
            layer=spec.name,
            kind="bad_code",
        ),
    )
    first_row = _first_occurrence(code_values, good_code)
    add(
        first_row >= 0,
        lambda i: Problem(
            f"duplicate code {code_values[i]} (also row {first_row[i]})",
            feature=label(i),
            layer=spec.name,
            kind="duplicate_code",
        ),
    )
    add(
        _blank_mask(name_values),
        lambda i: Problem("name (名称) is empty", feature=label(i), layer=spec.name, kind="missing"),
    )
    for f in spec.fields:
        _field_checks(spec, f, frame[f.name], add, label)
    _geometry_checks(spec, np.asarray(frame.geometry.values, dtype=object), add, label)
    return _in_row_order(found)


def _is_blank(name: Any) -> bool:
    """A name that counts as empty: missing or the empty string."""
    return name is None or name is pd.NA or (isinstance(name, float) and np.isnan(name)) or name == ""


def _blank_mask(values: np.ndarray) -> np.ndarray:
    return np.asarray(pd.isna(values), dtype=bool) | (values == "")


def _first_occurrence(values: np.ndarray, good: np.ndarray) -> np.ndarray:
    """For each valid code seen before in an earlier row, that earlier row's position; else -1."""
    out = np.full(len(values), -1, dtype=np.int64)
    positions = np.flatnonzero(good)
    dup = pd.Series(values[positions], dtype=object).duplicated(keep=False).to_numpy(dtype=bool)
    if not dup.any():
        return out
    seen: dict[str, int] = {}
    for pos in positions[dup]:  # only the rows whose code occurs more than once, in row order
        first = seen.setdefault(values[pos], int(pos))
        if first != pos:
            out[pos] = first
    return out


def _field_checks(spec: LayerSpec, f: Field, column: pd.Series, add: _Add, label: _Label) -> None:
    """Required, enumeration and non-negative checks of one field, in that order of precedence."""
    values = column.to_numpy(dtype=object)
    missing = np.asarray(column.isna(), dtype=bool)
    taken = np.zeros(len(values), dtype=bool)
    if f.required:
        add(
            missing,
            lambda i: Problem(
                f"{f.name} ({f.label_zh}) is required", feature=label(i), layer=spec.name, kind="missing"
            ),
        )
        taken |= missing
    if f.choices:
        choices = list(f.choices)
        outside = ~missing & ~column.isin(choices).to_numpy(dtype=bool) & ~taken
        add(
            outside,
            lambda i: Problem(
                f"{f.name}={values[i]!r} is not one of {choices}",
                feature=label(i),
                layer=spec.name,
                kind="bad_value",
            ),
        )
        taken |= outside
    if f.type == "int":
        numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(invalid="ignore"):
            negative = ~missing & ~taken & (np.trunc(numbers) < 0)
        add(
            negative,
            lambda i: Problem(
                f"{f.name}={values[i]} must not be negative", feature=label(i), layer=spec.name, kind="bad_value"
            ),
        )


def _geometry_checks(spec: LayerSpec, geoms: np.ndarray, add: _Add, label: _Label) -> None:
    """Geometry present, of the layer's type, valid (GEOS reason and location) and inside China."""
    from gridgis.crs import CHINA_BOUNDS

    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    add(
        empty,
        lambda i: Problem("geometry is missing or empty", feature=label(i), layer=spec.name, kind="invalid_geometry"),
    )
    expected = ("Point",) if spec.geometry == "point" else ("Polygon", "MultiPolygon")
    type_ids = [0] if spec.geometry == "point" else [3, 6]
    wrong = ~empty & ~np.isin(shapely.get_type_id(geoms), type_ids)
    add(
        wrong,
        lambda i: Problem(
            f"geometry is a {geoms[i].geom_type}; {spec.label_zh} needs {' or '.join(expected)}",
            feature=label(i),
            layer=spec.name,
            kind="wrong_geometry_type",
        ),
    )
    ok = ~empty & ~wrong
    invalid = np.zeros(len(geoms), dtype=bool)
    invalid[ok] = ~shapely.is_valid(geoms[ok])
    reasons = np.full(len(geoms), None, dtype=object)
    reasons[invalid] = shapely.is_valid_reason(geoms[invalid])
    add(
        invalid,
        lambda i: Problem(
            f"invalid geometry: {reasons[i]}",
            feature=label(i),
            layer=spec.name,
            kind="invalid_geometry",
            where=_where(reasons[i], geoms[i]),
        ),
    )
    bounds = np.full((len(geoms), 4), np.nan)
    bounds[ok] = shapely.bounds(geoms[ok])
    minx, miny, maxx, maxy = bounds.T
    with np.errstate(invalid="ignore"):
        outside = ok & (
            (minx < CHINA_BOUNDS[0]) | (miny < CHINA_BOUNDS[1]) | (maxx > CHINA_BOUNDS[2]) | (maxy > CHINA_BOUNDS[3])
        )
    add(
        outside,
        lambda i: Problem(
            f"coordinates {minx[i]:.5f},{miny[i]:.5f}…{maxx[i]:.5f},{maxy[i]:.5f} lie outside China's extent "
            "(wrong CRS or swapped lon/lat?)",
            feature=label(i),
            layer=spec.name,
            kind="out_of_area",
        ),
    )


def _in_row_order(found: list[tuple[np.ndarray, _Make]]) -> list[Problem]:
    """Build the problems per feature in row order, and per feature in check order."""
    if not found:
        return []
    rows = np.concatenate([r for r, _ in found])
    checks = np.concatenate([np.full(len(r), k) for k, (r, _) in enumerate(found)])
    order = np.lexsort((checks, rows))
    return [found[checks[j]][1](int(rows[j])) for j in order]


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
