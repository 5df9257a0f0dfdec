"""``gridgis batch route|align|stats``: a province's batch jobs on Dask, partitioned by county."""

from __future__ import annotations

import time
from pathlib import Path

import typer

batch_app = typer.Typer(
    help="Batch jobs on Dask, partitioned by county (needs pip install 'gridgis[scale]').", no_args_is_help=True
)

SCHEDULER = typer.Option(None, "--scheduler", envvar="GRIDGIS_DASK_SCHEDULER", help="Dask scheduler address")
LOCAL = typer.Option(None, "--local", min=1, help="or: a LocalCluster of N worker processes on this machine")
DATABASE = typer.Option(None, "--database-url", envvar="GRIDGIS_DATABASE_URL", help="the store the workers read")


def _url(database_url: str | None) -> str:
    from gridgis.settings import get_settings

    return database_url or get_settings().database_url


@batch_app.command("route")
def route(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="points: .csv, .geojson or .gpkg"),
    out: Path = typer.Option(..., "--out", "-o", help="output: .csv, .geojson or .gpkg"),
    crs: str = typer.Option(None, "--crs", help="CRS of the coordinates (never guessed; see gridgis route)"),
    lon_col: str = typer.Option("lon", "--lon-col"),
    lat_col: str = typer.Option("lat", "--lat-col"),
    chunk: int = typer.Option(500_000, "--chunk", min=1, help="points per task"),
    database_url: str = DATABASE,
    scheduler: str = SCHEDULER,
    local: int = LOCAL,
) -> None:
    """Route every point of INPUT on the cluster: points split by county, each county's chunks routed by
    its own index on a worker; the output is what `gridgis route` writes."""
    from gridgis.cli.common import console
    from gridgis.routing.files import read_points, write_points
    from gridgis.scale.batch import dask_client, route_batch

    frame, x, y, src = read_points(input_path, lon_col, lat_col, crs)
    started = time.perf_counter()
    with dask_client(scheduler, local) as client:
        routed = route_batch(client, _url(database_url), x, y, src, chunk=chunk)
    write_points(frame, routed, out, x, y, src)
    ok = int((routed["reason"] == "").sum())
    seconds = time.perf_counter() - started
    console.print(f"{ok} of {len(routed)} rows routed, {len(routed) - ok} with a reason; {seconds:.1f} s → {out}")


@batch_app.command("route-files")
def route_files(
    inputs: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="point files (partitions)"),
    out_dir: Path = typer.Option(..., "--out-dir", help="folder for the routed files (same names)"),
    work: Path = typer.Option(..., "--work", help="scratch folder every worker can read and write"),
    crs: str = typer.Option(None, "--crs", help="CRS of the coordinates (never guessed; see gridgis route)"),
    lon_col: str = typer.Option("lon", "--lon-col"),
    lat_col: str = typer.Option("lat", "--lat-col"),
    database_url: str = DATABASE,
    scheduler: str = SCHEDULER,
    local: int = LOCAL,
) -> None:
    """Route many point files (e.g. a province's historical tickets, one file per month) without
    bringing them to this process: the workers split each file by county, route each county with its
    own index and write each file back as `gridgis route` would."""
    from gridgis.cli.common import console
    from gridgis.scale.batch import dask_client
    from gridgis.scale.batch import route_files as run

    started = time.perf_counter()
    with dask_client(scheduler, local) as client:
        written = run(
            client, _url(database_url), [str(p) for p in inputs], str(out_dir), str(work), crs, lon_col, lat_col
        )
    console.print(f"{len(written)} files routed in {time.perf_counter() - started:.1f} s → {out_dir}")


@batch_app.command("align")
def align(
    out: Path = typer.Option(..., "--out", "-o", help="folder: one <county>.geojson of proposed grids per county"),
    county: list[str] = typer.Option([], "--county", help="only these counties (default: every county)"),
    database_url: str = DATABASE,
    scheduler: str = SCHEDULER,
    local: int = LOCAL,
) -> None:
    """Propose aligned grids for every community, one task per county (the `gridgis align` proposal)."""
    from gridgis.cli.common import console
    from gridgis.io.geojson import write_geojson
    from gridgis.scale.batch import align_batch, dask_client

    out.mkdir(parents=True, exist_ok=True)
    with dask_client(scheduler, local) as client:
        proposals = align_batch(client, _url(database_url), counties=county or None)
    for c, proposal in sorted(proposals.items()):
        path = write_geojson(proposal.grids, out / f"{c}.geojson")
        console.print(f"county {c}: {len(proposal.grids)} grids, {len(proposal.changes)} changed pieces → {path}")


@batch_app.command("stats")
def stats(
    month: list[str] = typer.Option(..., "--month", help="YYYY-MM of the indices; repeat"),
    out: Path = typer.Option(..., "--out", "-o", help="CSV of the monthly figures (every month)"),
    indices_out: Path = typer.Option(None, "--indices-out", help="CSV of the indices of --month"),
    level: str = typer.Option("grid", "--level", help="grid, micro_grid, community or street"),
    database_url: str = DATABASE,
    scheduler: str = SCHEDULER,
    local: int = LOCAL,
) -> None:
    """Monthly ticket figures and indices of every area, one task per county."""
    import pandas as pd

    from gridgis.cli.common import console
    from gridgis.people.assessment import TZ
    from gridgis.scale.batch import dask_client, stats_batch
    from gridgis.tickets.stats import month_range

    for m in month:
        month_range(m, TZ)  # a bad month fails before the cluster starts
    with dask_client(scheduler, local) as client:
        figures, indices = stats_batch(client, _url(database_url), sorted(set(month)), level)
    pd.DataFrame(figures).to_csv(out, index=False, encoding="utf-8")
    console.print(f"{len(figures)} (area, month) figures → {out}")
    if indices_out is not None:
        indices.to_csv(indices_out, index=False, encoding="utf-8")
        console.print(f"{len(indices)} (area, month) indices → {indices_out}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(batch_app, name="batch")
