"""Helpers for tests and benchmarks that need a real database: throw-away PostGIS databases::

    from gridgis.storage.testing import temporary_postgis_database

    with temporary_postgis_database("postgresql+psycopg://postgres@127.0.0.1:5432/x") as url:
        repo = Repository(url)
        repo.create_schema()

Each database gets a unique name (``<prefix>_<pid>_<random>``), so parallel runs never share
one, and is dropped (``WITH (FORCE)``) when the block ends, even after a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from gridgis.errors import StorageUnavailableError

DEFAULT_POSTGIS_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/gridgis_test"


def test_postgis_url() -> str:
    """``GRIDGIS_TEST_POSTGIS_URL`` or the default local test server."""
    return os.environ.get("GRIDGIS_TEST_POSTGIS_URL") or DEFAULT_POSTGIS_URL


test_postgis_url.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def _conninfo(url: sa.URL, database: str) -> str:
    return url.set(drivername="postgresql", database=database).render_as_string(hide_password=False)


def _admin(url: sa.URL):
    import psycopg

    try:
        return psycopg.connect(_conninfo(url, "postgres"), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as err:
        raise StorageUnavailableError(
            f"cannot reach the PostgreSQL server of {url.render_as_string(hide_password=True)} to create a test "
            "database; start it or set GRIDGIS_TEST_POSTGIS_URL"
        ) from err


def create_database(base_url: str, name: str, template: str | None = None, postgis: bool = True) -> str:
    """Create database ``name`` on the server of ``base_url`` (from ``template`` when given); its URL."""
    from psycopg import sql

    url = sa.make_url(base_url)
    with _admin(url) as admin:
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
        admin.execute(stmt)
    if postgis and not template:
        import psycopg

        with psycopg.connect(_conninfo(url, name), autocommit=True, connect_timeout=5) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(base_url: str, name: str) -> None:
    """Drop database ``name`` (closing its connections first); no error when it is gone."""
    from psycopg import sql

    with _admin(sa.make_url(base_url)) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def unique_name(prefix: str = "gridgis_t") -> str:
    """A database name no other run uses: ``<prefix>_<pid>_<8 hex>``."""
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}".lower()


@contextmanager
def temporary_postgis_database(
    base_url: str | None = None, prefix: str = "gridgis_t", template: str | None = None
) -> Iterator[str]:
    """A fresh database with PostGIS on the server of ``base_url``, dropped afterwards; yields its URL.

    ``template`` copies an existing database (fast: the schema need not be created again).
    Raises :class:`~gridgis.errors.StorageUnavailableError` when the server cannot be reached.
    """
    base = base_url or test_postgis_url()
    name = unique_name(prefix)
    url = create_database(base, name, template=template)
    try:
        yield url
    finally:
        drop_database(base, name)


@contextmanager
def postgis_template(base_url: str | None = None, prefix: str = "gridgis_tmpl") -> Iterator[str]:
    """A database with PostGIS and the gridgis schema at head, to copy with ``template=``; yields its name.

    Every connection to it is closed before it is yielded (PostgreSQL copies only idle templates).
    """
    from gridgis.storage.repository import Repository

    with temporary_postgis_database(base_url, prefix=prefix) as url:
        repo = Repository(url)
        try:
            repo.create_schema()
        finally:
            repo.dispose()
        yield str(sa.make_url(url).database)


def tiny_city() -> dict:
    """A small, valid city with every layer (Chinese names, JSON fields, a hole, a multipolygon).

    One street, one community, two grids, two micro-grids, two compounds (one with a courtyard
    hole, one in two parts), two buildings and two stations near Beijing (EPSG:4326). For tests
    of code that needs a store with something in it.
    """
    import geopandas as gpd
    from shapely.geometry import MultiPolygon, Point, Polygon, box

    def frame(records: list[dict], geoms: list) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(records, geometry=geoms, crs="EPSG:4326")

    street = "110105001000"
    community = "110105001001"
    grid1, grid2 = community + "001", community + "002"
    courtyard = Polygon(
        box(116.401, 39.901, 116.409, 39.909).exterior.coords, [box(116.404, 39.904, 116.406, 39.906).exterior.coords]
    )
    two_parts = MultiPolygon([box(116.426, 39.901, 116.43, 39.905), box(116.432, 39.901, 116.436, 39.905)])
    workers = [
        {"name": "张伟", "role": "full_time", "phone": "13800000001"},
        {"name": "李娜", "role": "part_time", "phone": "13800000002"},
    ]
    return {
        "streets": frame(
            [{"code": street, "name": "朝外街道", "district": "朝阳区", "households": 2400, "population": 6000}],
            [box(116.40, 39.90, 116.50, 39.96)],
        ),
        "communities": frame(
            [{"code": community, "name": "吉祥里社区", "street_code": street, "households": 1800, "population": 4500}],
            [box(116.40, 39.90, 116.45, 39.95)],
        ),
        "grids": frame(
            [
                {
                    "code": grid1,
                    "name": "吉祥里第一网格",
                    "community_code": community,
                    "kind": "basic",
                    "households": 420,
                    "population": 1000,
                    "workers": workers,
                },
                {
                    "code": grid2,
                    "name": "吉祥里第二网格（学校）",
                    "community_code": community,
                    "kind": "dedicated",
                    "dedicated_for": "school",
                    "households": 310,
                    "population": 800,
                    "workers": [],
                },
            ],
            [box(116.40, 39.90, 116.425, 39.95), box(116.425, 39.90, 116.45, 39.95)],
        ),
        "micro_grids": frame(
            [
                {
                    "code": grid1 + "01",
                    "name": "第一微网格",
                    "grid_code": grid1,
                    "households": 200,
                    "workers": [{"name": "王芳", "role": "auxiliary"}],
                },
                {"code": grid1 + "02", "name": "第二微网格", "grid_code": grid1, "households": 220, "workers": []},
            ],
            [box(116.40, 39.90, 116.425, 39.925), box(116.40, 39.925, 116.425, 39.95)],
        ),
        "compounds": frame(
            [
                {
                    "code": community + "Q001",
                    "name": "幸福家园",
                    "community_code": community,
                    "kind": "residential",
                    "households": 600,
                    "has_property_management": True,
                    "has_owners_committee": True,
                    "boundary_clear": True,
                    "address": "朝外大街1号",
                },
                {
                    "code": community + "Q002",
                    "name": "纺织厂宿舍",
                    "community_code": community,
                    "kind": "work_unit",
                    "households": 150,
                    "has_property_management": False,
                    "has_owners_committee": False,
                    "boundary_clear": False,
                },
            ],
            [courtyard, two_parts],
        ),
        "buildings": frame(
            [
                {
                    "code": community + "Q001B001",
                    "name": "1号楼",
                    "compound_code": community + "Q001",
                    "community_code": community,
                    "number": "1号楼",
                    "households": 72,
                    "units": 3,
                    "floors": 6,
                },
                {
                    "code": community + "Q000B001",
                    "name": "独栋",
                    "compound_code": None,
                    "community_code": community,
                    "number": "甲1号",
                    "households": 12,
                    "units": 1,
                    "floors": 4,
                },
            ],
            [box(116.402, 39.902, 116.403, 39.903), box(116.44, 39.94, 116.441, 39.941)],
        ),
        "stations": frame(
            [
                {
                    "code": community + "S001",
                    "name": "吉祥里党群服务中心",
                    "kind": "party_mass_centre",
                    "level": "community",
                    "area_code": community,
                    "opening_hours": "周一至周五 9:00-17:00",
                    "services": ["政策咨询", "证明开具"],
                    "contact": "010-85000000",
                    "address": "吉祥里5号",
                },
                {
                    "code": street + "S001",
                    "name": "朝外小蜜蜂驿站",
                    "kind": "courier_station",
                    "level": "street",
                    "area_code": street,
                    "services": ["休息", "饮水", "充电"],
                },
            ],
            [Point(116.41, 39.91), Point(116.46, 39.93)],
        ),
    }


def empty_database(url: str) -> None:
    """Remove every row of every gridgis table (not the schema, not PostGIS's own tables).

    Id sequences restart at 1, so a test sees the ids a new database would give. Rows are
    deleted with foreign-key triggers off (``session_replication_role = replica``, which needs
    a superuser — the test server's ``postgres``); without that right it falls back to the
    slower ``TRUNCATE``. Much faster than creating a database per test.
    """
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            names = (
                conn.execute(
                    sa.text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                        "AND tablename NOT IN ('alembic_version', 'spatial_ref_sys')"
                    )
                )
                .scalars()
                .all()
            )
            sequences = (
                conn.execute(
                    sa.text(
                        "SELECT sequence_name FROM information_schema.sequences "
                        "WHERE sequence_schema = current_schema()"
                    )
                )
                .scalars()
                .all()
            )
            quote = conn.dialect.identifier_preparer.quote
            conn.rollback()
            try:
                with conn.begin():
                    conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
                    for name in names:
                        conn.execute(sa.text(f"DELETE FROM {quote(name)}"))
                    for seq in sequences:
                        conn.execute(sa.text(f"ALTER SEQUENCE {quote(seq)} RESTART WITH 1"))
            except sa.exc.ProgrammingError:
                conn.rollback()
                with conn.begin():
                    if names:
                        conn.execute(sa.text(f"TRUNCATE {', '.join(quote(n) for n in names)} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()
