"""The app factory. Settings are built here (or passed in), never at import time."""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from gridgis.api.errors import install_error_handlers
from gridgis.api.middleware import install_middleware
from gridgis.api.schemas import ERROR_RESPONSES, install_openapi
from gridgis.settings import Settings, get_settings

#: router modules under gridgis.api.routes, each exposing ``router`` (and optionally ``setup(app)``)
ROUTE_MODULES = ("health", "features", "editing", "route", "tickets", "open311", "alignment", "viewer")


def create_app(settings: Settings | None = None, repository=None) -> FastAPI:
    """Build the API. ``repository`` defaults to one opened on ``settings.database_url``."""
    from gridgis import __version__

    settings = settings or get_settings()
    if repository is None:
        from gridgis.storage import Repository

        repository = Repository(settings.database_url)
    app = FastAPI(
        title="gridgis",
        version=__version__,
        description="网格化管理 GIS: OGC API – Features, routing, tickets, Open311, maps",
    )
    app.state.settings = settings
    app.state.repository = repository
    install_error_handlers(app)
    install_middleware(app, settings)
    for name in ROUTE_MODULES:
        module = importlib.import_module(f"gridgis.api.routes.{name}")
        setup = getattr(module, "setup", None)
        if setup is not None:
            setup(app)
        router = getattr(module, "router", None)
        if router is not None:  # every router documents problem+json errors, except Open311's own format
            app.include_router(router, responses=getattr(module, "ERROR_RESPONSES", ERROR_RESPONSES))
    install_openapi(app)
    return app
