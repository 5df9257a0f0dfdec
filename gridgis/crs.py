"""Coordinate reference systems: one storage CRS, a metric CRS chosen for the data.

- Storage: EPSG:4326 (lon/lat). CGCS2000 (EPSG:4490) is accepted as the same at map
  accuracy and relabelled, never shifted.
- Metric work (areas, distances, buffers): the CGCS2000 3-degree Gauss-Krüger zone whose
  central meridian is nearest the data (EPSG:4534–4554, no zone prefix in easting).
- Storage precision: the store keeps doubles; every writer of GeoJSON (files, API answers,
  exports) rounds to 7 decimals of a degree (:data:`STORAGE_DECIMALS`, :func:`round_to_storage`,
  about 1 cm) and repairs a polygon the rounding leaves invalid. Alignment treats lines closer than one such step (:data:`STORAGE_RESOLUTION_M`) as
  one line, so grids read back from any of them align to themselves.
- Input CRS names accepted everywhere (CLI ``--crs``, API ``crs=``): ``wgs84``,
  ``cgcs2000``, ``gcj02``, ``bd09``, or ``EPSG:nnnn``. Nothing is ever guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from gridgis import chinacoords
from gridgis.errors import CRSError, OutOfAreaError

STORAGE_CRS = "EPSG:4326"
STORAGE_EPSG = 4326
CGCS2000_EPSG = 4490
#: decimals of a degree every writer keeps (GeoJSON, exports, proposals): 1e-7° is 1.1 cm or less
STORAGE_DECIMALS = 7
#: the size of one storage precision step on the ground (1e-7° of latitude, metres); a vertex read
#: back moves at most about 0.8 of it, so lines closer than this are one line
STORAGE_RESOLUTION_M = 0.0112
#: lon/lat rectangle that holds China's territory (with margin); data outside is refused.
CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)


@dataclass(frozen=True)
class SourceCRS:
    """A parsed input CRS: one of China's web systems, or a PROJ CRS."""

    china: chinacoords.ChinaSystem | None  # "wgs84", "gcj02" or "bd09" when the input is lon/lat in that system
    epsg: int | None  # a PROJ CRS otherwise (None when ``china`` is set)

    @property
    def label(self) -> str:
        return self.china if self.china else f"EPSG:{self.epsg}"


_ALIASES: dict[str, chinacoords.ChinaSystem] = {
    "wgs84": "wgs84",
    "wgs-84": "wgs84",
    "epsg:4326": "wgs84",
    "4326": "wgs84",
    "crs84": "wgs84",
    "ogc:crs84": "wgs84",
    "http://www.opengis.net/def/crs/ogc/1.3/crs84": "wgs84",
    "http://www.opengis.net/def/crs/epsg/0/4326": "wgs84",
    "cgcs2000": "wgs84",
    "epsg:4490": "wgs84",
    "4490": "wgs84",
    "http://www.opengis.net/def/crs/epsg/0/4490": "wgs84",
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "amap": "gcj02",
    "tencent": "gcj02",
    "mars": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
    "baidu": "bd09",
}


def parse_crs(value: str | int | None) -> SourceCRS:
    """Parse a user-supplied CRS name. ``None`` or empty is an error: we never guess.

    >>> parse_crs("gcj02").china
    'gcj02'
    >>> parse_crs("EPSG:4549").epsg
    4549
    """
    if value is None or str(value).strip() == "":
        raise CRSError("no CRS given; say which one the coordinates are in (wgs84, cgcs2000, gcj02, bd09 or EPSG:nnnn)")
    key = str(value).strip().lower()
    if key in _ALIASES:
        return SourceCRS(china=_ALIASES[key], epsg=None)
    try:
        crs = pyproj.CRS.from_user_input(value if not (key.isascii() and key.isdigit()) else int(key))
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(f"unknown CRS {value!r}; expected wgs84, cgcs2000, gcj02, bd09 or EPSG:nnnn") from exc
    epsg = crs.to_epsg()
    if epsg in (STORAGE_EPSG, CGCS2000_EPSG) or (epsg is None and _is_wgs84_lonlat(crs)):
        return SourceCRS(china="wgs84", epsg=None)
    if epsg is None:
        raise CRSError(f"CRS {value!r} has no EPSG code; give it as EPSG:nnnn")
    return SourceCRS(china=None, epsg=epsg)


#: names of the PROJ CRSs that label GCJ-02 and BD-09 lon/lat in files gridgis writes (neither has an
#: EPSG code); :func:`china_from_proj` recognises them when such a file is read back.
CHINA_CRS_NAMES = {"gcj02": "GCJ-02 lon/lat (gridgis)", "bd09": "BD-09 lon/lat (gridgis)"}


def china_lonlat_crs(china: str) -> pyproj.CRS:
    """A PROJ CRS that says "lon/lat in GCJ-02 (or BD-09)" for a file's CRS entry.

    It is a geographic CRS on the WGS84 datum whose *name* carries the system, since PROJ
    has no transformation for either; :func:`china_from_proj` reads it back.

    >>> china_lonlat_crs("gcj02").name
    'GCJ-02 lon/lat (gridgis)'
    >>> china_from_proj(china_lonlat_crs("bd09"))
    'bd09'
    """
    if china not in CHINA_CRS_NAMES:
        raise CRSError(f"{china!r} is not GCJ-02 or BD-09; use an EPSG code for other systems")
    name = CHINA_CRS_NAMES[china]
    # a datum of its own, so GDAL does not identify the entry as EPSG:4326 and drop the name
    return pyproj.CRS.from_wkt(
        f'GEOGCRS["{name}",DATUM["{name} datum",ELLIPSOID["WGS 84",6378137,298.257223563]],'
        'CS[ellipsoidal,2],AXIS["longitude",east,ANGLEUNIT["degree",0.0174532925199433]],'
        'AXIS["latitude",north,ANGLEUNIT["degree",0.0174532925199433]]]'
    )


def china_from_proj(crs: object) -> str | None:
    """``"gcj02"``/``"bd09"`` when ``crs`` is a CRS written by :func:`china_lonlat_crs`, else ``None``.

    >>> china_from_proj("EPSG:4326") is None
    True
    """
    try:
        name = pyproj.CRS.from_user_input(crs).name
    except pyproj.exceptions.CRSError:
        return None
    folded = "".join(ch for ch in name.lower() if ch.isalnum())  # ESRI .prj files write GCS_BD-09_lon_lat_gridgis
    for china, label in CHINA_CRS_NAMES.items():
        if folded.removeprefix("gcs") == "".join(ch for ch in label.lower() if ch.isalnum()):
            return china
    return None


def _is_wgs84_lonlat(crs: pyproj.CRS) -> bool:
    """True for WGS84 lon/lat without an EPSG code of its own (OGC CRS84, as GeoJSON and GDAL write it)."""
    return crs.equals(pyproj.CRS.from_epsg(STORAGE_EPSG), ignore_axis_order=True)


def is_storage_crs(crs: object) -> bool:
    """True for EPSG:4326 and EPSG:4490 (CGCS2000, accepted as equal)."""
    if crs is None:
        return False
    try:
        epsg = pyproj.CRS.from_user_input(crs).to_epsg()
    except pyproj.exceptions.CRSError:
        return False
    return epsg in (STORAGE_EPSG, CGCS2000_EPSG)


def ensure_storage_crs(frame: gpd.GeoDataFrame, what: str = "layer") -> gpd.GeoDataFrame:
    """Return ``frame`` labelled EPSG:4326; raise :class:`CRSError` for any other CRS or none."""
    if frame.crs is None:
        raise CRSError(f"{what}: the frame has no CRS; set it (EPSG:4326 lon/lat) or convert with to_storage()")
    if not is_storage_crs(frame.crs):
        raise CRSError(
            f"{what}: expected EPSG:4326 lon/lat, got {frame.crs.to_string()}; "
            "convert with gridgis.crs.to_storage() first"
        )
    if pyproj.CRS.from_user_input(frame.crs).to_epsg() != STORAGE_EPSG:
        frame = frame.set_crs(STORAGE_CRS, allow_override=True)
    return frame


def to_storage(frame: gpd.GeoDataFrame, source: str | int | SourceCRS) -> gpd.GeoDataFrame:
    """Convert a frame whose coordinates are in ``source`` to EPSG:4326 lon/lat.

    ``source`` is required (``wgs84``, ``cgcs2000``, ``gcj02``, ``bd09`` or ``EPSG:nnnn``); a frame
    whose own CRS disagrees with a PROJ ``source`` is an error rather than a silent choice.
    """
    src = source if isinstance(source, SourceCRS) else parse_crs(source)
    out = frame.copy()
    if src.china is not None:
        if frame.crs is not None and not is_storage_crs(frame.crs):
            raise CRSError(f"the data says its CRS is {frame.crs.to_string()} but {src.label} lon/lat was given")
        out = out.set_crs(STORAGE_CRS, allow_override=True)
        if src.china != "wgs84":
            out.geometry = gpd.GeoSeries(
                chinacoords.convert_geometries(out.geometry.values, src.china, "wgs84"),
                index=out.index,
                crs=STORAGE_CRS,
            )
        return out
    if frame.crs is not None and pyproj.CRS.from_user_input(frame.crs).to_epsg() not in (src.epsg, None):
        raise CRSError(f"the data says its CRS is {frame.crs.to_string()} but EPSG:{src.epsg} was given")
    out = out.set_crs(f"EPSG:{src.epsg}", allow_override=True)
    return out.to_crs(STORAGE_CRS)


def points_to_storage(lon, lat, source: str | int | SourceCRS) -> tuple[np.ndarray, np.ndarray]:
    """Convert coordinate arrays (x/lon, y/lat) in ``source`` to WGS84 lon/lat arrays."""
    src = source if isinstance(source, SourceCRS) else parse_crs(source)
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if src.china is not None:
        return chinacoords.convert_points(lon, lat, src.china, "wgs84")
    tr = _transformer(src.epsg, STORAGE_EPSG)
    return tr.transform(lon, lat)


def storage_to(lon, lat, target: str | int | SourceCRS) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS84 lon/lat arrays to ``target`` (for emitting GCJ-02/BD-09 or a projected CRS)."""
    dst = target if isinstance(target, SourceCRS) else parse_crs(target)
    if dst.china is not None:
        return chinacoords.convert_points(lon, lat, "wgs84", dst.china)
    return _transformer(STORAGE_EPSG, dst.epsg).transform(np.asarray(lon, float), np.asarray(lat, float))


@lru_cache(maxsize=64)
def _transformer(src: int, dst: int) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(src, dst, always_xy=True)


def gauss_kruger_epsg(lon: float) -> int:
    """EPSG code of the CGCS2000 3-degree Gauss-Krüger zone (no zone prefix) nearest ``lon``.

    Zones have central meridians 75°E … 135°E every 3°: EPSG:4534 (75°E) … EPSG:4554 (135°E).

    >>> gauss_kruger_epsg(116.4)   # Beijing: CM 117°E
    4548
    >>> gauss_kruger_epsg(121.5)   # Shanghai: CM 120°E
    4549
    """
    if not np.isfinite(lon) or not (CHINA_BOUNDS[0] - 3 <= lon <= CHINA_BOUNDS[2] + 3):
        raise OutOfAreaError(f"longitude {lon} is outside China; no CGCS2000 Gauss-Krüger zone fits")
    cm = int(round(lon / 3.0)) * 3
    cm = min(max(cm, 75), 135)
    return 4534 + (cm - 75) // 3


def metric_crs_for(frame_or_geoms) -> str:
    """The metric CRS for data in EPSG:4326: the Gauss-Krüger zone of its centre longitude."""
    if isinstance(frame_or_geoms, gpd.GeoDataFrame | gpd.GeoSeries):
        if frame_or_geoms.crs is not None and not is_storage_crs(frame_or_geoms.crs):
            raise CRSError(f"metric_crs_for expects EPSG:4326 data, got {frame_or_geoms.crs.to_string()}")
        bounds = frame_or_geoms.total_bounds
    else:
        bounds = shapely.total_bounds(np.asarray(frame_or_geoms))
    if not np.all(np.isfinite(bounds)):
        raise CRSError("cannot choose a metric CRS for empty data")
    return f"EPSG:{gauss_kruger_epsg((bounds[0] + bounds[2]) / 2.0)}"


def to_metric(frame: gpd.GeoDataFrame, metric_crs: str | None = None) -> gpd.GeoDataFrame:
    """Project an EPSG:4326 frame to ``metric_crs`` (default: :func:`metric_crs_for` the frame)."""
    frame = ensure_storage_crs(frame)
    return frame.to_crs(metric_crs or metric_crs_for(frame))


def round_to_storage(geoms: np.ndarray, repair: bool = True) -> np.ndarray:
    """Every coordinate of ``geoms`` (EPSG:4326) rounded to :data:`STORAGE_DECIMALS`: what a writer
    keeps. Rounding is per coordinate, so edges two polygons share stay shared.

    A polygon narrower than a storage step somewhere (a neck, a sliver wedge) can come out of plain
    rounding invalid: its ring then touches or crosses itself. With ``repair`` (what every writer
    does, so that every file and answer holds valid geometry) such a polygon, and only such (also
    one invalid as stored: ``gridgis check`` reports those), is made valid (GEOS ``make_valid``, structure method:
    a ring folding back loses the fold, a neck pinched to a point leaves two parts touching there),
    then rounded again; what is still invalid is snap-rounded to the storage step. Producers avoid
    the need (:func:`gridgis.layers.coverage.storable`); ``repair=False`` gives plain rounding, to
    find polygons that would need it (:func:`gridgis.layers.coverage.unwritable`).

    >>> round_to_storage(np.array([shapely.Point(116.123456789, 39.987654321)]))[0].wkt
    'POINT (116.1234568 39.9876543)'
    >>> spike = shapely.Polygon([(116.0, 39.9), (116.001, 39.9), (116.001, 39.901), (116.00050004, 39.901),
    ...                          (116.0005, 39.90099994), (116.00049996, 39.901), (116.0, 39.901)])
    >>> bool(shapely.is_valid(round_to_storage(np.array([spike]), repair=False)[0]))
    False
    >>> shapely.normalize(round_to_storage(np.array([spike]))[0]).wkt  # the fold is gone
    'POLYGON ((116 39.9, 116 39.901, 116.0005 39.901, 116.001 39.901, 116.001 39.9, 116 39.9))'
    """
    geoms = np.asarray(geoms, dtype=object)
    if not len(geoms):
        return geoms
    out = shapely.transform(geoms, lambda c: np.round(c, STORAGE_DECIMALS))
    if not repair:
        return out
    polygonal = np.isin(shapely.get_type_id(out), (3, 6))  # points and lines are written as they round
    folded = np.flatnonzero(polygonal & ~shapely.is_valid(out))
    if not len(folded):
        return out
    for _ in range(3):
        if not len(folded):
            return out
        fixed = shapely.make_valid(out[folded], method="structure", keep_collapsed=False)
        out[folded] = shapely.transform(fixed, lambda c: np.round(c, STORAGE_DECIMALS))
        folded = folded[~shapely.is_valid(out[folded])]
    if len(folded):
        out[folded] = shapely.set_precision(out[folded], 10.0**-STORAGE_DECIMALS)
    return out
