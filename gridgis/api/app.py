"""The app factory. Settings are built here (or passed in), never at import time."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from gridgis.api.consistency import GenerationFloorMiddleware
from gridgis.api.errors import install_error_handlers
from gridgis.api.inputs import guard_parameters
from gridgis.api.middleware import install_middleware
from gridgis.api.schemas import ERROR_RESPONSES, install_openapi
from gridgis.auth.deps import gate
from gridgis.settings import Settings, get_settings

#: router modules under gridgis.api.routes, each exposing ``router`` (and optionally ``setup(app)``)
ROUTE_MODULES = (
    "health",
    "features",
    "editing",
    "route",
    "tickets",
    "open311",
    "alignment",
    "viewer",
    "audit",
    "people",
)


def create_app(settings: Settings | None = None, repository=None) -> FastAPI:
    """Build the API. ``repository`` defaults to one opened on ``settings.database_url``."""
    from gridgis import __version__

    settings = settings or get_settings()
    if repository is None:
        from gridgis.storage import Repository

        repository = Repository(settings.database_url, read_url=getattr(settings, "database_read_url", None))
    app = FastAPI(
        title="gridgis",
        version=__version__,
        description="网格化管理 GIS: OGC API – Features, routing, tickets, Open311, maps",
        # every route: parameter limits first (gridgis.api.inputs), then a token sent is verified and
        # closed reads need one
        dependencies=[Depends(guard_parameters), Depends(gate)],
    )
    app.state.settings = settings
    app.state.repository = repository
    install_error_handlers(app)
    install_middleware(app, settings)
    app.add_middleware(GenerationFloorMiddleware)  # outermost: the floor covers every route and handler
    for name in ROUTE_MODULES:
        module = importlib.import_module(f"gridgis.api.routes.{name}")
        setup = getattr(module, "setup", None)
        if setup is not None:
            setup(app)
        router = getattr(module, "router", None)
        if router is not None:  # every router documents problem+json errors, except Open311's own format
            app.include_router(router, responses=getattr(module, "ERROR_RESPONSES", ERROR_RESPONSES))
    install_openapi(app)
    _install_generation_refresh(app, settings)
    return app


def _install_generation_refresh(app: FastAPI, settings: Settings) -> None:
    """While the app runs, its routing service (shared with the ticket store) swaps in each new
    boundary generation as it is committed: LISTEN/NOTIFY on PostGIS, a timer on SQLite or with
    ``generation_refresh=poll`` (read replicas); ``request`` leaves it to requests."""
    routing = getattr(app.state, "routing", None)
    if routing is None:
        return
    if getattr(app.state, "ticket_router", None) is None:
        app.state.ticket_router = routing  # one index per worker, not one per consumer
    mode = getattr(settings, "generation_refresh", "auto")
    if mode == "request":
        return
    if mode not in ("auto", "listen", "poll"):
        raise ValueError(f"GRIDGIS_GENERATION_REFRESH must be auto, listen, poll or request, not {mode!r}")
    previous = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        routing.listen(
            poll_interval=getattr(settings, "generation_poll_interval_s", 1.0),
            mode=None if mode == "auto" else mode,
        )
        try:
            async with previous(application) as state:
                yield state
        finally:
            routing.stop()

    app.router.lifespan_context = lifespan
