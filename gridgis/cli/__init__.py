"""The ``gridgis`` command: a thin shell over the library.

Each area registers its commands from its own module (``register(app)``), so the
modules stay small and independent: data (sample-city, import, export, check, info),
align and microgrid, route and tickets, map and serve, and the demo.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    help="gridgis — 网格化管理 GIS: model, align, route and map grids, compounds and stations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """gridgis — 网格化管理 GIS."""


_AREAS = (
    "data",
    "sample",
    "check",
    "align",
    "route",
    "tickets",
    "calendar",
    "maps",
    "serve",
    "editing",
    "ops",
    "deploy",
    "batch",
    "demo",
    "audit",
    "people",
)


def _register_all() -> None:
    for area in _AREAS:
        module = importlib.import_module(f"gridgis.cli.{area}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_all()


def main() -> None:
    """Entry point: run the app, turning gridgis errors into a clear message and exit code 2."""
    from gridgis.errors import GridGISError

    try:
        rc = app(standalone_mode=False)
    except GridGISError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise SystemExit(2) from None
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", None) or getattr(exc, "code", 0) or 0
        raise SystemExit(code) from None
    except Exception as exc:  # click usage errors and aborts
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            raise SystemExit(exc.exit_code) from None
        if isinstance(exc, click.exceptions.Abort):
            raise SystemExit(1) from None
        raise
    raise SystemExit(rc if isinstance(rc, int) else 0)
