"""Settings from the environment (``GRIDGIS_`` prefix), grouped by concern.

Built in the app factory or the CLI and passed in; never read at import time.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///gridgis.db"


class Settings(BaseSettings):
    """Everything configurable. ``GRIDGIS_DATABASE_URL=postgresql+psycopg://…`` selects PostGIS."""

    model_config = SettingsConfigDict(env_prefix="GRIDGIS_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    # a PostgreSQL streaming replica of database_url: boundary reads go there, writes to database_url;
    # a read never sees a generation older than one its caller wrote (gridgis.storage.consistency)
    database_read_url: str | None = None
    # API
    public_reads: bool = True  # reads of public layers need no token
    max_body_bytes: int = 5_000_000
    max_batch_points: int = 50_000  # a full batch of {"lon", "lat"} objects (≈ 3 MB) fits max_body_bytes
    max_geometry_vertices: int = 200_000
    max_json_depth: int = 64  # deeper JSON bodies are refused with 400 (a GeoJSON FeatureCollection is ≤ 7)
    cors_origins: list[str] = Field(default_factory=list)  # closed by default
    # routing
    snap_tolerance_m: float = 30.0
    # a routing pool: only these counties' features are indexed ("310115,310104"; empty: every county);
    # points of other counties get 421 (see docs/scaling.md, `gridgis serve --counties`)
    counties: str = ""
    # a directory the worker processes of one server share: each generation's routing index is built once,
    # written there and mapped read-only by every worker (gridgis.routing.shared); `gridgis serve` makes a
    # fresh one per run and removes it when it stops; empty: each process holds its own index in memory
    routing_shared_dir: str = ""
    prewarm_routing: bool = True  # build the current routing index when the service starts, not on the first request
    # how a served worker learns of new boundary generations: auto (LISTEN on PostGIS, poll on SQLite),
    # listen, poll (a read replica, where NOTIFY does not arrive), request (check when a request comes)
    generation_refresh: str = "auto"
    generation_poll_interval_s: float = 1.0  # the poll period (and the listener's reconnect wait)
    # editing: written vertices this close to a stored vertex are snapped onto it (QGIS writes 6 decimals)
    edit_snap_tolerance_m: float = 0.5
    # maps
    tile_source: str = "none"  # none | osm | tianditu | amap
    tianditu_key: str = ""
    # tiles: after each new generation the serving process renders every tile up to this zoom (-1: none)
    # and loads every viewer layer's index, so the first view is warm; encoded tiles kept per process
    tile_prerender_zoom: int = 12
    tile_cache_mb: int = 64
    # road lines (GeoJSON, e.g. OSM tiles' roads.geojson) the life-circle view of /map walks along; none: straight line
    roads_file: str | None = None
    log_level: str = "INFO"
    # tickets
    open311_api_keys: list[str] = Field(default_factory=list)  # empty: Open311 POSTs need no api_key
    ticket_escalation_interval_s: float = 300.0  # escalate overdue tickets in the server every N s (0: off)
    ticket_catalogue: str | None = None  # a YAML/JSON matter catalogue replacing the default one
    working_hours: str | None = None  # e.g. "08:30-12:00,13:30-17:30"
    holidays_file: str | None = None  # YAML of more years' holidays (gridgis calendar load … --commit writes it)


def get_settings(**overrides: object) -> Settings:
    """Read the settings now (from the environment), with explicit overrides."""
    return Settings(**overrides)  # type: ignore[arg-type]
