"""The schema: Alembic migrations inside the package, idempotent, linear, PostGIS types and indexes."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from gridgis.storage import Repository
from gridgis.storage.repository import MIGRATIONS
from tests.support.storage import temporary_postgis_database


def _script() -> ScriptDirectory:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg)


def test_migrations_form_one_line_from_0001():
    script = _script()
    assert len(script.get_heads()) == 1, "two migrations share a down_revision: give one the other's id"
    assert script.get_base() == "0001"
    revisions = [r.revision for r in script.walk_revisions()]
    assert revisions[-1] == "0001" and len(set(revisions)) == len(revisions)


def test_create_schema_upgrades_to_head_and_is_idempotent(repository):
    head = _script().get_current_head()
    assert repository.schema_revision() == head
    repository.create_schema()
    assert repository.schema_revision() == head
    tables = set(sa.inspect(repository.engine).get_table_names())
    assert {"generations", "features", "alembic_version"} <= tables


def test_one_current_row_per_feature_is_enforced_by_the_database(repository):
    from datetime import UTC, datetime

    from shapely.geometry import box

    from gridgis.storage.schema import features, generations

    row = {
        "layer": "grids",
        "code": "110105001001001",
        "name": "x",
        "parent_code": None,
        "properties": {},
        "geometry": box(116.4, 39.9, 116.5, 40.0),
        "min_lon": 116.4,
        "min_lat": 39.9,
        "max_lon": 116.5,
        "max_lat": 40.0,
        "generation_low": 1,
        "generation_high": None,
        "version": 1,
    }
    with repository.session() as s:
        s.execute(generations.insert().values(id=1, created_at=datetime.now(UTC), author="t", message=""))
        s.execute(features.insert().values(**row))
    with pytest.raises(sa.exc.IntegrityError), repository.session() as s:
        s.execute(features.insert().values(**{**row, "version": 2}))


@pytest.mark.postgis
def test_postgis_geometry_has_srid_4326_and_a_gist_index(make_repository):
    repo = make_repository("postgis")
    with repo.engine.connect() as conn:
        srid, kind = conn.execute(
            sa.text("SELECT srid, type FROM geometry_columns WHERE f_table_name = 'features'")
        ).one()
        using = conn.execute(
            sa.text(
                "SELECT am.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_am am ON am.oid = c.relam WHERE c.relname = 'ix_features_geometry'"
            )
        ).scalar_one()
    assert (srid, kind, using) == (4326, "GEOMETRY", "gist")


@pytest.mark.postgis
def test_workers_creating_the_schema_at_once_do_not_collide(postgis_server):
    with temporary_postgis_database(postgis_server) as url:
        repos = [Repository(url) for _ in range(3)]
        errors: list[BaseException] = []

        def create(repo: Repository) -> None:
            try:
                repo.create_schema()
            except BaseException as err:  # noqa: BLE001 - collected and asserted below
                errors.append(err)

        threads = [threading.Thread(target=create, args=(r,)) for r in repos]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        try:
            assert errors == []
            assert repos[0].schema_revision() == _script().get_current_head()
        finally:
            for r in repos:
                r.dispose()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_every_migration_downgrades_and_upgrades_again(make_repository, backend):
    from alembic import command

    repo = make_repository(backend, fresh=True)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with repo.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(sa.inspect(repo.engine).get_table_names()) <= {"alembic_version", "spatial_ref_sys"}
    repo.create_schema()
    assert repo.schema_revision() == _script().get_current_head()
    assert repo.counts()["grids"] == 0


def test_the_roads_reference_tables_exist_at_head_with_their_spatial_index(repository):
    """Migration 0006: ``road_imports`` and ``roads`` (gridgis.storage.roads), GiST on PostGIS."""
    inspector = sa.inspect(repository.engine)
    assert {"road_imports", "roads"} <= set(inspector.get_table_names())
    columns = {c["name"] for c in inspector.get_columns("roads")}
    assert {"import_id", "way_id", "name", "kind", "kind_detail", "highway", "fclass", "geometry"} <= columns
    if repository.is_postgis:
        with repository.engine.connect() as conn:
            srid = conn.execute(sa.text("SELECT srid FROM geometry_columns WHERE f_table_name = 'roads'")).scalar_one()
            using = conn.execute(
                sa.text(
                    "SELECT am.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                    "JOIN pg_am am ON am.oid = c.relam WHERE c.relname = 'ix_roads_geometry'"
                )
            ).scalar_one()
        assert (srid, using) == (4326, "gist")
