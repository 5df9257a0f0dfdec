"""``gridgis import`` writes into PostGIS as well as into the local file store."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gridgis.cli import app
from gridgis.io.geojson import write_geojson

pytestmark = pytest.mark.postgis


@pytest.fixture
def postgis_url():
    from gridgis.errors import StorageUnavailableError
    from gridgis.storage.testing import temporary_postgis_database

    try:
        with temporary_postgis_database(prefix="gridgis_t_io") as url:
            yield url
    except StorageUnavailableError as exc:
        pytest.skip(f"PostGIS is not reachable: {exc}")


def test_import_into_postgis_then_export_the_same_features(tmp_path, postgis_url, grids_frame):
    from gridgis.io.layer_import import import_layer
    from gridgis.storage import Repository

    path = write_geojson(grids_frame, tmp_path / "grids.geojson", crs="bd09")
    result = CliRunner().invoke(
        app,
        [
            "import",
            str(path),
            "--layer",
            "grids",
            "--database-url",
            postgis_url,
            "--author",
            "tester",
            "--skip-parent-check",
            "--commit",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    repo = Repository(postgis_url)
    try:
        stored = repo.read_layer("grids")
        assert stored["code"].tolist() == grids_frame["code"].tolist()
        assert stored["workers"].tolist() == grids_frame["workers"].tolist()
    finally:
        repo.dispose()
    out = tmp_path / "back.gpkg"
    result = CliRunner().invoke(
        app,
        ["export", "--layer", "grids", "--format", "gpkg", "--out", str(out), "--database-url", postgis_url],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    back, _ = import_layer(out, "grids", "wgs84")
    assert back["name"].tolist() == ["永安里第一网格", "永安里第二网格"]
    # BD-09 → WGS84 to 0.01 m, written with 7 decimals (≈1 cm): every vertex back within ~2 cm
    assert back.geometry.values[0].hausdorff_distance(grids_frame.geometry.values[0]) < 2e-7
