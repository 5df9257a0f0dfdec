"""CLI commands for the route area (``gridgis route``) and its demo step. Registered by :func:`register`."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import typer

from gridgis.cli.common import console, open_repository, progress


def _index(data_dir: Path | None, database_url: str | None, at: str | None):
    """The routing index from a folder of GeoJSON layers, or from the store (as of ``at``)."""
    from gridgis.errors import ValidationError
    from gridgis.routing import RoutingIndex
    from gridgis.routing.service import RoutingService
    from gridgis.settings import get_settings

    tolerance = get_settings().snap_tolerance_m
    if data_dir is not None:
        if at:
            raise ValidationError("--at needs the store (--database-url): a folder holds one generation only")
        from gridgis.io import read_city

        return RoutingIndex.build(read_city(data_dir), snap_tolerance_m=tolerance)
    service = RoutingService(open_repository(database_url), snap_tolerance_m=tolerance)
    if at:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            raise ValidationError(f"--at {at!r} is not an ISO time, e.g. 2026-08-25T08:13:22+08:00") from None
        return service.index_at(when)
    return service.current()


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""

    @app.command("route")
    def route_command(
        input_path: Path = typer.Argument(..., metavar="INPUT", help="points: .csv, .geojson or .gpkg"),
        out: Path = typer.Option(..., "--out", "-o", help="output: .csv, .geojson or .gpkg"),
        crs: str = typer.Option(
            None,
            "--crs",
            help="CRS of the coordinates: wgs84, cgcs2000, gcj02, bd09 or "
            "EPSG:nnnn; required for CSV (it cannot say), else the file's own (GeoJSON: WGS84 per RFC 7946)",
        ),
        lon_col: str = typer.Option("lon", "--lon-col", help="CSV longitude (x) column"),
        lat_col: str = typer.Option("lat", "--lat-col", help="CSV latitude (y) column"),
        layer: str = typer.Option(None, "--layer", help="GeoPackage table to read"),
        encoding: str = typer.Option("utf-8", "--encoding", help="CSV text encoding (e.g. gbk)"),
        at: str = typer.Option(None, "--at", help="route against the boundaries valid at this ISO time"),
        database_url: str = typer.Option(None, "--database-url", help="store (default: GRIDGIS_DATABASE_URL)"),
        data_dir: Path = typer.Option(None, "--data-dir", help="route against a folder of <layer>.geojson instead"),
        chunk_size: int = typer.Option(100_000, "--chunk-size", min=1, help="rows routed per step"),
    ) -> None:
        """Route every point of INPUT to its micro-grid, grid, community and street.

        Keeps every input column and adds micro_grid_code, grid_code, community_code, street_code,
        snapped, distance_m and reason (empty codes and a reason for rows that cannot be routed).
        """
        from gridgis.routing.files import read_points, route_points, write_points

        frame, x, y, src = read_points(input_path, lon_col, lat_col, crs, layer, encoding)
        started = time.perf_counter()
        index = _index(data_dir, database_url, at)
        with progress() as bar:
            task = bar.add_task(f"路由 routing {input_path.name}", total=len(x))
            routed = route_points(index, x, y, src, chunk_size, on_chunk=lambda n: bar.advance(task, n))
        write_points(frame, routed, out, x, y, src)
        ok = int((routed["reason"] == "").sum())
        console.print(
            f"{ok} of {len(routed)} rows routed ({int(routed['snapped'].sum())} snapped to the nearest "
            f"grid), {len(routed) - ok} with a reason; generation {index.generation}; "
            f"{time.perf_counter() - started:.1f} s → {out}"
        )


def demo(ctx) -> None:
    """Demo step: route the sample tickets, show where they land, a GCJ-02 point and an address."""
    import geopandas as gpd
    import numpy as np
    from rich.table import Table

    from gridgis import chinacoords
    from gridgis.errors import GridGISError
    from gridgis.io import read_city
    from gridgis.routing import RoutingIndex
    from gridgis.routing.service import RoutingService

    console.rule("[bold]路由 routing: point → micro-grid → grid → community → street")
    started = time.perf_counter()
    try:
        index = RoutingService(ctx.repository).current()
        source = f"store, generation {index.generation}"
    except GridGISError:
        index = RoutingIndex.build(read_city(ctx.data_dir))
        source = str(ctx.data_dir)
    console.print(
        f"index built from {source} in {time.perf_counter() - started:.2f} s: {index.stats['micro_grids']} "
        f"micro-grids, {index.stats['grids']} grids, {index.stats['compounds']} compounds"
    )
    path = Path(ctx.data_dir) / "tickets.geojson"
    if not path.exists():
        console.print("no tickets.geojson in the sample: nothing to route")
        return
    tickets = gpd.read_file(path, engine="pyogrio")
    x, y = tickets.geometry.x.to_numpy(), tickets.geometry.y.to_numpy()
    t0 = time.perf_counter()
    df = index.route_many(x, y)
    took = time.perf_counter() - t0
    routed = df["reason"] == ""
    in_micro = int((routed & df["micro_grid_code"].notna() & ~df["snapped"]).sum())
    grid_only = int((routed & df["micro_grid_code"].isna() & ~df["snapped"]).sum())
    table = Table(title=f"{len(df)} sample tickets routed in {took * 1000:.0f} ms")
    table.add_column("where")
    table.add_column("tickets", justify="right")
    table.add_row("in a micro-grid 微网格", str(in_micro))
    table.add_row("in a grid without a micro-grid there", str(grid_only))
    table.add_row("snapped to the nearest grid (≤ tolerance)", str(int(df["snapped"].sum())))
    table.add_row("outside the service area", str(int((~routed).sum())))
    table.add_row("inside a compound 小区", str(int(df["compound_code"].notna().sum())))
    table.add_row("inside a building 楼栋", str(int(df["building_code"].notna().sum())))
    console.print(table)
    busiest = df.loc[routed, "grid_code"].value_counts().head(3)
    console.print("busiest grids: " + ", ".join(f"{code} ({n})" for code, n in busiest.items()))
    first = int(np.flatnonzero(routed.to_numpy())[0]) if routed.any() else 0
    glon, glat = chinacoords.wgs84_to_gcj02(x[first], y[first])
    r = index.route(float(glon), float(glat), crs="gcj02")
    console.print(
        f"GCJ-02 example: ({float(glon):.6f}, {float(glat):.6f}) as AMap/WeChat send it → WGS84 "
        f"({r.lon:.6f}, {r.lat:.6f}) → {r.micro_grid_code or r.grid_code} {r.grid_name} / "
        f"{r.community_name} / {r.street_name}; same grid as the WGS84 point: "
        f"{r.grid_code == df['grid_code'][first]}"
    )
    facts = {
        "tickets": len(df),
        "in_micro_grid": in_micro,
        "grid_only": grid_only,
        "snapped": int(df["snapped"].sum()),
        "outside": int((~routed).sum()),
    }
    if "address" in tickets.columns and index.stats["compounds"]:
        resolver = index.address_resolver
        sample = [(a, c) for a, c in zip(tickets["address"], df["compound_code"]) if isinstance(a, str) and c][:300]
        same = refused = 0
        for text, comp in sample:
            try:
                same += resolver.resolve(text).compound_code == comp
            except GridGISError:
                refused += 1
        console.print(
            f"address routing on {len(sample)} tickets inside compounds: {same} resolve to the compound "
            f"that contains the ticket's point, {refused} refused (road addresses such as 博山路888号 "
            "name no compound)"
        )
        facts.update(address_checked=len(sample), address_same_compound=same, address_refused=refused)
        text = sample[0][0] if sample else str(tickets["address"].iloc[first])
        try:
            m = resolver.resolve(text)
            console.print(
                f"address example: {text!r} → {m.compound_name} ({m.compound_code}) "
                f"{m.building_code or ''} confidence {m.confidence:.2f}" + (" (ambiguous)" if m.ambiguous else "")
            )
        except GridGISError as err:
            console.print(f"address example: {text!r} → {err}")
    ctx.facts["routing"] = facts
