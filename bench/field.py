"""Field suite benchmark: 500 alignment cases from real outlines, every invariant checked.

``python -m bench --only field`` runs the cases of ``tests/alignment/fieldsuite.py`` with seeds
0–499 (full size: up to 45 real compounds, windows up to 1.3 km) and prints the failure count
(target 0), the failures by kind, the median Polsby–Popper ratio after/before (target ≥ 0.8) and
the wall time (target ≤ 10 min on 2 cores). ``GRIDGIS_FIELD_CASES`` changes the number of cases,
``GRIDGIS_FIELD_WORKERS`` the number of processes (default: up to 2). Re-aligning is checked after a
storage round trip (GeoJSON, 7 decimals), as a planner would align, save, open and align again. The real outlines are read
and converted once, before the worker processes fork. Every failure of a failing seed goes to
stderr so a case can be replayed with ``make_case(seed)``.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter


def _case(seed: int) -> dict:
    from tests.alignment.fieldsuite import check_case, make_case

    started, cpu = time.perf_counter(), time.process_time()
    result = check_case(make_case(seed))
    result["seconds"] = time.perf_counter() - started
    result["cpu"] = time.process_time() - cpu
    return result


def _warm() -> None:
    """Import the chain and build every transformer the cases use, before the workers fork."""
    import geopandas as gpd
    import shapely

    import gridgis.alignment.microgrid
    import gridgis.alignment.party
    import gridgis.alignment.propose  # noqa: F401 - imported for the forked workers
    from gridgis.crs import metric_crs_for
    from tests.alignment.fieldsuite import CITIES

    for x0, y0, x1, y1, crs in CITIES.values():
        here = gpd.GeoSeries([shapely.Point((x0 + x1) / 2, (y0 + y1) / 2)], crs="EPSG:4326")
        for target in {crs, metric_crs_for(here)}:
            here.to_crs(target).to_crs("EPSG:4326")


def failure_kind(text: str) -> str:
    """The kind of a failure message: its words without codes and numbers."""
    import re

    head = text.split(" | ")[0]
    head = re.sub(r"\b[0-9A-Z]*\d[0-9A-Z]*\b", "#", head)
    head = re.sub(r"[-0-9.,]+", "#", head)
    return head[:70]


def run(scale: str = "small") -> list[dict]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import numpy as np

    from tests.alignment.fieldsuite import SHARED_DATA, beijing_streets, mapv_outlines, suzhou_footprints

    if not SHARED_DATA.exists():
        raise RuntimeError(f"{SHARED_DATA} is missing: the field suite needs the real outlines")
    n = int(os.environ.get("GRIDGIS_FIELD_CASES", "500"))
    workers = int(os.environ.get("GRIDGIS_FIELD_WORKERS", str(min(2, os.cpu_count() or 1))))
    started = time.perf_counter()
    # shared preparation once: forked workers inherit the converted outlines, the imported modules
    # and the CRS transformers
    mapv_outlines(), beijing_streets(), suzhou_footprints()
    _warm()
    prepared = time.perf_counter() - started
    load_start = os.getloadavg()[0]
    failing, kinds, ratios, before, after, seconds, cpu = [], Counter(), [], [], [], [], []
    repaired = 0  # micro-grids only the writer's repair keeps valid
    done = 0

    def take(result: dict) -> None:
        nonlocal done, repaired
        done += 1
        seconds.append(result["seconds"])
        cpu.append(result["cpu"])
        if result["failures"]:
            failing.append(result["seed"])
            for f in result["failures"]:
                kinds[failure_kind(f)] += 1
                print(f"field seed {result['seed']}: {f[:400]}", file=sys.stderr, flush=True)
        repaired += result.get("micro_repaired", 0)
        if result.get("pp_before"):
            before.append(result["pp_before"])
            after.append(result["pp_after"])
            ratios.append(result["pp_after"] / result["pp_before"])
        if done % 50 == 0:
            print(
                f"field: {done}/{n} cases, {len(failing)} failing, {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )

    seeds = list(range(n))
    if workers <= 1:
        for s in seeds:
            take(_case(s))
    else:
        ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            for result in pool.map(_case, seeds, chunksize=1):
                take(result)
    wall = time.perf_counter() - started

    def row(metric, value, unit, peer="", ratio=""):
        return {"benchmark": "field", "metric": metric, "value": value, "unit": unit, "peer": peer, "ratio": ratio}

    med = float(np.median(ratios)) if ratios else float("nan")
    return [
        row("cases (real outlines, independent grids)", n, "cases", f"{workers} process(es)"),
        row("cases failing an invariant", len(failing), "cases", "target 0"),
        row("failing seeds", ", ".join(map(str, sorted(failing)[:20])) or "-", ""),
        *[row(f"failures: {k}", v, "") for k, v in kinds.most_common(8)],
        row(
            "micro-grids only the writer's repair keeps valid (necks, spikes under a storage step)",
            repaired,
            "micro-grids",
        ),
        row(
            "median Polsby–Popper before → after",
            f"{np.median(before):.3f} → {np.median(after):.3f}" if before else "-",
            "",
        ),
        row("median per-case ratio after/before", round(med, 3), "", "target ≥ 0.8", round(med / 0.8, 3)),
        row(
            "case time median / max",
            f"{np.median(seconds):.2f} / {max(seconds):.1f}" if seconds else "-",
            "s",
        ),
        row("preparation (outlines read, converted)", round(prepared, 1), "s"),
        row(
            "CPU time of the cases (all workers)", round(sum(cpu), 1), "s", f"÷ {workers} = {sum(cpu) / workers:.0f} s"
        ),
        row(
            "load average at start / end", f"{load_start:.1f} / {os.getloadavg()[0]:.1f}", "", f"{os.cpu_count()} cores"
        ),
        row("wall time", round(wall, 1), "s", "target 600 s", round(wall / 600, 3)),
    ]
