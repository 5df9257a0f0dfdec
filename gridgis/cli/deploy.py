"""``gridgis deploy nginx``: the nginx front and systemd units of routing pools per county."""

from __future__ import annotations

from pathlib import Path

import typer

deploy_app = typer.Typer(help="Deployment recipes: the nginx front of routing pools per county.", no_args_is_help=True)


@deploy_app.command("nginx")
def nginx(
    pool: list[str] = typer.Option(
        ...,
        "--pool",
        help="COUNTY[,COUNTY…]=HOST:PORT[,HOST:PORT…]: the pools (gridgis serve --counties) holding a county; repeat",
    ),
    backup: list[str] = typer.Option(
        [], "--backup", help="COUNTY=HOST:PORT[,…]: pools also holding the county, used only when its pools fail"
    ),
    node: list[str] = typer.Option(
        [],
        "--node",
        help="HOST:PORT of a node for everything but /route; at least one must be a whole-store server "
        "(gridgis serve without --counties, not a --pool address) for ticket intake; repeat",
    ),
    out: Path = typer.Option(..., "--out", help="folder to write nginx.conf, gridgis.conf and systemd/ into"),
    listen: str = typer.Option("127.0.0.1:8080", help="the front's address (nginx `listen`)"),
    workers: str = typer.Option("auto", help="nginx worker_processes"),
    gridgis: str = typer.Option("/opt/gridgis/bin/gridgis", help="the gridgis executable the units run"),
) -> None:
    """Write the nginx front routing /route by county to its pools, and systemd units for the pools.

    Run the front as any user: nginx -p OUT -c OUT/nginx.conf (or include OUT/gridgis.conf from a
    system nginx). See docs/scaling.md, "Deployment recipe".
    """
    from gridgis.cli.common import console
    from gridgis.scale.nginx import check_intake, plan_front, pools_by_address, write_front
    from gridgis.scale.units import write_units

    front = plan_front(pool, backup, node)
    check_intake(front)  # tickets without a county (or of a county without a pool) need a whole-store node
    paths = write_front(front, out, listen=listen, worker_processes=workers)
    units = write_units(pools_by_address(front), out, prefix=out.resolve(), gridgis=gridgis)
    for c in front.counties:
        extra = f" (backup {', '.join(front.backups[c])})" if front.backups.get(c) else ""
        console.print(f"county {c}: {', '.join(front.pools[c])}{extra}")
    console.print(f"ticket intake without a county pool: {', '.join(front.whole_store_nodes())}")
    console.print(f"wrote {paths['nginx.conf']} and {paths['gridgis.conf']}, {len(units)} systemd files")
    console.print(f"run: nginx -p {out.resolve()} -c {out.resolve()}/nginx.conf")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(deploy_app, name="deploy")
