"""``gridgis demo``: load the sample city into a fresh store and walk through every capability.

Each area contributes a step: a function ``demo(ctx)`` in its CLI module, run in the
order of :data:`STEPS`. A step prints a readable summary with the numbers.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from gridgis.cli.common import console

#: the areas whose ``demo(ctx)`` runs, in order
STEPS = ("check", "align", "route", "tickets", "editing", "maps", "people")


@dataclass
class DemoContext:
    """What the demo steps share: the store, the sample data folder and an output folder."""

    repository: Any
    data_dir: Path
    out_dir: Path
    facts: dict[str, Any] = field(default_factory=dict)


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        database_url: str = typer.Option("sqlite:///demo/gridgis-demo.db", help="store to (re)create for the demo"),
        data_dir: Path = typer.Option(
            None,
            help="the sample city (one GeoJSON per layer); default: data/geojson of a checkout, "
            "else generated into OUT_DIR/sample-city (same seed, same bytes)",
        ),
        out_dir: Path = typer.Option(Path("demo"), help="where the demo writes maps and reports"),
    ) -> None:
        """Load the sample city into a fresh store, run the checks and show each capability."""
        from gridgis.storage import Repository

        out_dir.mkdir(parents=True, exist_ok=True)
        if database_url.startswith("sqlite:///"):
            db = Path(database_url.removeprefix("sqlite:///"))
            db.parent.mkdir(parents=True, exist_ok=True)
            db.unlink(missing_ok=True)
        repo = Repository(database_url)
        repo.create_schema()
        console.rule("[bold]gridgis 演示 demo")
        ctx = DemoContext(repository=repo, data_dir=sample_city_dir(data_dir, out_dir), out_dir=out_dir)
        for area in STEPS:
            step = getattr(importlib.import_module(f"gridgis.cli.{area}"), "demo", None)
            if step is not None:
                step(ctx)
        console.rule("[bold green]done")
        console.print(
            "See it in the browser: [bold]gridgis serve --database-url "
            f"{database_url}[/bold] then open http://127.0.0.1:8000/map (in a checkout: ./dev serve); "
            f"the offline maps are in {out_dir}/"
        )


#: the files of the sample city a demo needs
SAMPLE_LAYERS = ("streets", "communities", "compounds", "buildings", "grids", "micro_grids", "stations", "tickets")


def sample_city_dir(data_dir: Path | None, out_dir: Path) -> Path:
    """The folder of the sample city: ``data_dir`` if given; ``data/geojson`` in a checkout; else
    the sample city generated (seed 0, the committed bytes) into ``out_dir/sample-city``."""
    if data_dir is not None:
        missing = [n for n in SAMPLE_LAYERS if not (data_dir / f"{n}.geojson").exists()]
        if missing:
            from gridgis.errors import ValidationError

            raise ValidationError(
                f"{data_dir} has no {', '.join(missing)}.geojson; run gridgis sample-city --out {data_dir}"
            )
        return data_dir
    checkout = Path("data/geojson")
    if all((checkout / f"{n}.geojson").exists() for n in SAMPLE_LAYERS):
        return checkout
    target = out_dir / "sample-city"
    if not all((target / f"{n}.geojson").exists() for n in SAMPLE_LAYERS):
        from gridgis.io import write_city
        from gridgis.sample import generate_city

        console.print(f"generating the sample city (seed 0) into {target} …")
        write_city(generate_city(seed=0, scale="small"), target)
    return target
