"""API routes: the web viewer (``/map``), its tiles and the self-hosted assets under ``/static``.

Thin: parse, call :mod:`gridgis.maps.viewer`, answer. Every asset is served by gridgis
itself (Leaflet from the installed ``xstatic-leaflet`` package), so the viewer works on a
network with no internet.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, FastAPI, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from gridgis.api.deps import RepositoryDep, SettingsDep
from gridgis.api.geowork import run_geo
from gridgis.api.schemas.common import FeatureCollection, documented, request_body
from gridgis.api.schemas.viewer import (
    Impact,
    ImpactIn,
    Located,
    ProposalIn,
    Related,
    SearchHits,
    ThematicView,
    Tile,
    ViewerMeta,
    WhoAmI,
)
from gridgis.auth.deps import CurrentPrincipal, ReadPrincipal
from gridgis.errors import AuthError, NotFoundError, ValidationError
from gridgis.maps import assets
from gridgis.maps import viewer as service
from gridgis.maps.tiles import MAX_ZOOM, TileCache

router = APIRouter(tags=["viewer"])

LayerName = Annotated[
    str,
    Path(
        pattern=r"^[a-z_]+$",
        description="layer: streets, communities, grids, micro_grids, compounds, buildings or stations",
    ),
]


def _cache(request: Request) -> TileCache:
    return app_cache(request.app)


def app_cache(app: FastAPI) -> TileCache:
    """The app's tile cache (one per process), sized by ``GRIDGIS_TILE_CACHE_MB``."""
    cache = getattr(app.state, "tile_cache", None)
    if cache is None:
        settings = getattr(app.state, "settings", None)
        cache = app.state.tile_cache = TileCache(int(getattr(settings, "tile_cache_mb", 64)) * 2**20)
    return cache


def _prerender_on_new_generations(app: FastAPI) -> None:
    """While the app runs, render the low-zoom tiles (up to ``GRIDGIS_TILE_PRERENDER_ZOOM``) and load every
    viewer layer after start-up and after each new generation, in a background thread of this process."""
    settings = app.state.settings
    max_zoom = int(getattr(settings, "tile_prerender_zoom", 12))
    mode = getattr(settings, "generation_refresh", "auto")
    repository = app.state.repository
    if max_zoom < 0 or mode == "request" or not hasattr(repository, "listen_generations"):
        return
    previous = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        listener = repository.listen_generations(
            lambda _generation: service.warm_in_background(repository, app_cache(app), max_zoom),
            poll_interval=getattr(settings, "generation_poll_interval_s", 1.0),
            mode=None if mode == "auto" else mode,
            report_current=True,
        )
        try:
            async with previous(application) as state:
                yield state
        finally:
            listener.stop()

    app.router.lifespan_context = lifespan


@lru_cache(maxsize=4)
def _asset(name: str, compressed: bool) -> bytes:
    text = assets.leaflet_js() if name == "js" else assets.leaflet_css()
    data = text.encode("utf-8")
    return gzip.compress(data, compresslevel=9, mtime=0) if compressed else data


def _vendor(request: Request, name: str, media_type: str) -> Response:
    zipped = "gzip" in request.headers.get("accept-encoding", "")
    headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
    if zipped:
        headers["Content-Encoding"] = "gzip"
    return Response(_asset(name, zipped), media_type=media_type, headers=headers)


@lru_cache(maxsize=8)
def _plugin(name: str, compressed: bool) -> bytes | None:
    text = assets.editor_plugin(name)
    if text is None:
        return None
    data = text.encode("utf-8")
    return gzip.compress(data, compresslevel=9, mtime=0) if compressed else data


def _editor_plugin(request: Request, name: str, media_type: str) -> Response:
    zipped = "gzip" in request.headers.get("accept-encoding", "")
    data = _plugin(name, zipped)
    if data is None:
        _plugin.cache_clear()  # installed later (npm ci) is picked up without a restart
        raise NotFoundError(
            f"the web editor's plug-in ({assets.EDITOR_PLUGIN}) is not installed in {assets.node_modules()}: "
            "run ./dev setup (npm ci); the viewer works without it"
        )
    headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
    if zipped:
        headers["Content-Encoding"] = "gzip"
    return Response(data, media_type=media_type, headers=headers)


@lru_cache(maxsize=4)
def _vector_tiles(compressed: bool) -> bytes | None:
    text = assets.vector_tile_plugin()
    if text is None:
        return None
    data = text.encode("utf-8")
    return gzip.compress(data, compresslevel=9, mtime=0) if compressed else data


#: what /static/vendor/vectorgrid.js says when the plug-in is not installed: the viewer falls back to GeoJSON
_NO_VECTOR_TILES = b"/* Leaflet.VectorGrid is not installed (npm ci): the viewer uses GeoJSON tiles */\n"


def _vector_tile_plugin(request: Request) -> Response:
    zipped = "gzip" in request.headers.get("accept-encoding", "")
    data = _vector_tiles(zipped)
    if data is None:
        _vector_tiles.cache_clear()  # installed later (npm ci) is picked up without a restart
        return Response(
            _NO_VECTOR_TILES, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "no-cache"}
        )
    headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
    if zipped:
        headers["Content-Encoding"] = "gzip"
    return Response(data, media_type="text/javascript; charset=utf-8", headers=headers)


def setup(app: FastAPI) -> None:
    """Leaflet (cleaned of outside links, gzipped when the browser accepts it) and the editor's plug-in
    (from ``node_modules``) first, then the kit under ``/static``."""

    @app.get("/static/vendor/geoman.js", include_in_schema=False)
    def geoman_js(request: Request) -> Response:
        return _editor_plugin(request, "geoman.js", "text/javascript; charset=utf-8")

    @app.get("/static/vendor/geoman.css", include_in_schema=False)
    def geoman_css(request: Request) -> Response:
        return _editor_plugin(request, "geoman.css", "text/css; charset=utf-8")

    @app.get("/static/vendor/vectorgrid.js", include_in_schema=False)
    def vectorgrid_js(request: Request) -> Response:
        return _vector_tile_plugin(request)

    @app.get("/static/vendor/leaflet.js", include_in_schema=False)
    def leaflet_js(request: Request) -> Response:
        return _vendor(request, "js", "text/javascript; charset=utf-8")

    @app.get("/static/vendor/leaflet.css", include_in_schema=False)
    def leaflet_css(request: Request) -> Response:
        return _vendor(request, "css", "text/css; charset=utf-8")

    app.mount("/static", StaticFiles(directory=assets.STATIC_DIR), name="static")
    _prerender_on_new_generations(app)


@router.get(
    "/map",
    response_class=HTMLResponse,
    summary="The web viewer (Leaflet, self-hosted assets)",
    responses={200: {"description": "the viewer page", "content": {"text/html": {"schema": {"type": "string"}}}}},
)
def map_page() -> HTMLResponse:
    return HTMLResponse((assets.STATIC_DIR / "viewer.html").read_text(encoding="utf-8"))


@router.get(
    "/viewer/meta",
    summary="What the viewer starts from: bounds, generation, layers and counts",
    **documented(ViewerMeta),
)
def viewer_meta(request: Request, repository: RepositoryDep, settings: SettingsDep) -> dict:
    service.warm_in_background(repository, _cache(request), settings.tile_prerender_zoom)
    return service.meta(repository, settings.tile_source, settings.tianditu_key, roads=bool(settings.roads_file))


# the parameters of both tile formats
TileZ = Annotated[int, Path(ge=0, le=MAX_ZOOM)]
TileXY = Annotated[int, Path(ge=0)]
DisplayZoom = Annotated[
    int | None,
    Query(ge=0, le=MAX_ZOOM, description="display zoom to simplify for (default z; z+2 makes a 1,024-px tile)"),
]
TileCrs = Annotated[Literal["wgs84", "gcj02"], Query(description="gcj02 lines up with AMap tiles")]
TileGeneration = Annotated[
    int | None,
    Query(
        ge=0,
        le=2**63 - 1,
        description="the generation the tile is asked for (from /viewer/meta): when it is the current one the "
        "answer may be cached for a day by browsers and proxies (a tile is a pure function of its URL)",
    ),
]


@router.get(
    "/tiles/{layer}/{z}/{x}/{y}.geojson",
    summary="A GeoJSON tile, simplified for its zoom level",
    **documented(Tile, media_type="application/geo+json"),
)
def geojson_tile(
    request: Request,
    repository: RepositoryDep,
    layer: LayerName,
    z: TileZ,
    x: TileXY,
    y: TileXY,
    zoom: DisplayZoom = None,
    crs: TileCrs = "wgs84",
    g: TileGeneration = None,
) -> Response:
    text, count, gen = service.tile(repository, _cache(request), layer, z, x, y, zoom, crs)
    headers = _tile_headers(gen, layer, z, x, y, zoom, crs, "geojson", g)
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    body = text.encode("utf-8")
    if len(body) > 1400 and "gzip" in request.headers.get("accept-encoding", ""):
        body = gzip.compress(body, compresslevel=5)
        headers["Content-Encoding"] = "gzip"
    headers["X-Feature-Count"] = str(count)
    return Response(body, media_type="application/geo+json", headers=headers)


#: how long a tile asked for by its (current) generation may be kept by browsers and proxies
TILE_MAX_AGE_S = 86400


def _tile_headers(
    gen: object, layer: str, z: int, x: int, y: int, zoom: int | None, crs: str, kind: str, asked: int | None = None
) -> dict:
    """ETag (one per generation, layer, tile, display zoom, CRS and format) and caching headers of a tile.

    A tile asked for with ``g`` = the current generation is a pure function of its URL: public and
    cacheable for :data:`TILE_MAX_AGE_S` (nginx's ``proxy_cache`` keeps it, docs/scaling.md). Without
    ``g``, or with an older one, caches must revalidate (``no-cache``; If-None-Match → 304).
    """
    suffix = "" if kind == "geojson" else f"-{kind}"
    etag = f'"g{gen}-{layer}-{z}-{x}-{y}-{zoom if zoom is not None else z}-{crs}{suffix}"'
    current = asked is not None and gen is not None and asked == gen
    cache = f"public, max-age={TILE_MAX_AGE_S}, immutable" if current else "no-cache"
    return {"ETag": etag, "Cache-Control": cache, "Vary": "Accept-Encoding"}


@router.get(
    "/tiles/{layer}/{z}/{x}/{y}.mvt",
    summary="A Mapbox Vector Tile: the GeoJSON tile's features, one MVT layer named after the layer",
    responses={
        200: {
            "description": "the tile (protobuf); the feature code is the `code` property",
            "content": {"application/vnd.mapbox-vector-tile": {"schema": {"type": "string", "format": "binary"}}},
        },
        304: {"description": "the tile is unchanged (If-None-Match)"},
    },
)
def mvt_tile(
    request: Request,
    repository: RepositoryDep,
    layer: LayerName,
    z: TileZ,
    x: TileXY,
    y: TileXY,
    zoom: DisplayZoom = None,
    crs: TileCrs = "wgs84",
    g: TileGeneration = None,
) -> Response:
    data, count, gen = service.mvt_tile(repository, _cache(request), layer, z, x, y, zoom, crs)
    headers = _tile_headers(gen, layer, z, x, y, zoom, crs, "mvt", g)
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    headers["X-Feature-Count"] = str(count)
    return Response(data, media_type="application/vnd.mapbox-vector-tile", headers=headers)


@router.get(
    "/viewer/related/grids/{code}",
    summary="The compounds and stations of a grid (for click-through)",
    **documented(Related),
)
def grid_related(repository: RepositoryDep, code: str) -> dict:
    return service.related(repository, code)


@router.get(
    "/viewer/locate/{code}",
    summary="Layer and bounding box of the feature with this code",
    **documented(Located),
)
def locate(request: Request, repository: RepositoryDep, code: str) -> dict:
    return service.locate(repository, _cache(request), code)


@router.get("/viewer/search", summary="Features whose name or code contains q", **documented(SearchHits))
def search(
    request: Request, repository: RepositoryDep, q: Annotated[str, Query(min_length=1, max_length=100)]
) -> JSONResponse:
    return JSONResponse(service.search(repository, _cache(request), q))


@router.get(
    "/viewer/whoami",
    summary="Who the token belongs to and whether it may edit (the editor's sign-in)",
    **documented(WhoAmI),
)
def whoami(principal: CurrentPrincipal) -> dict:
    if principal is None:
        raise AuthError("sign in: send the token as 'Authorization: Bearer <token>'")
    return {
        "name": principal.name,
        "role": principal.role,
        "scopes": list(principal.scopes),
        "can_edit": principal.can("edit_boundaries"),
    }


@router.post(
    "/viewer/impact",
    summary="Cut compounds and grids out of the household range after a dry run's changes",
    **documented(Impact),
    openapi_extra=request_body(ImpactIn),
)
async def impact(body: Annotated[dict, Body()], repository: RepositoryDep, reader: ReadPrincipal) -> dict:
    from gridgis.editing.service import GenerationReads

    return await run_geo(service.impact, GenerationReads(repository), body)


@router.post(
    "/viewer/proposal/{community}",
    summary="A community's grids with the accepted changes of its proposal",
    **documented(FeatureCollection),
    openapi_extra=request_body(ProposalIn),
)
async def compose_proposal(
    community: str, body: Annotated[dict, Body()], repository: RepositoryDep, reader: ReadPrincipal
) -> dict:
    accepted = body.get("accepted") if isinstance(body, dict) else None
    if not isinstance(accepted, list):
        raise ValidationError('send {"accepted": [<change features of the proposal>]}')
    return await run_geo(service.compose_proposal, repository, community, accepted)


@router.get(
    "/viewer/views/{name}",
    summary="A thematic view as layers: alignment, heat (tickets) or coverage",
    **documented(ThematicView),
)
def thematic_view(
    name: Annotated[str, Path(pattern="^(alignment|heat|coverage)$")],
    repository: RepositoryDep,
    settings: SettingsDep,
    reader: ReadPrincipal,
    circle: Annotated[str, Query(pattern="^(5min|10min|15min)$")] = "15min",
    kind: Annotated[str | None, Query(max_length=40)] = None,
    roads: Annotated[
        bool,
        Query(description="coverage: walk along the configured road network (GRIDGIS_ROADS_FILE), when there is one"),
    ] = True,
) -> dict:
    return service.view(repository, name, circle, kind, roads=settings.roads_file if roads else None)
