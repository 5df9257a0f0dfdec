"""Tickets (工单) of the sample city, and fast ticket points for benchmarks.

Times are drawn over the three months before a fixed reference day (so a seed always
gives the same tickets), in Asia/Shanghai (+08:00), busier in the daytime.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from gridgis.crs import STORAGE_CRS
from gridgis.sample import names as N

SHANGHAI = timezone(timedelta(hours=8))
#: the end of the three months the sample tickets cover
REFERENCE_END = datetime(2026, 11, 24, 23, 59, tzinfo=SHANGHAI)
DAYS = 92
_HOURS_W = np.array([1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 12, 9, 10, 12, 12, 11, 10, 9, 8, 6, 4, 2, 1], float)

_DESCRIPTIONS = (
    "{place}{title}，请尽快处理。",
    "居民反映：{place}{title}，已持续数日。",
    "{place}{title}，影响居民正常生活，希望相关部门处理。",
    "网格员巡查发现{place}{title}。",
)


def tickets_frame(city: dict[str, gpd.GeoDataFrame], n: int, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """``n`` tickets with matter codes M01–M28, Chinese titles, channels, times and addresses."""
    bld = city["buildings"]
    comp_names = dict(zip(city["compounds"]["code"], city["compounds"]["name"]))
    matters = list(N.MATTERS)
    weights = np.array([N.MATTERS[m][1] for m in matters])
    matter = rng.choice(matters, size=n, p=weights / weights.sum())
    near_building = rng.random(n) < 0.75
    b_idx = rng.integers(0, len(bld), n)
    centres = shapely.get_coordinates(shapely.centroid(bld.geometry.values))
    lon = centres[b_idx, 0] + rng.normal(0, 0.00008, n)
    lat = centres[b_idx, 1] + rng.normal(0, 0.00007, n)
    district = shapely.union_all(city["streets"].geometry.values)
    minx, miny, maxx, maxy = district.bounds
    free = np.flatnonzero(~near_building)
    cand_x = rng.uniform(minx, maxx, len(free) * 3)
    cand_y = rng.uniform(miny, maxy, len(free) * 3)
    inside = np.flatnonzero(shapely.contains_xy(district, cand_x, cand_y))[: len(free)]
    lon[free[: len(inside)]] = cand_x[inside]
    lat[free[: len(inside)]] = cand_y[inside]
    # keep every point inside the district
    out = ~shapely.contains_xy(district, lon, lat)
    lon[out], lat[out] = centres[b_idx[out], 0], centres[b_idx[out], 1]
    day = rng.integers(0, DAYS, n)
    hour = rng.choice(24, size=n, p=_HOURS_W / _HOURS_W.sum())
    minute = rng.integers(0, 60, n)
    second = rng.integers(0, 60, n)
    start = REFERENCE_END.replace(hour=0, minute=0) - timedelta(days=DAYS - 1)
    times = [
        start + timedelta(days=int(d), hours=int(h), minutes=int(m), seconds=int(s))
        for d, h, m, s in zip(day, hour, minute, second)
    ]
    order = np.argsort(np.array([t.timestamp() for t in times]), kind="stable")
    channel = rng.choice(N.CHANNELS, size=n, p=N.CHANNEL_WEIGHTS)
    roads = rng.choice(N.ROADS, size=n)
    numbers = rng.integers(1, 900, n)
    rows = []
    for k, i in enumerate(order, start=1):
        titles = N.MATTERS[matter[i]][0]
        title = titles[int(rng.integers(len(titles)))]
        if near_building[i]:
            b = bld.iloc[b_idx[i]]
            address = f"{comp_names.get(b['compound_code'], '')}{b['number']}"
        else:
            address = f"{roads[i]}{numbers[i]}号"
        desc = _DESCRIPTIONS[int(rng.integers(len(_DESCRIPTIONS)))].format(place=address, title=title)
        rows.append(
            {
                "id": f"T{times[i]:%Y%m%d}{k:05d}",
                "matter_code": str(matter[i]),
                "title": title,
                "description": desc,
                "channel": str(channel[i]),
                "reported_at": times[i].isoformat(),
                "address": address,
            }
        )
    geom = shapely.points(np.round(lon[order], 7), np.round(lat[order], 7))
    return gpd.GeoDataFrame(rows, geometry=geom, crs=STORAGE_CRS)


def generate_ticket_points(n: int, seed: int = 0, scale: str = "city") -> tuple[np.ndarray, np.ndarray]:
    """``n`` ticket locations (lon, lat arrays, EPSG:4326) inside the district of ``scale``.

    Vectorised and fast (a million points in about a second): 70 % cluster around
    hot spots (markets, old estates), the rest are spread evenly. Does not build the city.
    """
    from gridgis.sample.city import district_polygon

    district, epsg = district_polygon(seed, scale)
    rng = np.random.default_rng([seed, 7])
    minx, miny, maxx, maxy = district.bounds
    n_hot = max(1, n // 2500)
    hot = np.column_stack([rng.uniform(minx, maxx, n_hot), rng.uniform(miny, maxy, n_hot)])
    k = rng.random(n) < 0.7
    which = rng.integers(0, n_hot, n)
    x = np.where(k, hot[which, 0] + rng.normal(0, 120.0, n), rng.uniform(minx, maxx, n))
    y = np.where(k, hot[which, 1] + rng.normal(0, 120.0, n), rng.uniform(miny, maxy, n))
    shapely.prepare(district)
    bad = ~shapely.contains_xy(district, x, y)
    while bad.any():
        m = int(bad.sum())
        x[bad] = rng.uniform(minx, maxx, m)
        y[bad] = rng.uniform(miny, maxy, m)
        bad = ~shapely.contains_xy(district, x, y)
    lon, lat = pyproj.Transformer.from_crs(epsg, 4326, always_xy=True).transform(x, y)
    return np.round(np.asarray(lon), 7), np.round(np.asarray(lat), 7)
