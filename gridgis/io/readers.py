"""Readers for GeoPackage, Shapefile and CSV point tables, and :func:`read_source` for any of them.

Each returns a :class:`~gridgis.io.source.RawSource` (coordinates as in the file, the CRS the
file declares, parse notes); :func:`read_features` adds the CRS decision and the conversion to
EPSG:4326. Text encodings are never guessed: GeoJSON and CSV are UTF-8 unless ``encoding`` is
given; a Shapefile uses its ``.cpg`` (or the code page in its DBF header), else UTF-8, and
``encoding`` overrides both. Text that does not decode is a
:class:`~gridgis.errors.MalformedInputError` that says to give the encoding.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.raw
import shapely

from gridgis.crs import SourceCRS
from gridgis.errors import MalformedInputError, Problem
from gridgis.io.geojson import read_geojson
from gridgis.io.source import FEATURE_COLUMN, RawSource, declared_from_proj, decode_text, to_storage_frame

#: column names taken as longitude / latitude in a CSV when none are named (no CRS is implied)
LON_NAMES = ("lon", "lng", "longitude", "x", "经度")
LAT_NAMES = ("lat", "latitude", "y", "纬度")
SUFFIXES = {".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg", ".shp": "shp", ".csv": "csv"}


def source_format(path: str | Path) -> str:
    """The format of ``path`` from its suffix: ``geojson``, ``gpkg``, ``shp`` or ``csv``."""
    fmt = SUFFIXES.get(Path(path).suffix.lower())
    if fmt is None:
        raise MalformedInputError(
            f"{path}: unknown file type {Path(path).suffix!r}; gridgis reads {', '.join(sorted(SUFFIXES))}"
        )
    return fmt


def _dbf_has_code_page(shp: Path) -> bool:
    """True when the DBF header names a code page (language driver id, byte 29)."""
    dbf = next((p for p in (shp.with_suffix(".dbf"), shp.with_suffix(".DBF")) if p.exists()), None)
    if dbf is None:
        return False
    with open(dbf, "rb") as fh:
        head = fh.read(30)
    return len(head) == 30 and head[29] != 0


def shapefile_encoding(path: str | Path, encoding: str | None = None) -> str | None:
    """The encoding to read a Shapefile's text with (``None``: the one the file declares)."""
    shp = Path(path)
    if encoding:
        return encoding
    if shp.with_suffix(".cpg").exists() or shp.with_suffix(".CPG").exists() or _dbf_has_code_page(shp):
        return None
    return "utf-8"


_CPG = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "65001": "utf-8",
    "gbk": "gbk",
    "936": "gbk",
    "cp936": "gbk",
    "gb2312": "gbk",
    "gb18030": "gb18030",
}


def _declared_encoding(path: Path) -> str | None:
    cpg = path.with_suffix(".cpg")
    if not cpg.exists():
        return None
    return _CPG.get(cpg.read_text(encoding="ascii", errors="ignore").strip().lower())


def _undecodable_rows(path: Path, layer: str | None, encoding: str | None) -> list[Problem]:
    """Which features hold text that does not decode as ``encoding`` (best effort; [] if unknown)."""
    if encoding is None:
        return []
    try:
        meta, _f, _g, values = pyogrio.raw.read(str(path), layer=layer, encoding="ISO-8859-1", read_geometry=False)
    except Exception:  # noqa: BLE001 - only a better message is at stake
        return []
    out = []
    for i in range(len(values[0]) if values else 0):
        bad = []
        for name, col in zip(meta["fields"], values, strict=True):
            v = col[i]
            if isinstance(v, str):
                try:
                    v.encode("latin-1").decode(encoding)
                except (UnicodeDecodeError, UnicodeEncodeError):
                    bad.append(str(name))
        if bad:
            out.append(
                Problem(
                    f"text in {', '.join(bad)} is not valid {encoding}; give the file's encoding (e.g. --encoding gbk)",
                    feature=f"#{i}",
                    kind="bad_encoding",
                )
            )
    return out


def _read_ogr(path: Path, *, layer: str | None, encoding: str | None, what: str) -> RawSource:
    try:
        meta, _fids, wkb, values = pyogrio.raw.read(str(path), layer=layer, encoding=encoding)
    except UnicodeDecodeError as exc:
        enc = encoding or "the encoding the file declares"
        problems = _undecodable_rows(path, layer, encoding or _declared_encoding(path)) or [
            Problem(str(exc), feature=what, kind="bad_encoding")
        ]
        raise MalformedInputError(
            f"{what}: text cannot be read as {enc} (byte {exc.object[exc.start : exc.start + 1]!r}); "
            "give the right encoding (e.g. encoding='gbk' / --encoding gbk), or fix the .cpg file",
            problems,
        ) from None
    except pyogrio.errors.DataSourceError as exc:
        raise MalformedInputError(f"{what}: cannot be opened as a vector file: {exc}") from None
    except pyogrio.errors.DataLayerError as exc:
        raise MalformedInputError(f"{what}: {exc}") from None
    n = 0 if wkb is None else len(wkb)
    if n == 0 and values:
        n = len(values[0])
    geoms = np.full(n, None, dtype=object)
    notes: list[Problem] = []
    if wkb is not None:
        geoms = shapely.from_wkb(wkb, on_invalid="ignore")
        for i in np.flatnonzero(pd.isna(geoms) & pd.notna(pd.Series(list(wkb), dtype=object)).to_numpy()):
            notes.append(
                Problem(
                    "geometry cannot be built (a ring with fewer than 4 points?)",
                    feature=f"#{i}",
                    kind="degenerate",
                    details={"index": int(i)},
                )
            )
    data = {name: pd.Series(col, dtype=object) for name, col in zip(meta["fields"], values, strict=True)}
    frame = gpd.GeoDataFrame(pd.DataFrame(data, index=range(n)), geometry=gpd.GeoSeries(geoms, index=range(n)))
    frame[FEATURE_COLUMN] = np.arange(n)
    return RawSource(path=what, frame=frame, declared=declared_from_proj(meta.get("crs"), what), notes=notes)


def read_shapefile(path: str | Path, *, encoding: str | None = None) -> RawSource:
    """Read a Shapefile (``.shp`` with its ``.dbf``/``.shx``, ``.prj`` and ``.cpg`` when present).

    ``encoding`` (``"utf-8"``, ``"gbk"``, …) overrides the ``.cpg``; without either, the text
    must be UTF-8 (or the DBF header must name its code page).
    """
    path = Path(path)
    if not path.exists():
        raise MalformedInputError(f"{path}: no such file")
    return _read_ogr(path, layer=None, encoding=shapefile_encoding(path, encoding), what=str(path))


def gpkg_layers(path: str | Path) -> list[str]:
    """The names of the vector tables in a GeoPackage."""
    try:
        return [str(name) for name, _ in pyogrio.list_layers(str(path))]
    except pyogrio.errors.DataSourceError as exc:
        raise MalformedInputError(f"{path}: not a GeoPackage: {exc}") from None


def read_gpkg(path: str | Path, *, table: str | None = None) -> RawSource:
    """Read one table of a GeoPackage (``table`` may be omitted when the file has only one)."""
    path = Path(path)
    if not path.exists():
        raise MalformedInputError(f"{path}: no such file")
    names = gpkg_layers(path)
    if table is None:
        if len(names) != 1:
            raise MalformedInputError(f"{path}: holds {len(names)} tables ({', '.join(names)}); say which one")
        table = names[0]
    if table not in names:
        raise MalformedInputError(f"{path}: has no table {table!r}; it has {', '.join(names) or 'none'}")
    return _read_ogr(path, layer=table, encoding=None, what=f"{path}:{table}")


def _pick(columns: list[str], given: str | None, names: tuple[str, ...], what: str, path: str) -> str:
    if given is not None:
        if given not in columns:
            raise MalformedInputError(f"{path}: no column {given!r} for {what}; columns are {', '.join(columns)}")
        return given
    found = [c for c in columns if str(c).strip().lower() in names]
    if len(found) != 1:
        raise MalformedInputError(
            f"{path}: cannot tell which column holds the {what} "
            f"(found {found or 'none'}); name it (lon=/lat=, --lon/--lat)"
        )
    return found[0]


def read_csv_points(
    path: str | Path,
    *,
    encoding: str | None = None,
    lon: str | None = None,
    lat: str | None = None,
    header: bool = True,
    names: list[str] | None = None,
) -> RawSource:
    """Read a CSV table of points with longitude/latitude columns.

    All other columns are read as text, so codes keep their leading zeros. ``header=False``
    with ``names`` reads a headerless table. A row whose coordinates are not numbers is a
    :class:`MalformedInputError` naming the row; a row with both empty gets no geometry.
    """
    text = decode_text(Path(path).read_bytes(), str(path), encoding)
    try:
        with warnings.catch_warnings():
            # a row with more fields than the header would silently become an index (or lose data)
            warnings.simplefilter("error", pd.errors.ParserWarning)
            table = pd.read_csv(
                io.StringIO(text),
                dtype=str,
                keep_default_na=False,
                header=0 if header else None,
                names=names,
                index_col=False,
            )
    except pd.errors.ParserWarning:
        raise MalformedInputError(
            f"{path}: a row has more fields than the header names; quote values that contain commas, or fix the header"
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise MalformedInputError(f"{path}: not a readable CSV table: {exc}") from None
    columns = [str(c) for c in table.columns]
    table.columns = columns
    xcol = _pick(columns, lon, LON_NAMES, "longitude", str(path))
    ycol = _pick(columns, lat, LAT_NAMES, "latitude", str(path))
    xs = pd.to_numeric(table[xcol].str.strip().replace("", np.nan), errors="coerce")
    ys = pd.to_numeric(table[ycol].str.strip().replace("", np.nan), errors="coerce")
    bad_x = xs.isna() & (table[xcol].str.strip() != "")
    bad_y = ys.isna() & (table[ycol].str.strip() != "")
    bad = [
        Problem(
            f"coordinates {table.at[i, xcol]!r}, {table.at[i, ycol]!r} are not numbers",
            feature=f"row {i + (2 if header else 1)}",
            kind="malformed",
        )
        for i in np.flatnonzero((bad_x | bad_y).to_numpy())
    ]
    if bad:
        raise MalformedInputError(f"{path}: {len(bad)} row(s) have coordinates that are not numbers", bad)
    ok = (xs.notna() & ys.notna()).to_numpy()
    geoms = np.full(len(table), None, dtype=object)
    geoms[ok] = shapely.points(xs.to_numpy()[ok], ys.to_numpy()[ok])
    table = table.replace("", None)
    frame = gpd.GeoDataFrame(table.drop(columns=[xcol, ycol]), geometry=gpd.GeoSeries(geoms, index=table.index))
    frame[FEATURE_COLUMN] = np.arange(len(frame))
    return RawSource(path=str(path), frame=frame, declared=None)


def read_source(
    path: str | Path,
    *,
    encoding: str | None = None,
    table: str | None = None,
    allow_bare_array: bool = False,
    **csv_options,
) -> RawSource:
    """Read any supported file (by suffix) into a :class:`RawSource`."""
    fmt = source_format(path)
    if not Path(path).exists():
        raise MalformedInputError(f"{path}: no such file")
    if fmt == "geojson":
        return read_geojson(path, encoding=encoding, allow_bare_array=allow_bare_array)
    if fmt == "gpkg":
        return read_gpkg(path, table=table)
    if fmt == "shp":
        return read_shapefile(path, encoding=encoding)
    return read_csv_points(path, encoding=encoding, **csv_options)


def read_features(
    path: str | Path,
    crs: str | int | SourceCRS | None,
    *,
    encoding: str | None = None,
    table: str | None = None,
    **options,
) -> tuple[gpd.GeoDataFrame, SourceCRS, RawSource]:
    """Read ``path`` and convert it to EPSG:4326 from ``crs`` (see :func:`gridgis.io.source.resolve_crs`).

    Returns the frame in EPSG:4326 (with the ``_feature`` column), the source CRS used and the
    raw source (for its parse notes). No cleaning is done here; see :mod:`gridgis.io.clean`.
    """
    raw = read_source(path, encoding=encoding, table=table, **options)
    frame, src = to_storage_frame(raw, crs)
    return frame, src, raw
