"""Aligning along roads: how much of the proposed grid lines lies on streets and compound walls.

``python -m bench --only roads``. Two inputs, each proposed without roads (open land cut by the
Voronoi lines between compounds) and with the OSM roads of ../shared/data/shanghai-lujiazui-osm-tiles
(``propose_alignment(roads=…)``, :mod:`gridgis.alignment.roads`):

- **Lujiazui (real)**: OSM ``landuse=residential`` compounds and building footprints of 潍坊/陆家嘴,
  two communities, grids drawn as lattices rotated by 0°, 17°, 35° and 60° (``tests/alignment/lujiazui.py``);
- **sample city**: ``generate_city(scale)``, the communities lying inside the roads' extent (the
  sample's compounds are synthetic, so its streets are not the OSM ones: the rows show what the
  roads do to a proposal, not how well the sample's compounds fit them).

Figures per input: the share of the length of lines between grids within 5 m of a road centre line
(roads the rule keeps: rank ≤ ``road_max_rank``), and of a road or a compound wall; the median
Polsby–Popper of the grids before and after; CPU time of the proposal (the ``peer`` of a with-roads
row is the same figure without roads). The load average is printed beside.
"""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ANGLES = (0.0, 17.0, 35.0, 60.0)
#: the robustness sweep: lattices at every 15° and three cell sizes, each proposed with roads
SWEEP = [(float(a), float(c)) for a in range(0, 180, 15) for c in (250.0, 330.0, 450.0)]


def _cpu_s() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def _row(metric: str, value, unit: str, peer="", ratio="") -> dict:
    return {"benchmark": "roads", "metric": metric, "value": value, "unit": unit, "peer": peer, "ratio": ratio}


def _measure(case: dict, roads, label: str) -> list[dict]:
    from gridgis.alignment.propose import propose_alignment
    from tests.alignment import lujiazui as L

    args = (case["compounds"], case["grids"], case["buildings"], case["communities"])
    out: dict[str, dict] = {}
    for name, r in (("Voronoi only", None), ("with roads", roads)):
        cpu = _cpu_s()
        p = propose_alignment(*args, roads=r, workers=1)
        cpu = _cpu_s() - cpu
        out[name] = {
            "cpu": cpu,
            "road": L.near_road_share(p.grids, case["communities"], roads),
            "wall": L.near_road_share(p.grids, case["communities"], roads, case["compounds"]),
            "pp": p.compactness,
            "valid": p.coverage_after.coverage_valid,
        }
    drawn_road = L.near_road_share(case["grids"], case["communities"], roads)
    drawn_wall = L.near_road_share(case["grids"], case["communities"], roads, case["compounds"])
    v, w = out["Voronoi only"], out["with roads"]
    return [
        _row(f"{label}: grid lines ≤5 m from a road, drawn grids", round(drawn_road, 3), "share"),
        _row(f"{label}: grid lines ≤5 m from a road, Voronoi only", round(v["road"], 3), "share"),
        _row(
            f"{label}: grid lines ≤5 m from a road, with roads",
            round(w["road"], 3),
            "share",
            round(v["road"], 3),
            round(w["road"] / v["road"], 3) if v["road"] else "",
        ),
        _row(f"{label}: grid lines ≤5 m from a road or compound wall, drawn grids", round(drawn_wall, 3), "share"),
        _row(f"{label}: grid lines ≤5 m from a road or compound wall, Voronoi only", round(v["wall"], 3), "share"),
        _row(
            f"{label}: grid lines ≤5 m from a road or compound wall, with roads",
            round(w["wall"], 3),
            "share",
            round(v["wall"], 3),
            round(w["wall"] / v["wall"], 3) if v["wall"] else "",
        ),
        _row(f"{label}: Polsby–Popper median, drawn grids", v["pp"]["median_before"], "4πA/P²"),
        _row(
            f"{label}: Polsby–Popper median after, Voronoi only",
            v["pp"]["median_after"],
            "4πA/P²",
            "target ≥0.8× before",
            v["pp"]["median_ratio"],
        ),
        _row(
            f"{label}: Polsby–Popper median after, with roads",
            w["pp"]["median_after"],
            "4πA/P²",
            "target ≥0.8× before",
            w["pp"]["median_ratio"],
        ),
        _row(f"{label}: coverage valid (Voronoi only, with roads)", f"{v['valid']}, {w['valid']}", ""),
        _row(
            f"{label}: propose CPU time, with roads",
            round(w["cpu"], 2),
            "s",
            f"{v['cpu']:.2f} s without",
            round(w["cpu"] / v["cpu"], 3) if v["cpu"] else "",
        ),
    ]


def _sample_case(scale: str, roads) -> tuple[dict, str] | None:
    """The sample city's communities inside the roads' extent (and their layers), or None."""
    import shapely

    from gridgis.sample import generate_city

    city = generate_city(scale=scale, tickets=0)
    hull = shapely.convex_hull(shapely.union_all(roads.geometry.values))
    comms = city["communities"]
    inside = shapely.area(shapely.intersection(comms.geometry.values, hull)) >= 0.99 * shapely.area(
        comms.geometry.values
    )
    if not inside.any():
        return None
    comms = comms[inside]
    codes = set(comms["code"].astype(str))
    grids = city["grids"][city["grids"]["community_code"].astype(str).isin(codes)]
    domain = shapely.union_all(comms.geometry.values)
    compounds = city["compounds"][shapely.within(shapely.point_on_surface(city["compounds"].geometry.values), domain)]
    b = city["buildings"]
    buildings = b[shapely.within(shapely.point_on_surface(b.geometry.values), domain)]
    case = {"communities": comms, "grids": grids, "compounds": compounds, "buildings": buildings}
    return case, f"sample city ({scale}, {len(comms)} of {len(city['communities'])} communities inside the roads)"


def _sweep(roads) -> list[dict]:
    """Every layout of :data:`SWEEP` proposed without and with roads: cases broken by either
    (exception, coverage invalid or off the community by ≥ 1 m², re-aligning changes something,
    with roads a household total different from the Voronoi-only one) and the mean share of lines
    on roads."""
    from gridgis.alignment.propose import propose_alignment
    from tests.alignment import lujiazui as L

    failures: dict[str, list[str]] = {"Voronoi only": [], "with roads": []}
    shares: dict[str, list[float]] = {"Voronoi only": [], "with roads": []}
    cpu = _cpu_s()
    for angle, cell in SWEEP:
        case = L.make_case(angle=angle, cell_m=cell)
        args = (case["compounds"], case["grids"], case["buildings"], case["communities"])
        totals = {}
        for name, r in (("Voronoi only", None), ("with roads", roads)):
            where = f"{angle:g}°/{cell:g} m"
            try:
                p = propose_alignment(*args, roads=r, workers=1)
                totals[name] = int(p.grids["households"].sum())
                if not p.coverage_after.coverage_valid or max(p.community_difference_m2.values()) >= 1.0:
                    failures[name].append(f"{where}: coverage off by {max(p.community_difference_m2.values()):.0f} m²")
                again = propose_alignment(case["compounds"], p.grids, *args[2:], roads=r, workers=1)
                if again.changed:
                    failures[name].append(f"{where}: re-aligning moved {len(again.changes)} pieces")
                shares[name].append(L.near_road_share(p.grids, case["communities"], roads))
            except Exception as exc:  # noqa: BLE001 - counted and named, the sweep goes on
                failures[name].append(f"{where}: {type(exc).__name__}: {exc}"[:160])
        if len(totals) == 2 and totals["with roads"] != totals["Voronoi only"]:
            failures["with roads"].append(f"{angle:g}°/{cell:g} m: households {totals}")
    cpu = _cpu_s() - cpu
    label = f"Lujiazui OSM sweep, {len(SWEEP)} lattices (every 15°, cells 250/330/450 m)"
    rows = []
    for name in ("Voronoi only", "with roads"):
        rows.append(
            _row(f"{label}, {name}: failed checks", len(failures[name]), "", "target 0", "; ".join(failures[name][:2]))
        )
    v, w = (float(np.mean(shares[k])) if shares[k] else 0.0 for k in ("Voronoi only", "with roads"))
    rows.append(
        _row(
            f"{label}: grid lines ≤5 m from a road, mean, with roads",
            round(w, 3),
            "share",
            round(v, 3),
            round(w / v, 3) if v else "",
        )
    )
    rows.append(_row(f"{label}: CPU time (4 proposals per layout)", round(cpu, 1), "s"))
    return rows


def run(scale: str = "small") -> list[dict]:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.alignment import lujiazui as L

    if not L.available():
        return [_row("skipped: ../shared/data/shanghai-lujiazui-osm-tiles absent", "", "")]
    roads = L.roads()
    rows = [_row("load average at start", round(os.getloadavg()[0], 2), "")]
    shares: dict[str, list[float]] = {"Voronoi only": [], "with roads": []}
    for angle in ANGLES:
        case = L.make_case(angle=angle)
        got = _measure(case, roads, f"Lujiazui OSM, lattice {angle:g}°")
        rows += got
        shares["Voronoi only"].append(float(got[1]["value"]))
        shares["with roads"].append(float(got[2]["value"]))
    rows.append(
        _row(
            f"Lujiazui OSM, mean over {len(ANGLES)} lattices: grid lines ≤5 m from a road, with roads",
            round(float(np.mean(shares["with roads"])), 3),
            "share",
            round(float(np.mean(shares["Voronoi only"])), 3),
            round(float(np.mean(shares["with roads"])) / max(float(np.mean(shares["Voronoi only"])), 1e-9), 3),
        )
    )
    rows += _sweep(roads)
    sample = _sample_case(scale, roads)
    if sample is None:
        rows.append(_row(f"sample city ({scale}): no community inside the roads' extent", "", ""))
    else:
        case, label = sample
        rows += _measure(case, roads, label)
    rows.append(_row("load average at end", round(os.getloadavg()[0], 2), ""))
    return rows
