"""``gridgis serve``: the API and the web viewer (``/map``) under uvicorn."""

from __future__ import annotations

import os
from typing import Any

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""

    @app.command()
    def serve(
        host: str = typer.Option("127.0.0.1", help="address to listen on (0.0.0.0 for every interface)"),
        port: int = typer.Option(8000, help="port to listen on"),
        workers: int = typer.Option(1, min=1, help="worker processes"),
        database_url: str = typer.Option(
            None,
            "--database-url",
            envvar="GRIDGIS_DATABASE_URL",
            help="store to serve (default: GRIDGIS_DATABASE_URL or sqlite:///gridgis.db)",
        ),
        log_level: str = typer.Option("info", help="log level (debug, info, warning, error)"),
        roads: str = typer.Option(
            None,
            "--roads",
            envvar="GRIDGIS_ROADS_FILE",
            help="road lines (GeoJSON) the life-circle view of /map walks along (default: straight line × 1.3)",
        ),
        counties: str = typer.Option(
            None,
            "--counties",
            envvar="GRIDGIS_COUNTIES",
            help="a routing pool: index only these counties (6-digit codes, comma-separated, e.g. "
            "310115,310104); /route answers 421 for points of other counties (see docs/scaling.md)",
        ),
    ) -> None:
        """Serve the API and the viewer: open http://HOST:PORT/map (every asset is served locally).

        Logs are JSON lines on stderr with the request id; each worker swaps in new boundary
        generations as they are committed (LISTEN/NOTIFY on PostGIS, a 1 s timer on SQLite).
        """
        import os

        import uvicorn

        from gridgis.cli.common import console
        from gridgis.logs import uvicorn_log_config

        if database_url:
            os.environ["GRIDGIS_DATABASE_URL"] = database_url  # the factory reads settings in each worker
        if roads:
            from pathlib import Path

            if not Path(roads).is_file():
                raise typer.BadParameter(f"no road file at {roads}", param_hint="--roads")
            os.environ["GRIDGIS_ROADS_FILE"] = str(Path(roads).resolve())
        if counties:
            from gridgis.routing.county import parse_counties

            held = parse_counties(counties)  # a bad code: one line naming it (CodeError)
            os.environ["GRIDGIS_COUNTIES"] = ",".join(sorted(held or ()))
            console.print(f"routing pool of counties {os.environ['GRIDGIS_COUNTIES']}")
        _warn_outdated_schema(console)
        console.print(f"gridgis 网格地图: http://{host}:{port}/map   API: http://{host}:{port}/docs")
        from gridgis.routing import shared

        # the workers share one routing index file per generation; this run's directory unless one is given
        own_dir = None if os.environ.get(shared.ENV) else shared.run_directory()
        if own_dir is not None:
            os.environ[shared.ENV] = str(own_dir)
        try:
            uvicorn.run(
                "gridgis.api.app:create_app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level=log_level,
                log_config=uvicorn_log_config(log_level),
                access_log=False,  # gridgis.access logs each request (without its query string)
                # a refusal's short reason in the status line (QGIS shows only that); an import string, so
                # each worker imports it after it has started answering the supervisor's health checks
                http="gridgis.api.reason:HTTP_PROTOCOL",
            )
        finally:
            if own_dir is not None:
                shared.remove_run_directory(own_dir)


def _warn_outdated_schema(console: Any) -> None:
    """One line when the store's schema is older than this gridgis (``/ready`` answers 503 until
    ``gridgis db upgrade``); nothing when it is current or the store cannot be reached yet."""
    from gridgis.cli.common import open_repository
    from gridgis.errors import SchemaOutdatedError, StorageUnavailableError

    try:
        repo = open_repository(os.environ.get("GRIDGIS_DATABASE_URL"))
        try:
            repo.check_schema()
        finally:
            repo.dispose()
    except SchemaOutdatedError as err:
        console.print(f"[yellow]warning:[/] {err}")
    except StorageUnavailableError:
        pass
