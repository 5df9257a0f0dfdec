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
as JSON text; a text value over 254 bytes, or a character the chosen encoding cannot hold
(GBK has no emoji), is a :class:`~gridgis.errors.ValidationError` naming the feature, rather
than a silent truncation.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import geopandas as gpd
import pandas as pd

from gridgis.errors import Problem, ValidationError

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
            name = f"{base[:10 - len(str(k))]}{k}"
            k += 1
        used.add(name.lower())
        out[col] = name
    return out


def from_shapefile_names(columns: list[str]) -> dict[str, str]:
    """``{DBF name: layer field}`` for the DBF names that gridgis's fixed mapping produced."""
    return {c: _REVERSE[c] for c in columns if c in _REVERSE}


def _prepare(frame: gpd.GeoDataFrame, encoding: str, what: str) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    geom = frame.geometry.name
    cols = [c for c in frame.columns if c != geom]
    names = shapefile_names(cols)
    out = gpd.GeoDataFrame(index=frame.index, geometry=frame.geometry.values, crs=frame.crs)
    problems: list[Problem] = []
    codes = frame["code"].tolist() if "code" in frame.columns else [None] * len(frame)
    for col in cols:
        values = frame[col]
        if values.map(lambda v: isinstance(v, list | dict)).any():
            values = values.map(lambda v: None if v is None else json.dumps(v, ensure_ascii=False))
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            for pos, v in enumerate(values):
                if not isinstance(v, str):
                    continue
                try:
                    size = len(v.encode(encoding))
                except UnicodeEncodeError as exc:
                    problems.append(Problem(f"{col}={v!r}: {v[exc.start:exc.end]!r} cannot be written in {encoding}; "
                                            "export with encoding utf-8", feature=str(codes[pos]), layer=what,
                                            kind="bad_encoding"))
                    continue
                if size > 254:
                    problems.append(Problem(f"{col} is {size} bytes; a Shapefile holds at most 254 — export to "
                                            "GeoPackage instead", feature=str(codes[pos]), layer=what, kind="too_long"))
            values = values.astype(object).where(values.notna(), None)
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
