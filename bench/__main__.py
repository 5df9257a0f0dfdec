"""``python -m bench [--scale small|city] [--only AREA ...]``: run every ``bench/<area>.py`` and print one table.

Each module exposes ``run(scale: str = "small") -> list[dict]`` returning rows
``{"benchmark", "metric", "value", "unit", "peer", "ratio"}``. A module that fails is reported as
an error row and the others still run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
import traceback
from pathlib import Path

COLUMNS = ("benchmark", "metric", "value", "unit", "peer", "ratio")


def areas() -> list[str]:
    here = Path(__file__).resolve().parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def run_area(area: str, scale: str) -> list[dict]:
    started = time.perf_counter()
    try:
        module = importlib.import_module(f"bench.{area}")
        rows = list(module.run(scale))
    except Exception as exc:  # noqa: BLE001 - one area failing must not hide the others
        traceback.print_exc(file=sys.stderr)
        return [
            {
                "benchmark": area,
                "metric": "error",
                "value": f"{type(exc).__name__}: {exc}"[:200],
                "unit": "",
                "peer": "",
                "ratio": "",
            }
        ]
    for row in rows:
        row.setdefault("benchmark", area)
    rows.append(
        {
            "benchmark": area,
            "metric": "bench wall time",
            "value": round(time.perf_counter() - started, 2),
            "unit": "s",
            "peer": "",
            "ratio": "",
        }
    )
    return rows


def fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def print_table(rows: list[dict]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency
        for r in rows:
            print("\t".join(fmt(r.get(c)) for c in COLUMNS))
        return
    table = Table(title="gridgis benchmarks")
    for c in COLUMNS:
        table.add_column(c, justify="right" if c in ("value", "ratio") else "left")
    for r in rows:
        table.add_row(*(fmt(r.get(c)) for c in COLUMNS))
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("small", "city"), default="small")
    parser.add_argument("--only", nargs="*", help="run only these areas (module names under bench/)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    rows: list[dict] = []
    for area in areas():
        if args.only and area not in args.only:
            continue
        rows.extend(run_area(area, args.scale))
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    return 1 if any(r.get("metric") == "error" for r in rows) else 0


if __name__ == "__main__":
    from gridgis.runtime import use_jemalloc

    use_jemalloc()  # measure what the gridgis command runs (gridgis/runtime.py)
    raise SystemExit(main())
