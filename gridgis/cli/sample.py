"""``gridgis sample-city``: generate the deterministic sample city into a folder of GeoJSON files."""

from __future__ import annotations

from pathlib import Path

import typer

from gridgis.cli.common import console, progress


def register(app: typer.Typer) -> None:
    """Add ``sample-city`` to the main app."""

    @app.command("sample-city")
    def sample_city(
        seed: int = typer.Option(0, help="random seed; the same seed gives byte-identical files"),
        scale: str = typer.Option("small", help="small (the committed sample) or city (seed-city size)"),
        out: Path = typer.Option(Path("data/geojson"), help="folder for <layer>.geojson and tickets.geojson"),
        tickets: int = typer.Option(-1, help="number of tickets (default: 2000 for small, none for city)"),
        people: bool = typer.Option(
            True, "--people/--no-people", help="also write the synthetic population (population.json)"
        ),
    ) -> None:
        """生成示例城市 Generate the sample city (浦东 陆家嘴–潍坊) as one GeoJSON file per layer."""
        from gridgis.errors import ValidationError
        from gridgis.io import write_city
        from gridgis.sample import STEPS, generate_city

        if scale not in ("small", "city"):
            raise ValidationError(f"unknown scale {scale!r}: use small or city")
        with progress() as bar:
            task = bar.add_task("示例城市 sample city", total=len(STEPS) + 1)

            def step(name: str) -> None:
                bar.update(task, advance=1, description=f"示例城市: {name}")

            city = generate_city(seed=seed, scale=scale, tickets=None if tickets < 0 else tickets, step=step)
            bar.update(task, description="示例城市: writing GeoJSON")
            written = write_city(city, out)
            bar.update(task, completed=len(STEPS) + 1)
        for path in written:
            console.print(f"  {path}  ({len(city[path.stem]):,} features)")
        if people:
            from gridgis.sample.population import POPULATION_FILE, generate_population, write_population

            pop = generate_population(city, seed=seed)
            path = write_population(pop, out / POPULATION_FILE, seed=seed)
            counts = ", ".join(f"{v:,} {k}" for k, v in pop.counts().items())
            console.print(f"  {path}  (synthetic population, not real people: {counts})")
