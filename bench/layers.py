"""Layer benchmarks: normalising and validating the sample city's largest layers.

``run("small")`` uses the committed-size sample city (~1,500 buildings), ``run("city")`` the
city-scale one (~38,000 micro-grids, ~77,000 buildings; generating it takes ~20 s and is not
timed). For each layer: :func:`~gridgis.layers.normalize_frame` and
:func:`~gridgis.layers.validate_frame` (best of three), against the floor of any per-feature
validation, ``shapely.is_valid`` on the same geometries (``ratio`` = ours / floor).
"""

from __future__ import annotations

import time

import numpy as np
import shapely

from gridgis.layers import get_spec, normalize_frame, validate_frame
from gridgis.sample import generate_city

LAYERS = ("micro_grids", "buildings")
REPEATS = 3


def _best(fn) -> float:
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _row(metric: str, value: float, unit: str, peer: str = "", peer_value: float | None = None) -> dict:
    ratio = round(value / peer_value, 2) if peer_value else ""
    return {
        "benchmark": "layers",
        "metric": metric,
        "value": round(value, 4),
        "unit": unit,
        "peer": "" if peer_value is None else f"{peer} {peer_value:.3g} {unit}",
        "ratio": ratio,
    }


def run(scale: str = "small") -> list[dict]:
    """Time normalisation and validation of micro-grids and buildings at ``scale`` ("small" or "city")."""
    city = generate_city(scale="city" if scale == "city" else "small", tickets=0)
    rows = []
    for layer in LAYERS:
        spec = get_spec(layer)
        raw = city[layer]
        n = len(raw)
        normal = normalize_frame(spec, raw)
        problems = validate_frame(spec, normal)
        if problems:  # the sample city is clean; a problem here means the benchmark measures the wrong thing
            raise RuntimeError(f"sample {layer} has {len(problems)} problem(s), e.g. {problems[0]}")
        geoms = np.asarray(normal.geometry.values, dtype=object)
        norm_s = _best(lambda s=spec, f=raw: normalize_frame(s, f))
        valid_s = _best(lambda s=spec, f=normal: validate_frame(s, f))
        floor_s = _best(lambda g=geoms: shapely.is_valid(g))
        rows += [
            _row(f"normalize_frame {n:,} {layer}", norm_s, "s"),
            _row(f"validate_frame {n:,} {layer}", valid_s, "s", "shapely.is_valid alone", floor_s),
            _row(f"validate_frame {layer} throughput", n / valid_s, "features/s"),
        ]
    return rows


if __name__ == "__main__":
    import sys

    for r in run(sys.argv[1] if len(sys.argv) > 1 else "small"):
        print(f"{r['metric']:<44} {r['value']:>12} {r['unit']:<11} {r['peer']:<36} {r['ratio']}")
