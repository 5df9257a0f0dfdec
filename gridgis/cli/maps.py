"""``gridgis map``: write a self-contained map file; and the maps step of ``gridgis demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

VIEWS = ("overview", "alignment", "workload", "coverage")


def load_city(data_dir: Path | None, database_url: str | None) -> dict[str, Any]:
    """The city from a folder of GeoJSON layers, or from the store."""
    from gridgis.errors import NotFoundError

    if data_dir is not None:
        from gridgis.io import read_city

        if not data_dir.is_dir():
            raise NotFoundError(f"data folder {data_dir} does not exist; give --data-dir a folder of <layer>.geojson")
        city = read_city(data_dir)
    else:
        from gridgis.cli.common import open_repository
        from gridgis.layers import LAYERS

        repo = open_repository(database_url)
        city = {layer: repo.read_layer(layer) for layer in LAYERS}
    city = {k: v for k, v in city.items() if v is not None and len(v)}
    if not any(k in city for k in ("streets", "communities", "grids")):
        raise NotFoundError(
            "no city to map: the source has no streets, communities or grids; "
            "load one first (gridgis sample-city, gridgis import) or pass --data-dir"
        )
    return city


def coverage_figures(city: dict[str, Any], circle: str, roads: Path | None, k: int = 3):
    """Coverage result, suggested sites for the worst-covered kind, and that kind."""
    from gridgis.maps.coverage import coverage_report, suggest_sites
    from gridgis.maps.network import build_road_network, read_osm_roads

    network = build_road_network(read_osm_roads(roads)) if roads else None
    result = coverage_report(city, circle, network=network)
    worst = result.by_community.groupby("kind")["share"].mean().sort_values()
    kind = str(worst.index[0])
    candidates = (city["buildings"] if "buildings" in city else city["compounds"]).geometry
    sites = suggest_sites(
        result.demand, result.demand[f"covered_{kind}"].to_numpy(), candidates, circle, k=k, network=network
    )
    return result, sites, kind


def print_coverage(result, sites, kind: str) -> None:
    from rich.table import Table

    from gridgis.cli.common import console
    from gridgis.layers.station import KINDS

    table = Table(
        title=f"生活圈覆盖率 life-circle coverage (share of households): {result.distance_m:.0f} m, {result.method}"
    )
    by = result.by_community
    kinds = list(dict.fromkeys(by["kind"]))
    labels = dict(zip(by["kind"], by["kind_zh"]))
    short = {
        "party_mass_centre": "党群",
        "micro_station": "微站",
        "red_station": "红色",
        "courier_station": "驿站",
        "help_desk": "帮办",
        "canteen": "食堂",
        "mediation_room": "调解",
    }
    table.add_column("社区", no_wrap=True)
    table.add_column("户数", justify="right")
    for k in kinds:  # one column per station kind keeps the table one row per community
        table.add_column(short.get(k, str(labels[k])[:2]), justify="right")
    for (code, name), rows in by.groupby(["community_code", "community_name"], sort=True):
        shares = dict(zip(rows["kind"], rows["share"]))
        cells = ["—" if shares.get(k) != shares.get(k) or k not in shares else f"{shares[k]:.0%}" for k in kinds]
        table.add_row(str(name).removesuffix("居委会"), f"{rows['households'].iloc[0]:.0f}", *cells)
    console.print(table)
    for s in sites.itertuples():
        console.print(
            f"建议新{KINDS.get(kind, kind)} #{s.rank}: {s.geometry.x:.5f},{s.geometry.y:.5f} "
            f"→ +{s.new_households:.0f} 户 (累计 {s.cumulative_households:.0f})"
        )


def store_statistics(database_url: str | None, month: str | None) -> Any:
    """Per-grid ticket statistics from the store (one row per grid and month), ``None`` when it holds no tickets."""
    import pandas as pd

    from gridgis.cli.common import open_repository
    from gridgis.tickets.store import TicketStore

    rows = TicketStore(open_repository(database_url)).statistics(month)
    return pd.DataFrame(rows) if rows else None


def build_view(
    view: str,
    city: dict[str, Any],
    basemap: str,
    tianditu_key: str,
    circle: str,
    roads: Path | None,
    metric: str,
    tickets: Any = None,
    stats: Any = None,
):
    from gridgis.maps import folium_maps, views

    if view == "overview":
        return folium_maps.overview_map(city, basemap, tianditu_key)
    if view == "alignment":
        return views.alignment_map(city, basemap=basemap, tianditu_key=tianditu_key)
    if view == "workload":
        return views.workload_map(
            city,
            tickets if tickets is not None else city.get("tickets"),
            stats,
            metric=metric,
            basemap=basemap,
            tianditu_key=tianditu_key,
        )
    result, sites, kind = coverage_figures(city, circle, roads)
    print_coverage(result, sites, kind)
    return views.coverage_map(city, result, kind, sites, basemap=basemap, tianditu_key=tianditu_key)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""

    @app.command("map")
    def map_cmd(
        out: Path = typer.Option(Path("map.html"), "--out", "-o", help="HTML file to write (one file, works offline)"),
        data_dir: Path = typer.Option(None, "--data-dir", help="read the city from <layer>.geojson files here"),
        database_url: str = typer.Option(
            None,
            "--database-url",
            envvar="GRIDGIS_DATABASE_URL",
            help="read the city from this store (default: GRIDGIS_DATABASE_URL)",
        ),
        basemap: str = typer.Option("none", "--basemap", help="none | osm | tianditu | amap (or a {z}/{x}/{y} URL)"),
        view: str = typer.Option("overview", "--view", help="overview | alignment | workload | coverage"),
        tianditu_key: str = typer.Option("", "--tianditu-key", envvar="GRIDGIS_TIANDITU_KEY", help="天地图 key"),
        circle: str = typer.Option("15min", "--circle", help="coverage view: 5min | 10min | 15min"),
        roads: Path = typer.Option(None, "--roads", help="coverage view: road lines (GeoJSON) to walk along"),
        metric: str = typer.Option("volume", "--metric", help="workload view: volume | on_time_rate | satisfaction"),
        tickets: Path = typer.Option(None, "--tickets", help="workload view: ticket points (GeoJSON)"),
        month: str = typer.Option(
            None, "--month", help="workload view from a store: statistics of this month (YYYY-MM; default: every month)"
        ),
    ) -> None:
        """Write a self-contained map (all assets inline; opens from file:// with no internet)."""
        from gridgis.cli.common import console
        from gridgis.errors import ValidationError
        from gridgis.maps import folium_maps

        if view not in VIEWS:
            raise ValidationError(f"unknown view {view!r}; use one of {', '.join(VIEWS)}")
        city = load_city(data_dir, database_url)
        ticket_frame = None
        if tickets is not None:
            import geopandas as gpd

            ticket_frame = gpd.read_file(tickets, engine="pyogrio").set_crs("EPSG:4326", allow_override=True)
        stats = None
        if view == "workload" and data_dir is None:  # the store's own figures: volume, on-time rate, satisfaction
            stats = store_statistics(database_url, month)
            console.print(
                f"工单统计 ticket statistics: {0 if stats is None else int(stats['volume'].sum())} tickets"
                f"{' in ' + month if month else ''} from the store"
            )
        m = build_view(view, city, basemap, tianditu_key, circle, roads, metric, ticket_frame, stats)
        path = folium_maps.save_map(m, out)
        console.print(
            f"地图已写入 map written: {path} ({path.stat().st_size / 1024:.0f} KiB, view={view}, basemap={basemap})"
        )


def demo(ctx) -> None:
    """Write the four map views into ``ctx.out_dir`` and print the coverage figures."""
    from gridgis.cli.common import console, progress
    from gridgis.maps import folium_maps

    console.rule("[bold]地图 maps")
    city = load_city(ctx.data_dir, None)
    roads = ctx.data_dir / "roads.geojson"
    written = []
    with progress() as bar:
        task = bar.add_task("maps", total=len(VIEWS))
        for view in VIEWS:
            try:
                m = build_view(view, city, "none", "", "15min", roads if roads.exists() else None, "volume")
                written.append(folium_maps.save_map(m, Path(ctx.out_dir) / f"map-{view}.html"))
            except Exception as exc:  # noqa: BLE001 - one view failing must not hide the others
                console.print(f"[yellow]{view} map skipped: {exc}")
            bar.advance(task)
    for path in written:
        console.print(f"  {path}  ({path.stat().st_size / 1024:.0f} KiB)")
    ctx.facts["maps"] = [str(p) for p in written]
