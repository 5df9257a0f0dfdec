"""Shapefile output: field names of at most 10 characters and a text encoding (UTF-8 or GBK).

The DBF format limits field names to 10 characters (bytes) and text values to 254 bytes.
gridgis shortens its long field names with one fixed, documented mapping — the reader
(:func:`from_shapefile_names`) restores them — and writes the ``.cpg`` that matches the text:

========================== ============
layer field                DBF field
========================== ============
``community_code``         ``comm_code``
``compound_code``          ``cmpd_code``
``street_code``            ``street_cd``
``has_property_management`` ``prop_mgmt``
``has_owners_committee``   ``owners_cmt``
``boundary_clear``         ``bound_clr``
``opening_hours``          ``open_hours``
``dedicated_for``          ``dedic_for``
========================== ============

Any other name longer than 10 characters is cut to 10 (made unique with a digit) and the
mapping used is returned by :func:`write_shapefile`. JSON fields (lists, objects) are written
as compact JSON text; when one is longer than 254 bytes it continues in ``<name>_2``,
``<name>_3`` … (up to 9 fields; :func:`join_continued` joins them on import). Any other text
value over 254 bytes, or a character the chosen encoding cannot hold (GBK has no emoji), is a
:class:`~gridgis.errors.ValidationError` naming the feature, rather than a silent truncation.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from gridgis.errors import Problem, ValidationError
from gridgis.io.geojson import json_value

SHAPEFILE_NAMES: dict[str, str] = {
    "community_code": "comm_code",
    "compound_code": "cmpd_code",
    "street_code": "street_cd",
    "has_property_management": "prop_mgmt",
    "has_owners_committee": "owners_cmt",
    "boundary_clear": "bound_clr",
    "opening_hours": "open_hours",
    "dedicated_for": "dedic_for",
}
_REVERSE = {v: k for k, v in SHAPEFILE_NAMES.items()}
ENCODINGS = {"utf-8": "UTF-8", "utf8": "UTF-8", "gbk": "GBK", "cp936": "GBK", "gb2312": "GBK", "gb18030": "GBK"}
SIDECARS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def shapefile_names(columns: list[str]) -> dict[str, str]:
    """``{column: DBF name}`` for every column: the fixed mapping, else cut to 10 unique characters.

    >>> shapefile_names(["code", "community_code", "a_very_long_name", "a_very_long_other"])
    {'code': 'code', 'community_code': 'comm_code', 'a_very_long_name': 'a_very_lon', 'a_very_long_other': 'a_very_lo1'}
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for col in columns:
        name = SHAPEFILE_NAMES.get(col, col)
        if len(name.encode("utf-8")) > 10:
            name = name.encode("utf-8")[:10].decode("utf-8", "ignore")
        k = 1
        base = name
        while name.lower() in used:
            name = f"{base[: 10 - len(str(k))]}{k}"
            k += 1
        used.add(name.lower())
        out[col] = name
    return out


def from_shapefile_names(columns: list[str]) -> dict[str, str]:
    """``{DBF name: layer field}`` for the DBF names that gridgis's fixed mapping produced."""
    return {c: _REVERSE[c] for c in columns if c in _REVERSE}


MAX_BYTES = 254
MAX_PARTS = 9


def continuation_names(name: str, parts: int) -> list[str]:
    """DBF names of a JSON field split over ``parts`` fields: ``name``, ``name_2`` … (≤ 10 characters).

    >>> continuation_names("workers", 3)
    ['workers', 'workers_2', 'workers_3']
    """
    return [name] + [f"{name[:8]}_{k}" for k in range(2, parts + 1)]


def _split_bytes(text: str, encoding: str, size: int = MAX_BYTES) -> list[str]:
    """Cut ``text`` into pieces of at most ``size`` encoded bytes, never inside a character."""
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:
        n = len(ch.encode(encoding))
        if used + n > size:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += n
    parts.append("".join(current))
    return parts


def join_continued(frame: pd.DataFrame, fields: list[str]) -> pd.DataFrame:
    """Join JSON fields that :func:`write_shapefile` split over ``name``, ``name_2`` … back into one column."""
    out = frame
    for name in fields:
        dbf = SHAPEFILE_NAMES.get(name, name)[:10]
        base = name if name in out.columns else dbf
        extra = [c for c in continuation_names(dbf, MAX_PARTS)[1:] if c in out.columns]
        if base not in out.columns or not extra:
            continue
        pieces = out[[base, *extra]].astype(object)
        joined = ["".join(str(v) for v in row if isinstance(v, str)) or None for row in pieces.itertuples(index=False)]
        out = out.drop(columns=extra)
        out[base] = joined
    return out


def _prepare(frame: gpd.GeoDataFrame, encoding: str, what: str) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    geom = frame.geometry.name
    cols = [c for c in frame.columns if c != geom]
    names = shapefile_names(cols)
    out = gpd.GeoDataFrame(index=frame.index, geometry=frame.geometry.values, crs=frame.crs)
    problems: list[Problem] = []
    codes = frame["code"].tolist() if "code" in frame.columns else [None] * len(frame)
    for col in cols:
        values = frame[col]
        is_json = bool(values.map(lambda v: isinstance(v, list | dict | tuple | np.ndarray)).any())
        if is_json:
            values = values.map(
                lambda v: None if v is None else json.dumps(json_value(v), ensure_ascii=False, separators=(",", ":"))
            )
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            longest = 0
            for pos, v in enumerate(values):
                if not isinstance(v, str):
                    continue
                try:
                    size = len(v.encode(encoding))
                except UnicodeEncodeError as exc:
                    problems.append(
                        Problem(
                            f"{col}={v!r}: {v[exc.start : exc.end]!r} cannot be written in {encoding}; "
                            "export with encoding utf-8",
                            feature=str(codes[pos]),
                            layer=what,
                            kind="bad_encoding",
                        )
                    )
                    continue
                longest = max(longest, size)
                if size > MAX_BYTES and (not is_json or size > MAX_BYTES * MAX_PARTS):
                    problems.append(
                        Problem(
                            f"{col} is {size} bytes; a Shapefile holds at most {MAX_BYTES} — export "
                            "to GeoPackage instead",
                            feature=str(codes[pos]),
                            layer=what,
                            kind="too_long",
                        )
                    )
            values = values.astype(object).where(values.notna(), None)
            if is_json and MAX_BYTES < longest <= MAX_BYTES * MAX_PARTS and not problems:
                pieces = [_split_bytes(v, encoding) if isinstance(v, str) else [] for v in values]
                n = max(len(p) for p in pieces)
                for k, dbf in enumerate(continuation_names(names[col], n)):
                    out[dbf] = [p[k] if k < len(p) else None for p in pieces]
                continue
        elif str(values.dtype) == "boolean":
            values = values.astype(object).where(values.notna(), None)
        out[names[col]] = values.to_numpy()
    if problems:
        raise ValidationError(f"{what}: cannot be written as a {encoding} Shapefile; nothing was written", problems)
    return out, names


def write_shapefile(frame: gpd.GeoDataFrame, path: str | Path, *, encoding: str = "utf-8") -> dict[str, str]:
    """Write ``frame`` (already in the output coordinates) as a Shapefile with a matching ``.cpg``.

    The files are written to a temporary folder and moved into place only when complete.
    Returns the field-name mapping used (``{column: DBF name}``).
    """
    enc = ENCODINGS.get(encoding.lower())
    if enc is None:
        raise ValidationError(f"Shapefile encoding {encoding!r} is not supported; use utf-8 or gbk")
    path = Path(path)
    what = path.stem
    out, names = _prepare(frame, enc.lower(), what)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".shp-") as tmp:
        tmp_path = Path(tmp) / path.name
        out.to_file(tmp_path, driver="ESRI Shapefile", engine="pyogrio", encoding=enc)
        Path(tmp_path).with_suffix(".cpg").write_text(enc, encoding="ascii")
        for suffix in SIDECARS:
            src = tmp_path.with_suffix(suffix)
            if src.exists():
                os.replace(src, path.with_suffix(suffix))
        shutil.rmtree(tmp, ignore_errors=True)
    return names
