"""Multi-county samples: copies of one city side by side, each under its own county code."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely

from gridgis.codes import check_county, county_of, with_county
from gridgis.errors import CodeError

#: the layers copied (every layer whose codes carry the county)
LAYERS = ("streets", "communities", "grids", "micro_grids", "compounds", "buildings", "stations")


def county_codes(copies: int, first: str = "310115", step: int = 100) -> list[str]:
    """``copies`` distinct county codes: ``first``, ``first + step`` …

    >>> county_codes(3)
    ['310115', '310215', '310315']
    """
    base = int(check_county(first))
    return [check_county(f"{base + k * step:06d}") for k in range(copies)]


def _moved(value: object, county: str) -> object:
    if not isinstance(value, str):
        return value
    try:
        county_of(value)  # raises for anything that is not a code under a county
    except CodeError:
        return value
    return with_county(value, county)


def replicate(city: dict[str, gpd.GeoDataFrame], counties: list[str]) -> dict[str, gpd.GeoDataFrame]:
    """One copy of ``city`` per county in ``counties``, shifted east side by side (2 % apart), every
    code (``code`` and ``*_code`` columns) moved under that county. The first copy stays in place."""
    grids = city["grids"]
    minx, _, maxx, _ = grids.total_bounds
    width = (maxx - minx) * 1.02
    out: dict[str, gpd.GeoDataFrame] = {}
    for layer in LAYERS:
        if layer not in city:
            continue
        frames = []
        for k, county in enumerate(counties):
            f = city[layer].copy()
            for col in [c for c in f.columns if c == "code" or c.endswith("_code")]:
                f[col] = [_moved(v, county) for v in f[col]]
            if k:
                f.geometry = shapely.transform(f.geometry.values, lambda xy, dx=k * width: xy + [dx, 0.0])
            frames.append(f)
        out[layer] = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=city[layer].crs)
    return out
