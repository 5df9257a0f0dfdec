"""Importers for the real public datasets in ``../shared/data`` (see its README and PROVENANCE files).

- :func:`read_mapv_compounds` — 8,470 compound (小区) outlines from Baidu's mapv demo: a bare JSON
  array of ``{"geometry": Polygon}`` in **BD-09**, most rings unclosed, a few degenerate or
  self-intersecting, one duplicate. Returns a compounds-like frame in EPSG:4326 and the report.
- :func:`read_township_boundaries` — 331 Beijing street/township (街道/乡镇) polygons (Shapefile or
  GeoJSON, WGS84), as a streets-like frame; with the adcode lists, each gets its 12-digit code.
- :func:`read_adcode` — the statistical division lists (no header, 12-digit codes, **GCJ-02**
  centre points), and :func:`street_codes` / :func:`community_codes` derived from them.

The source CRS of each dataset is fixed here from its PROVENANCE, never guessed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgis.crs import STORAGE_CRS, points_to_storage
from gridgis.errors import MalformedInputError, ValidationError
from gridgis.io.clean import clean_features
from gridgis.io.geojson import parse_features
from gridgis.io.layer_import import ImportReport
from gridgis.io.readers import read_source
from gridgis.io.source import FEATURE_COLUMN, decode_text, to_storage_frame

MAPV_CRS = "bd09"
TOWNSHIP_CRS = "wgs84"
ADCODE_CRS = "gcj02"
#: columns of the adcode CSVs (they have no header row; order of adcode.ddl)
ADCODE_COLUMNS = (
    "code",
    "parent",
    "name",
    "level",
    "rank",
    "adcode",
    "post_code",
    "area_code",
    "ur_code",
    "municipality",
    "virtual",
    "dummy",
    "longitude",
    "latitude",
    "center",
    "province",
    "city",
    "county",
    "town",
    "village",
)
#: rough city rectangles (lon/lat, WGS84) used to label the mapv outlines by city
CITY_BOXES = {
    "北京": (115.4, 39.4, 117.6, 41.1),
    "上海": (120.8, 30.6, 122.2, 31.9),
    "深圳": (113.7, 22.4, 114.7, 22.9),
    "重庆": (105.2, 28.1, 110.2, 32.3),
}


def read_mapv_compounds(path: str | Path, *, repair: bool = True) -> tuple[gpd.GeoDataFrame, ImportReport]:
    """Read the mapv compound outlines (BD-09) as a compounds-like frame in EPSG:4326.

    Columns: ``code`` (``MAPV00000``…, the position in the file), ``name`` (``None``: the data has
    no names), ``city`` (by the rectangles of :data:`CITY_BOXES`, else ``None``), ``source_index``
    and ``geometry``. The outlines are not tied to communities, so they are not a stored layer as
    they stand; the codes are for naming features in reports.

    With ``repair`` (the default: this dataset is known to be dirty) unclosed rings are closed and
    degenerate, self-intersecting and duplicate outlines repaired or dropped, each in the report;
    without it a :class:`ValidationError` lists them all.
    """
    text = decode_text(Path(path).read_bytes(), str(path))
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedInputError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(doc, list):
        raise MalformedInputError(f"{path}: expected the mapv JSON array of {{'geometry': …}} objects")
    raw = parse_features(doc, str(path), allow_bare_array=True)
    frame, src = to_storage_frame(raw, MAPV_CRS)
    frame["code"] = [f"MAPV{i:05d}" for i in frame[FEATURE_COLUMN]]
    cleaned = clean_features(frame, geometry="polygon", notes=raw.notes, repair=repair, layer="compounds", key="code")
    report = ImportReport(
        path=str(path),
        layer="compounds",
        source_crs=src.label,
        read=len(frame),
        problems=cleaned.problems,
        repairs=cleaned.repairs,
    )
    if cleaned.problems:
        error = ValidationError(
            f"{path}: {len(cleaned.problems)} problem(s) in the compound outlines; "
            "read with repair=True to repair them",
            cleaned.problems,
        )
        error.report = report  # type: ignore[attr-defined]
        raise error
    out = cleaned.frame
    centres = shapely.centroid(out.geometry.values)
    out = gpd.GeoDataFrame(
        {
            "code": out["code"].to_numpy(),
            "name": None,
            "city": label_cities(centres),
            "source_index": out[FEATURE_COLUMN].to_numpy(),
        },
        geometry=gpd.GeoSeries(out.geometry.values, crs=STORAGE_CRS),
        crs=STORAGE_CRS,
    )
    report.kept = len(out)
    return out, report


def label_cities(points) -> np.ndarray:
    """The city name of :data:`CITY_BOXES` each point falls in (``None`` when in none)."""
    xs = shapely.get_x(points)
    ys = shapely.get_y(points)
    out = np.full(len(xs), None, dtype=object)
    for city, (x0, y0, x1, y1) in CITY_BOXES.items():
        out[(xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)] = city
    return out


# ------------------------------------------------------------------------------------ adcode lists


def read_adcode(path: str | Path, levels: tuple[str, ...] = ("town", "village")) -> gpd.GeoDataFrame:
    """Read adcode CSVs (one file or a folder of them) as points in EPSG:4326.

    Codes stay 12-digit text; ``longitude``/``latitude`` (GCJ-02, about a third of the rows have
    them) become WGS84 point geometries, ``None`` where absent. Duplicate codes across files are
    kept once. ``levels`` filters the ``level`` column (``province`` … ``village``).
    """
    path = Path(path)
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files:
        raise MalformedInputError(f"{path}: no adcode CSV files")
    tables = []
    for f in files:
        raw = read_source(f, lon="longitude", lat="latitude", header=False, names=list(ADCODE_COLUMNS))
        tables.append(raw.frame)
    table = pd.concat(tables, ignore_index=True).drop_duplicates("code")
    table = table[table["level"].isin(levels)].reset_index(drop=True)
    bad = table[~table["code"].str.fullmatch(r"\d{12}")]
    if len(bad):
        raise MalformedInputError(
            f"{path}: {len(bad)} row(s) whose code is not 12 digits, e.g. {bad['code'].iloc[0]!r}"
        )
    geoms = table.geometry.values
    has = ~shapely.is_missing(geoms)
    lon, lat = points_to_storage(shapely.get_x(geoms[has]), shapely.get_y(geoms[has]), ADCODE_CRS)
    out_geoms = np.full(len(table), None, dtype=object)
    out_geoms[has] = shapely.points(lon, lat)
    keep = ["code", "parent", "name", "level", "province", "city", "county", "town", "village", "ur_code"]
    return gpd.GeoDataFrame(table[keep].copy(), geometry=gpd.GeoSeries(out_geoms, crs=STORAGE_CRS), crs=STORAGE_CRS)


_SUFFIX = re.compile(r"(街道办事处|地区办事处|办事处|街道|地区|民族乡|镇|乡)$")


def short_name(name: str) -> str:
    """A street/township name without its administrative suffix, for matching across sources.

    >>> short_name("建外街道办事处"), short_name("太阳宫镇"), short_name("太阳宫地区办事处")
    ('建外', '太阳宫', '太阳宫')
    """
    return _SUFFIX.sub("", str(name).strip())


def _county_key(name: str) -> str:
    return re.sub(r"(县|区)$", "", str(name).strip())


def street_codes(adcode: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Street/township rows of :func:`read_adcode` as a streets-like frame: code, name, district, geometry."""
    t = adcode[adcode["level"] == "town"]
    name = t["name"].str.replace(r"办事处$", "", regex=True)
    return gpd.GeoDataFrame(
        {"code": t["code"].to_numpy(), "name": name.to_numpy(), "district": t["county"].to_numpy()},
        geometry=t.geometry.values,
        crs=STORAGE_CRS,
    )


def community_codes(adcode: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Community rows of :func:`read_adcode`: code, name, street_code, urban-rural class, geometry (or None)."""
    v = adcode[adcode["level"] == "village"]
    name = v["name"].str.replace(r"(社区)?居委会$|居民委员会$", lambda m: "社区" if m.group(1) else "", regex=True)
    return gpd.GeoDataFrame(
        {
            "code": v["code"].to_numpy(),
            "name": name.to_numpy(),
            "street_code": v["parent"].to_numpy(),
            "ur_code": v["ur_code"].to_numpy(),
        },
        geometry=v.geometry.values,
        crs=STORAGE_CRS,
    )


# ------------------------------------------------------------------------------------ townships


def _street_matcher(streets: gpd.GeoDataFrame):
    """A function (name, district) → the one matching street code, or None.

    Full names are tried first (``南苑街道`` = ``南苑街道办事处``); then names without their
    suffix, and when that is ambiguous (``南苑街道`` and ``南苑地区办事处``) the candidate of the
    same kind (a 镇/乡 is run by a 地区办事处, a 街道 by a 街道办事处).
    """
    full: dict[tuple[str, str], list[tuple[str, str]]] = {}
    short: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for code, name, district in zip(streets["code"], streets["name"], streets["district"], strict=True):
        county = _county_key(district)
        full.setdefault((county, str(name)), []).append((code, str(name)))
        short.setdefault((county, short_name(name)), []).append((code, str(name)))

    def match(name: str, district: str) -> str | None:
        county = _county_key(district)
        found = full.get((county, str(name))) or short.get((county, short_name(name)), [])
        if len(found) > 1:
            town = str(name).endswith(("镇", "乡"))
            found = [f for f in found if f[1].endswith(("地区", "镇", "乡")) == town]
        return found[0][0] if len(found) == 1 else None

    return match


def read_township_boundaries(path: str | Path, *, adcode: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Read the Beijing township polygons (``beijing.shp`` or ``beijing_townships.geojson``, WGS84).

    Returns a streets-like frame in EPSG:4326: ``code`` (the 12-digit code of the township in
    ``adcode`` matched by district and name, else ``None``), ``name``, ``district`` and geometry.
    The Shapefile's truncated ``geom`` text column is ignored.
    """
    raw = read_source(path)
    frame, _src = to_storage_frame(raw, TOWNSHIP_CRS)
    cols = {"乡": "name", "县": "district", "township": "name", "county": "district"}
    frame = frame.rename(columns={k: v for k, v in cols.items() if k in frame.columns})
    if "name" not in frame.columns or "district" not in frame.columns:
        raise MalformedInputError(f"{path}: expected township and county columns (乡/县 or township/county)")
    codes = np.full(len(frame), None, dtype=object)
    if adcode is not None:
        match = _street_matcher(street_codes(adcode))
        codes[:] = [match(name, district) for name, district in zip(frame["name"], frame["district"], strict=True)]
    return gpd.GeoDataFrame(
        {"code": codes, "name": frame["name"].to_numpy(), "district": frame["district"].to_numpy()},
        geometry=gpd.GeoSeries(frame.geometry.values, crs=STORAGE_CRS),
        crs=STORAGE_CRS,
    )
