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
        data_dir: Path = typer.Option(Path("data/geojson"), help="the sample city (one GeoJSON per layer)"),
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
        ctx = DemoContext(repository=repo, data_dir=data_dir, out_dir=out_dir)
        console.rule("[bold]gridgis 演示 demo")
        for area in STEPS:
            step = getattr(importlib.import_module(f"gridgis.cli.{area}"), "demo", None)
            if step is not None:
                step(ctx)
        console.rule("[bold green]done")
