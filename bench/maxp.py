"""Peer benchmark: gridgis's rebalancing against PySAL spopt's max-p regionalisation.

Both work on the same units: the atoms of each community's partition (whole compounds with the
open land around them, building regions of large compounds). gridgis aligns every community
(:func:`gridgis.alignment.propose.align_community`); max-p (``spopt.region.MaxPHeuristic``,
threshold 300 households, rook contiguity, unit centres as attributes) regionalises the same
units, each community in its own process with a time limit (``GRIDGIS_MAXP_LIMIT_S``, default
60 s) so the bench finishes; a community over the limit counts as not finished.

Figures: share of grids within 300–500 households, compounds spread over several grids, median
Polsby–Popper of the grids, wall time. spopt is an optional bench extra (``pip install
-e '.[bench]'``), not a runtime dependency. ``scale``: ``small`` uses the committed sample city.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

LIMIT_S = float(os.environ.get("GRIDGIS_MAXP_LIMIT_S", "60"))


def _units(ci, config) -> dict[str, Any]:
    """The partition's atoms as polygons with households, centres and the compounds they hold."""
    import shapely

    from gridgis.alignment.partition import build_partition

    p = build_partition(ci, config)
    n = len(p.atoms)
    geoms = [shapely.coverage_union_all(p.faces[p.face_atom == a]) for a in range(n)]
    return {
        "geoms": np.array(geoms, dtype=object),
        "households": p.atoms["households"].to_numpy() if n else np.zeros(0),
        "members": [list(m) for m in p.atoms["members"]] if n else [],
        "partition": p,
    }


def _maxp(args: tuple[np.ndarray, np.ndarray, float]) -> np.ndarray:
    import geopandas as gpd
    import shapely
    from libpysal.weights import Rook
    from spopt.region import MaxPHeuristic

    geoms, hh, threshold = args
    xy = shapely.get_coordinates(shapely.point_on_surface(geoms))
    gdf = gpd.GeoDataFrame({"households": hh, "x": xy[:, 0], "y": xy[:, 1]}, geometry=list(geoms))
    w = Rook.from_dataframe(gdf, use_index=False, silence_warnings=True)
    model = MaxPHeuristic(gdf, w, ["x", "y"], "households", threshold, top_n=2, max_iterations_construction=20)
    model.solve()
    return np.asarray(model.labels_)


def _figures(labels: np.ndarray, units: list[dict[str, Any]], lo: int, hi: int) -> dict[str, float]:
    import shapely

    from gridgis.alignment.compactness import polsby_popper

    in_range, total, spread, pp = 0, 0, 0, []
    for lab, u in zip(labels, units):
        if lab is None:
            continue
        for r in np.unique(lab):
            mine = lab == r
            h = float(u["households"][mine].sum())
            total += 1
            in_range += lo <= h <= hi
            pp.append(float(polsby_popper([shapely.union_all(u["geoms"][mine])])[0]))
        owner: dict[int, set] = {}
        for a, members in enumerate(u["members"]):
            for c in members:
                owner.setdefault(c, set()).add(lab[a])
        spread += sum(len(s) > 1 for s in owner.values())
    return {
        "grids": total,
        "in_range": in_range / total if total else 0.0,
        "compounds_spread": spread,
        "pp_median": float(np.median(pp)) if pp else 0.0,
    }


def run(scale: str = "small") -> list[dict]:
    import geopandas as gpd

    from gridgis.alignment.config import AlignmentConfig
    from gridgis.alignment.propose import _community_inputs, align_community
    from gridgis.crs import metric_crs_for

    try:
        import spopt  # noqa: F401
    except ImportError as exc:
        raise RuntimeError("spopt is not installed: pip install -e '.[bench]'") from exc
    config = AlignmentConfig()
    if scale == "small":
        root = Path(__file__).resolve().parents[1] / "data" / "geojson"
        layers = {k: gpd.read_file(root / f"{k}.geojson") for k in ("compounds", "grids", "buildings", "communities")}
    else:
        from gridgis.sample import generate_city

        city = generate_city(scale=scale, tickets=0)
        layers = {k: city[k] for k in ("compounds", "grids", "buildings", "communities")}
    crs = metric_crs_for(layers["grids"])
    inputs = _community_inputs(
        layers["compounds"], layers["grids"], layers["buildings"], layers["communities"], crs, config
    )
    units = [_units(ci, config) for ci in inputs]
    from gridgis.alignment._frames import metric
    from gridgis.alignment.compactness import polsby_popper

    drawn_pp = float(np.median(polsby_popper(metric(layers["grids"], crs))))
    # gridgis on the same units
    t0 = time.perf_counter()
    ours = []
    for ci, u in zip(inputs, units):
        res = align_community(ci, config)
        p = u["partition"]
        face_new = res["face_new"]
        codes = sorted({g for g in face_new if g is not None})
        # the grid of each atom: the grid holding most of its area
        lab = np.full(len(u["geoms"]), -1)
        for a in range(len(u["geoms"])):
            faces = np.flatnonzero(p.face_atom == a)
            if len(faces):
                gs = [face_new[f] for f in faces]
                best = max(set(gs), key=lambda g: (p.face_area[faces][np.array(gs) == g].sum(), str(g)))
                lab[a] = codes.index(best) if best in codes else -1
        ours.append(lab)
    t_ours = time.perf_counter() - t0
    # max-p, one process per community with a time limit
    t0 = time.perf_counter()
    theirs: list[np.ndarray | None] = []
    unfinished = 0
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    pool = ctx.Pool(1)
    for u in units:
        if len(u["geoms"]) < 2:
            theirs.append(np.zeros(len(u["geoms"]), dtype=int))
            continue
        job = pool.apply_async(_maxp, ((u["geoms"], u["households"].astype(float), 300.0),))
        try:
            theirs.append(job.get(timeout=LIMIT_S))
        except multiprocessing.TimeoutError:
            unfinished += 1
            theirs.append(None)
            pool.terminate()
            pool = ctx.Pool(1)
        except Exception:  # noqa: BLE001 - max-p finds no solution (e.g. a community under 300 households)
            unfinished += 1
            theirs.append(None)
    pool.close()
    t_maxp = time.perf_counter() - t0
    done = [k for k, t in enumerate(theirs) if t is not None]
    a = _figures([ours[k] for k in done], [units[k] for k in done], config.household_min, config.household_max)
    b = _figures([theirs[k] for k in done], [units[k] for k in done], config.household_min, config.household_max)

    def row(metric, value, unit, peer="", ratio=""):
        return {"benchmark": "maxp", "metric": metric, "value": value, "unit": unit, "peer": peer, "ratio": ratio}

    return [
        row(
            "communities (units = partition atoms)", f"{len(inputs)} ({sum(len(u['geoms']) for u in units)} units)", ""
        ),
        row("max-p communities not finished within the limit / no solution", unfinished, f"of {len(inputs)}"),
        row("compared on communities both finished", len(done), "communities"),
        row(
            "grids in 300–500 households: gridgis",
            round(100 * a["in_range"], 1),
            "%",
            f"max-p {100 * b['in_range']:.1f} %",
        ),
        row(
            "compounds spread over several grids: gridgis", a["compounds_spread"], "", f"max-p {b['compounds_spread']}"
        ),
        row("median Polsby–Popper of the drawn grids (reference)", round(drawn_pp, 3), ""),
        row(
            "median Polsby–Popper: gridgis",
            round(a["pp_median"], 3),
            "",
            f"max-p {b['pp_median']:.3f}",
            round(a["pp_median"] / b["pp_median"], 3) if b["pp_median"] else "",
        ),
        row(
            "time: gridgis (all communities)",
            round(t_ours, 2),
            "s",
            f"max-p {t_maxp:.1f} s",
            round(t_ours / t_maxp, 4) if t_maxp else "",
        ),
    ]
