"""API routes: the web viewer (``/map``), its tiles and the self-hosted assets under ``/static``.

Thin: parse, call :mod:`gridgis.maps.viewer`, answer. Every asset is served by gridgis
itself (Leaflet from the installed ``xstatic-leaflet`` package), so the viewer works on a
network with no internet.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from gridgis.api.deps import RepositoryDep, SettingsDep
from gridgis.api.schemas.common import documented
from gridgis.api.schemas.viewer import Located, Related, SearchHits, Tile, ViewerMeta
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
    cache = getattr(request.app.state, "tile_cache", None)
    if cache is None:
        cache = request.app.state.tile_cache = TileCache()
    return cache


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


def setup(app: FastAPI) -> None:
    """Leaflet (cleaned of outside links, gzipped when the browser accepts it) first, then the kit under ``/static``."""

    @app.get("/static/vendor/leaflet.js", include_in_schema=False)
    def leaflet_js(request: Request) -> Response:
        return _vendor(request, "js", "text/javascript; charset=utf-8")

    @app.get("/static/vendor/leaflet.css", include_in_schema=False)
    def leaflet_css(request: Request) -> Response:
        return _vendor(request, "css", "text/css; charset=utf-8")

    app.mount("/static", StaticFiles(directory=assets.STATIC_DIR), name="static")


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
    service.warm_in_background(repository, _cache(request))
    return service.meta(repository, settings.tile_source, settings.tianditu_key)


@router.get(
    "/tiles/{layer}/{z}/{x}/{y}.geojson",
    summary="A GeoJSON tile, simplified for its zoom level",
    **documented(Tile, media_type="application/geo+json"),
)
def geojson_tile(
    request: Request,
    repository: RepositoryDep,
    layer: LayerName,
    z: Annotated[int, Path(ge=0, le=MAX_ZOOM)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
    zoom: Annotated[
        int | None,
        Query(ge=0, le=MAX_ZOOM, description="display zoom to simplify for (default z; z+2 makes a 1,024-px tile)"),
    ] = None,
    crs: Annotated[Literal["wgs84", "gcj02"], Query(description="gcj02 lines up with AMap tiles")] = "wgs84",
) -> Response:
    text, count, gen = service.tile(repository, _cache(request), layer, z, x, y, zoom, crs)
    etag = f'"g{gen}-{layer}-{z}-{x}-{y}-{zoom if zoom is not None else z}-{crs}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    body = text.encode("utf-8")
    if len(body) > 1400 and "gzip" in request.headers.get("accept-encoding", ""):
        body = gzip.compress(body, compresslevel=5)
        headers["Content-Encoding"] = "gzip"
    headers["X-Feature-Count"] = str(count)
    return Response(body, media_type="application/geo+json", headers=headers)


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
