"""Thematic map views: alignment, workload and life-circle coverage (folium, offline).

Each view is a function ``city (+ analysis frames) -> folium.Map``; save it with
:func:`gridgis.maps.folium_maps.save_map`.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gridgis.errors import ValidationError
from gridgis.layers.station import KINDS as STATION_KINDS
from gridgis.maps import folium_maps as fm
from gridgis.maps.coverage import LIFE_CIRCLE_LABELS, CoverageResult

#: workload measures: column, Chinese label, whether a high value is good, number format
WORKLOAD_METRICS = {
    "volume": ("volume", "工单量", False, "{:.0f}"),
    "on_time_rate": ("on_time_rate", "按时办结率", True, "{:.0%}"),
    "satisfaction": ("satisfaction", "满意度", True, "{:.2f}"),
}
_RAMP_BAD_HIGH = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")  # more tickets = darker red
_RAMP_GOOD_HIGH = ("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641")  # better = greener


def classify(values: pd.Series, good_high: bool, classes: int = 5) -> tuple[list[str | None], list[float]]:
    """A colour per value by equal-interval classes (``None`` for missing) and the class breaks.

    >>> classify(pd.Series([0, 5, 10]), good_high=False)[0]
    ['#ffffb2', '#fd8d3c', '#bd0026']
    """
    v = pd.to_numeric(values, errors="coerce").astype(float)
    ramp = _RAMP_GOOD_HIGH if good_high else _RAMP_BAD_HIGH
    lo, hi = (float(np.nanmin(v)), float(np.nanmax(v))) if v.notna().any() else (0.0, 1.0)
    breaks = list(np.linspace(lo, hi, classes + 1))
    if hi == lo:
        return [None if np.isnan(x) else ramp[classes // 2] for x in v], breaks
    idx = np.clip(((v - lo) / (hi - lo) * classes).fillna(-1).astype(int), -1, classes - 1)
    return [None if i < 0 else ramp[i] for i in idx], breaks


def per_grid(stats: pd.DataFrame) -> pd.DataFrame:
    """One row per grid from ticket statistics (rows per grid and month are combined).

    Accepts ``grid_code`` or ``code``; ``volume`` (or ``tickets``), ``on_time_rate``, ``satisfaction``.
    Returns ``code, tickets, volume, on_time_rate, satisfaction``.
    """
    s = stats.copy()
    if "grid_code" in s.columns:
        s = s.rename(columns={"grid_code": "code"})
    if "code" not in s.columns:
        raise ValidationError("ticket statistics need a grid_code (or code) column naming each grid")
    if "volume" not in s.columns and "tickets" in s.columns:
        s["volume"] = s["tickets"]
    agg: dict[str, Any] = {}
    for col, how in (("volume", "sum"), ("on_time_rate", "mean"), ("satisfaction", "mean")):
        if col in s.columns:
            s[col] = pd.to_numeric(s[col], errors="coerce")
            agg[col] = how
    out = s.groupby("code", as_index=False).agg(agg)
    if "volume" in out.columns:
        out["tickets"] = out["volume"]
    return out


def workload_map(
    city: dict[str, gpd.GeoDataFrame],
    tickets: gpd.GeoDataFrame | None = None,
    stats: pd.DataFrame | None = None,
    metric: str = "volume",
    basemap: str = "none",
    tianditu_key: str = "",
):
    """Tickets as a heat map; grids coloured by ticket volume, on-time rate or satisfaction."""
    if metric not in WORKLOAD_METRICS:
        raise ValidationError(f"unknown workload measure {metric!r}; use one of {', '.join(WORKLOAD_METRICS)}")
    col, label, good_high, fmt = WORKLOAD_METRICS[metric]
    m = fm.new_map(city, basemap, tianditu_key, title=f"网格工作量 · {label}")
    grids = city["grids"].copy()
    if stats is None and tickets is not None and len(tickets):
        stats = _volume_from_points(grids, tickets)
    legend: dict[str, Any] = {"compounds": False, "stations": False}
    if stats is not None and len(stats):
        grids = grids.merge(per_grid(stats), on="code", how="left")
        if col in grids.columns:
            colours, breaks = classify(grids[col], good_high)
            grids["_color"] = colours
            ramp = _RAMP_GOOD_HIGH if good_high else _RAMP_BAD_HIGH
            rows = "".join(
                f'<div><i class="gg-box" style="background:{c}"></i>{fmt.format(breaks[i])} – '
                f"{fmt.format(breaks[i + 1])}</div>"
                for i, c in enumerate(ramp)
            )
            legend["extra"] = f"<div><b>{label}</b></div>{rows}"
            legend["title"] = "网格工作量"
    if "communities" in city:
        fm.add_layer(m, "communities", city["communities"])
    fm.add_layer(m, "grids", grids, name=f"网格·{label}")
    if tickets is not None and len(tickets):
        fm.add_heat(m, tickets, name=f"工单热力（{len(tickets)}）")
    if "stations" in city:
        fm.add_layer(m, "stations", city["stations"], show=False)
    return fm.finish(m, legend)


def _volume_from_points(grids: gpd.GeoDataFrame, tickets: gpd.GeoDataFrame) -> pd.DataFrame:
    """Ticket counts per grid by location (when no statistics are given)."""
    joined = gpd.sjoin(tickets[["geometry"]].to_crs(grids.crs), grids[["code", "geometry"]], predicate="within")
    return joined.groupby("code").size().rename("volume").reset_index()


def alignment_frames(
    city: dict[str, gpd.GeoDataFrame], roads: gpd.GeoDataFrame | None = None
) -> tuple[gpd.GeoDataFrame | None, gpd.GeoDataFrame | None]:
    """Cut compounds and proposed grids from :mod:`gridgis.alignment` (``None`` where it is unavailable);
    open land divided along ``roads`` when given (the store's: :func:`gridgis.alignment.roads.stored_roads`)."""
    try:
        from gridgis.alignment.propose import propose_alignment
        from gridgis.alignment.report import analyze
    except ImportError:
        return None, None
    args = {
        "compounds": city["compounds"],
        "grids": city["grids"],
        "buildings": city.get("buildings"),
        "communities": city.get("communities"),
    }
    analysis = analyze(**args)
    cut = cut_compounds(city["compounds"], analysis.compounds)
    proposal = propose_alignment(**args, roads=roads)
    return cut, proposal.grids


def cut_compounds(compounds: gpd.GeoDataFrame, status: pd.DataFrame) -> gpd.GeoDataFrame:
    """The compounds a grid line cuts, with ``status_zh`` and the ``grid_codes`` they fall in."""
    cut = status[status["status"].isin(["cut", "cut_minor", "large_split"])]
    out = compounds.merge(
        cut[["compound_code", "status_zh", "grids"]].rename(columns={"compound_code": "code"}), on="code"
    )
    out["grid_codes"] = [
        "、".join(map(str, g)) if isinstance(g, list | tuple | np.ndarray) else str(g) for g in out["grids"]
    ]
    return out.drop(columns=["grids"])


def alignment_map(
    city: dict[str, gpd.GeoDataFrame],
    cut: gpd.GeoDataFrame | None = None,
    proposed_grids: gpd.GeoDataFrame | None = None,
    basemap: str = "none",
    tianditu_key: str = "",
):
    """Cut compounds (red) and proposed grid lines (orange, dashed) beside the current grids (blue).

    Without ``cut``/``proposed_grids`` they are computed with :mod:`gridgis.alignment`.
    """
    if cut is None and proposed_grids is None:
        cut, proposed_grids = alignment_frames(city)
    m = fm.new_map(city, basemap, tianditu_key, title="网格与小区对齐")
    for layer in ("communities", "compounds", "grids"):
        if layer in city:  # plain compounds start hidden: the cut ones are the point of this view
            fm.add_layer(
                m, layer, city[layer], name="现状网格" if layer == "grids" else None, show=layer != "compounds"
            )
    if cut is not None:
        fm.add_layer(m, "cut_compounds", cut, name="被切分小区")
    if proposed_grids is not None:
        fm.add_layer(m, "proposed_grids", proposed_grids, name="建议网格线")
    extra = (
        '<div><i class="gg-box" style="background:#ff5252"></i>被切分小区</div>'
        '<div><i class="gg-box" style="background:#1e88e5;height:2px"></i>现状网格</div>'
        '<div><i class="gg-box" style="background:#ff6f00;height:2px"></i>建议网格线</div>'
    )
    return fm.finish(m, {"stations": False, "extra": extra, "title": "对齐图例"})


def coverage_map(
    city: dict[str, gpd.GeoDataFrame],
    result: CoverageResult,
    kind: str | None = None,
    sites: gpd.GeoDataFrame | None = None,
    basemap: str = "none",
    tianditu_key: str = "",
):
    """Stations, the uncovered part of each community for one station ``kind`` and suggested new sites."""
    table = result.by_community
    if kind is None:
        worst = table.groupby("kind")["share"].mean().sort_values()
        kind = str(worst.index[0]) if len(worst) else None
    label = STATION_KINDS.get(kind, kind) if kind else "站点"
    circle = next(
        (
            LIFE_CIRCLE_LABELS[k]
            for k, v in {"5min": 300.0, "10min": 500.0, "15min": 1000.0}.items()
            if v == result.distance_m
        ),
        f"{result.distance_m:.0f} 米",
    )
    m = fm.new_map(city, basemap, tianditu_key, title=f"{circle} · {label} 覆盖（{result.method}）")
    comms = city["communities"].copy()
    if kind is not None:
        share = table[table["kind"] == kind].set_index("community_code")["share"]
        comms["kind_zh"] = [f"{label} 覆盖率 {share.get(c, np.nan):.0%}" for c in comms["code"]]
    fm.add_layer(m, "communities", comms)
    unc = result.uncovered[result.uncovered["kind"] == kind] if kind else result.uncovered
    fm.add_layer(m, "uncovered", unc, name=f"未覆盖区域·{label}")
    stations = city["stations"]
    fm.add_layer(m, "stations", stations[stations["kind"] == kind] if kind else stations, name=f"{label}站点")
    if sites is not None and len(sites):
        fm.add_layer(m, "sites", sites.assign(name=[f"建议新站点 {r}" for r in sites["rank"]]), name="建议新站点")
    extra = (
        '<div><i class="gg-box" style="background:#e53935"></i>未覆盖区域</div>'
        '<div><span class="gg-site">★</span>建议新站点</div>'
    )
    return fm.finish(m, {"compounds": False, "extra": extra, "title": "生活圈覆盖"})
