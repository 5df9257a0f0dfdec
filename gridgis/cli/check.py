"""``gridgis check``: the hierarchy report of a city folder or of the store, and the demo's first step.

Exit codes: 0 when no problem is found, 1 when there are problems, 2 on bad input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import typer
from rich.table import Table

from gridgis.cli.common import console, open_repository, progress
from gridgis.layers import LAYERS, get_spec
from gridgis.layers.community import HOUSEHOLD_RANGE as COMMUNITY_HOUSEHOLDS
from gridgis.layers.grid import HOUSEHOLD_RANGE as GRID_HOUSEHOLDS
from gridgis.layers.hierarchy import KIND_LABELS, HierarchyReport, check_city


def load_city(directory: Path | None, database_url: str | None) -> dict[str, gpd.GeoDataFrame]:
    """The city from a folder of GeoJSON (``directory``) or else from the store."""
    if directory is not None:
        from gridgis.errors import NotFoundError
        from gridgis.io import read_city

        if not directory.is_dir():
            raise NotFoundError(
                f"{directory} is not a folder; give a folder of <layer>.geojson files "
                "(e.g. data/geojson) or --database-url"
            )
        city = read_city(directory, layers=tuple(LAYERS))
        if not city:
            raise NotFoundError(f"{directory} holds no <layer>.geojson files (streets.geojson, grids.geojson …)")
        return city
    repo = open_repository(database_url)
    return {layer: repo.read_layer(layer) for layer in LAYERS}


def problems_table(report: HierarchyReport, limit: int = 60) -> Table:
    """A rich table of the report's problems (the first ``limit``)."""
    table = Table(title=f"层级检查问题 hierarchy problems ({len(report.problems):,})", show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("类型 kind", no_wrap=True)
    table.add_column("要素 feature", overflow="fold", ratio=2)
    table.add_column("说明 message", overflow="fold", ratio=4)
    table.add_column("位置 lon,lat", no_wrap=True)
    for i, p in enumerate(report.problems[:limit], 1):
        where = f"{p.where[0]:.5f},{p.where[1]:.5f}" if p.where else ""
        message = p.details.get("message_zh") or p.message  # Chinese first; English in --json
        table.add_row(str(i), KIND_LABELS.get(p.kind, (p.kind,))[0], p.feature or "", message, where)
    if len(report.problems) > limit:
        table.caption = f"… {len(report.problems) - limit:,} more (use --out or --json for all)"
    return table


def counts_table(city: dict[str, gpd.GeoDataFrame], title: str = "图层 layers") -> Table:
    table = Table(title=title)
    table.add_column("图层 layer")
    table.add_column("features", justify="right")
    for layer, frame in city.items():
        label = get_spec(layer).label_zh if layer in LAYERS else "工单"
        table.add_row(f"{label} {layer}", f"{len(frame):,}")
    return table


def write_problems(report: HierarchyReport, out: Path) -> Path:
    """Write the located problems as GeoJSON (``.geojson``/``.json``) or GeoPackage (``.gpkg``)."""
    from gridgis.errors import ValidationError

    suffix = out.suffix.lower()
    if suffix not in (".geojson", ".json", ".gpkg"):
        raise ValidationError(f"--out {out}: use a .geojson or .gpkg file (both open in QGIS)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    frame = report.to_frame()
    if suffix == ".gpkg":
        frame.to_file(out, driver="GPKG", layer="problems", engine="pyogrio")
        return out
    from gridgis.io.geojson import write_geojson

    return write_geojson(frame, out)


def register(app: typer.Typer) -> None:
    """Add ``check`` to the main app."""

    @app.command()
    def check(
        directory: Path = typer.Argument(None, help="folder of <layer>.geojson (default: the store)"),
        database_url: str = typer.Option(None, "--database-url", help="read the store at this URL instead"),
        grid_min: int = typer.Option(GRID_HOUSEHOLDS[0], help="fewest households for a basic grid"),
        grid_max: int = typer.Option(GRID_HOUSEHOLDS[1], help="most households for a basic grid"),
        community_min: int = typer.Option(COMMUNITY_HOUSEHOLDS[0], help="fewest households for a community"),
        community_max: int = typer.Option(COMMUNITY_HOUSEHOLDS[1], help="most households for a community"),
        tolerance: float = typer.Option(1.0, help="metres a child may reach out of its parent"),
        out: Path = typer.Option(None, help="write the located problems to a .geojson or .gpkg for QGIS"),
        as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    ) -> None:
        """层级检查 Check the hierarchy: within parents, coverages, codes, household ranges."""
        if as_json:
            city = load_city(directory, database_url)
            report = check_city(
                city,
                tolerance_m=tolerance,
                grid_households=(grid_min, grid_max),
                community_households=(community_min, community_max),
            )
        else:
            with progress() as bar:
                task = bar.add_task("读取 reading", total=2)
                city = load_city(directory, database_url)
                bar.update(task, advance=1, description="检查 checking")
                report = check_city(
                    city,
                    tolerance_m=tolerance,
                    grid_households=(grid_min, grid_max),
                    community_households=(community_min, community_max),
                )
                bar.update(task, advance=1)
        if out is not None:
            write_problems(report, out)
        if as_json:
            typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=1))
        else:
            if report.problems:
                console.print(problems_table(report))
            console.print(report.summary())
            if out is not None:
                console.print(f"问题图层 problems layer: {out}")
        # SystemExit, not typer.Exit: main() runs click with standalone_mode=False, which swallows Exit codes
        raise SystemExit(0 if report.ok else 1)


def demo(ctx: Any) -> None:
    """Demo step 1: load the sample city into the store, count every layer, run the checks."""
    from gridgis.io import read_city

    console.rule("[bold]1. 示例城市与层级检查 sample city and hierarchy checks")
    files = read_city(ctx.data_dir)
    frames = {k: v for k, v in files.items() if k != "tickets"}
    city: dict[str, gpd.GeoDataFrame] = frames
    source = str(ctx.data_dir)
    repo = getattr(ctx, "repository", None)
    if repo is not None and hasattr(repo, "write_city"):
        try:
            gen = repo.write_city(frames, author="demo", message="sample city")
            ctx.facts["generation"] = getattr(gen, "id", gen)
            city = {layer: repo.read_layer(layer) for layer in frames}
            source = "store"
        except NotImplementedError:
            console.print("[yellow]the store cannot write yet; checking the files instead[/]")
    if "tickets" in files:
        city_and_tickets = {**city, "tickets": files["tickets"]}
    else:
        city_and_tickets = city
    console.print(counts_table(city_and_tickets, title=f"图层 layers (from {source})"))
    report = check_city(city)
    console.print(report.summary())
    if report.problems:
        console.print(problems_table(report, limit=8))
    out = Path(ctx.out_dir) / "hierarchy-problems.geojson"
    write_problems(report, out)
    console.print(f"问题图层 problems layer for QGIS: {out}")
    ctx.facts["layers"] = {k: len(v) for k, v in city_and_tickets.items()}
    ctx.facts["check"] = report.counts
    ctx.facts["check_ok"] = report.ok
    ctx.facts["city"] = city
