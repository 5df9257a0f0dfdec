"""China's web-map coordinate systems: GCJ-02 (AMap, Tencent, WeChat) and BD-09 (Baidu).

Neither is in PROJ. The forward transforms WGS84→GCJ-02 and GCJ-02→BD-09 are the
published formulas (the Krasovsky-ellipsoid offset polynomial, and Baidu's polar
shift); the inverses are solved by fixed-point iteration until the round trip is
within ``tol_m`` metres (default 0.01 m), which takes 2–4 iterations.

All functions take and return lon/lat degrees and are vectorised over numpy arrays.
Points outside mainland China are left unshifted in GCJ-02, as the published
algorithm does (the same test on the WGS84 input).

>>> lon, lat = wgs84_to_gcj02(116.397128, 39.916527)
>>> round(float(lon), 6), round(float(lat), 6)
(116.403372, 39.917931)
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import shapely

ChinaSystem = Literal["wgs84", "gcj02", "bd09"]
SYSTEMS: tuple[str, ...] = ("wgs84", "gcj02", "bd09")

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0
_M_PER_DEG = 111_320.0


def in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The rectangle the GCJ-02 algorithm treats as China (points outside are not shifted)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * sqrt_abs_x
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * sqrt_abs_x
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon, lat):
    """WGS84 → GCJ-02 (the published forward formula)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = _delta(lon, lat)
    inside = in_china(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def gcj02_to_bd09(lon, lat):
    """GCJ-02 → BD-09 (Baidu's published forward formula)."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd09_to_gcj02_approx(lon, lat):
    x = np.asarray(lon, dtype=float) - 0.0065
    y = np.asarray(lat, dtype=float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(forward, approx, lon, lat, tol_m: float, max_iter: int = 30):
    """Solve forward(x) = target by fixed-point iteration from ``approx``."""
    tlon = np.asarray(lon, dtype=float)
    tlat = np.asarray(lat, dtype=float)
    xlon, xlat = approx(tlon, tlat)
    tol_deg = tol_m / _M_PER_DEG
    for _ in range(max_iter):
        flon, flat = forward(xlon, xlat)
        elon = flon - tlon
        elat = flat - tlat
        if np.all(np.nan_to_num(np.hypot(elon * np.cos(np.radians(tlat)), elat), nan=0.0) < tol_deg / 4):
            break
        xlon = xlon - elon
        xlat = xlat - elat
    return xlon, xlat


def gcj02_to_wgs84(lon, lat, tol_m: float = 0.01):
    """GCJ-02 → WGS84 by iteration until the forward round trip is within ``tol_m`` metres."""
    return _invert(wgs84_to_gcj02, lambda x, y: (x, y), lon, lat, tol_m)


def bd09_to_gcj02(lon, lat, tol_m: float = 0.01):
    """BD-09 → GCJ-02: the closed-form approximation refined by iteration to ``tol_m`` metres."""
    return _invert(gcj02_to_bd09, _bd09_to_gcj02_approx, lon, lat, tol_m)


def wgs84_to_bd09(lon, lat):
    """WGS84 → BD-09 (through GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat, tol_m: float = 0.01):
    """BD-09 → WGS84 (through GCJ-02), each inverse iterated to ``tol_m`` metres."""
    glon, glat = bd09_to_gcj02(lon, lat, tol_m)
    return gcj02_to_wgs84(glon, glat, tol_m)


_STEPS = {
    ("wgs84", "gcj02"): (wgs84_to_gcj02,),
    ("gcj02", "wgs84"): (gcj02_to_wgs84,),
    ("gcj02", "bd09"): (gcj02_to_bd09,),
    ("bd09", "gcj02"): (bd09_to_gcj02,),
    ("wgs84", "bd09"): (wgs84_to_bd09,),
    ("bd09", "wgs84"): (bd09_to_wgs84,),
}


def convert_points(lon, lat, src: ChinaSystem, dst: ChinaSystem):
    """Convert lon/lat arrays between ``wgs84``, ``gcj02`` and ``bd09``."""
    _check(src)
    _check(dst)
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if src == dst:
        return lon.copy(), lat.copy()
    for step in _STEPS[(src, dst)]:
        lon, lat = step(lon, lat)
    return lon, lat


def convert_geometries(geoms, src: ChinaSystem, dst: ChinaSystem):
    """Convert every vertex of shapely geometries (scalar or array) between the three systems."""
    _check(src)
    _check(dst)
    if src == dst:
        return geoms

    def _fn(coords: np.ndarray) -> np.ndarray:
        lon, lat = convert_points(coords[:, 0], coords[:, 1], src, dst)
        return np.column_stack([lon, lat])

    return shapely.transform(geoms, _fn)


def _check(system: str) -> None:
    if system not in SYSTEMS:
        from gridgis.errors import CRSError

        raise CRSError(f"unknown coordinate system {system!r}; expected one of {list(SYSTEMS)}")
