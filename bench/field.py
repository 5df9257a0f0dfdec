"""Field suite benchmark: 500 alignment cases from real outlines, every invariant checked.

``python -m bench --only field`` runs the cases of ``tests/alignment/fieldsuite.py`` with seeds
0–499 (full size: up to 45 real compounds, windows up to 1.3 km) and prints the failure count
(target 0), the median Polsby–Popper ratio after/before (target ≥ 0.8) and the time (target
≤ 10 min). ``GRIDGIS_FIELD_CASES`` changes the number of cases. Failing seeds and their first
failure go to stderr so a case can be replayed with ``make_case(seed)``.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter


def run(scale: str = "small") -> list[dict]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)
    import numpy as np

    from tests.alignment.fieldsuite import SHARED_DATA, check_case, make_case

    if not SHARED_DATA.exists():
        raise RuntimeError(f"{SHARED_DATA} is missing: the field suite needs the real outlines")
    n = int(os.environ.get("GRIDGIS_FIELD_CASES", "500"))
    started = time.perf_counter()
    failures, kinds, ratios, before, after = 0, Counter(), [], [], []
    for seed in range(n):
        result = check_case(make_case(seed))
        if result["failures"]:
            failures += 1
            first = result["failures"][0]
            kinds[first.split(":")[0].split(" raised")[0][:40]] += 1
            print(f"field seed {seed}: {first[:300]}", file=sys.stderr, flush=True)
        if result.get("pp_before"):
            before.append(result["pp_before"])
            after.append(result["pp_after"])
            ratios.append(result["pp_after"] / result["pp_before"])
        if (seed + 1) % 25 == 0:
            print(f"field: {seed + 1}/{n} cases, {failures} failing", file=sys.stderr, flush=True)
    wall = time.perf_counter() - started

    def row(metric, value, unit, peer="", ratio=""):
        return {"benchmark": "field", "metric": metric, "value": value, "unit": unit, "peer": peer, "ratio": ratio}

    return [
        row("cases (real outlines, independent grids)", n, "cases"),
        row("cases failing an invariant", failures, "cases", "target 0"),
        row("failing by first invariant", dict(kinds.most_common(6)), ""),
        row("median Polsby–Popper before → after", f"{np.median(before):.3f} → {np.median(after):.3f}", ""),
        row(
            "median per-case ratio after/before",
            round(float(np.median(ratios)), 3),
            "",
            "target ≥ 0.8",
            round(float(np.median(ratios)) / 0.8, 3),
        ),
        row("wall time", round(wall, 1), "s", "target 600 s", round(wall / 600, 3)),
    ]
