"""Cold tiles: a tile asked for before its layer is loaded is cut from the store's rows in the tile's box,
and is the very tile the loaded layer makes; background rendering gives way to tile requests."""

from __future__ import annotations

import json
import threading

import pytest
from citykit import make_city

from gridgis.errors import ValidationError
from gridgis.maps import viewer
from gridgis.maps.tiles import TileCache, tile_for

# tiles over the city's west and east communities, its edges and beyond them (empty), at every direct zoom
POINTS = ((121.505, 31.232), (121.5105, 31.237), (121.515, 31.2325), (121.4995, 31.2275), (121.53, 31.25))


def _stored(repository):
    repository.write_city(make_city(), author="tests", message="the tiny city")
    return repository


@pytest.fixture
def blocked_loads(monkeypatch):
    """Whole-layer reads wait until the test releases them; ``state`` says which started and finished."""
    release = threading.Event()
    state: dict = {"started": [], "finished": []}
    real = viewer.load_layer

    def slow(repository, layer, generation=None):
        if repository is not state.get("repository"):  # a load left running by another test
            return real(repository, layer, generation)
        state["started"].append(layer)
        release.wait(30)
        out = real(repository, layer, generation)
        state["finished"].append(layer)
        return out

    monkeypatch.setattr(viewer, "load_layer", slow)
    yield release, state
    release.set()


@pytest.mark.parametrize("layer", ["micro_grids", "grids", "compounds", "buildings", "stations"])
def test_a_cold_tile_cut_from_its_box_is_the_tile_the_loaded_layer_makes(repository, layer):
    repo = _stored(repository)
    gen = viewer.generation_key(repo)
    whole = viewer.load_layer(repo, layer, gen)
    for z in (14, 15, 16, 17):
        for lon, lat in POINTS:
            x, y = tile_for(lon, lat, z)
            for zoom in (z, z + 1):
                text, n, _ = viewer.tile(repo, TileCache(), layer, z, x, y, zoom)  # a fresh cache: nothing loaded
                data, m, _ = viewer.mvt_tile(repo, TileCache(), layer, z, x, y, zoom)
                assert (text, n) == whole.tile(z, x, y, zoom=zoom), (layer, z, x, y, zoom)
                assert (data, m) == whole.mvt(z, x, y, zoom=zoom), (layer, z, x, y, zoom)


def test_cold_tiles_of_a_sqlite_store_made_before_its_spatial_index_are_the_loaded_layers_tiles(make_repository):
    from alembic import command
    from alembic.config import Config

    from gridgis.storage.repository import MIGRATIONS

    repo = _stored(make_repository("sqlite"))
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with repo.engine.begin() as conn:  # the store as it was before the R*Tree (0007), with the city in it
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    repo.create_schema()
    gen = viewer.generation_key(repo)
    for layer in ("micro_grids", "buildings"):
        whole = viewer.load_layer(repo, layer, gen)
        for lon, lat in POINTS:
            x, y = tile_for(lon, lat, 16)
            assert viewer.tile(repo, TileCache(), layer, 16, x, y)[:2] == whole.tile(16, x, y)
            assert viewer.mvt_tile(repo, TileCache(), layer, 16, x, y)[:2] == whole.mvt(16, x, y)


def test_the_first_tile_is_answered_while_its_layer_still_loads_and_later_tiles_use_the_layer(
    repository, blocked_loads
):
    release, state = blocked_loads
    repo = state["repository"] = _stored(repository)
    cache = TileCache()
    x, y = tile_for(121.505, 31.232, 15)
    text, n, gen = viewer.tile(repo, cache, "micro_grids", 15, x, y)
    assert n > 0 and state["finished"] == [] and cache.peek(gen, "micro_grids") is None  # not waited for
    for _ in range(300):  # the layer's read starts in the background once the request is answered
        if state["started"]:
            break
        threading.Event().wait(0.05)
    assert state["started"] == ["micro_grids"] and state["finished"] == []
    release.set()
    for _ in range(300):
        if cache.peek(gen, "micro_grids") is not None:
            break
        threading.Event().wait(0.1)
    loaded = cache.peek(gen, "micro_grids")
    assert loaded is not None and state["finished"] == ["micro_grids"]  # loaded once, in the background
    assert viewer.tile(repo, cache, "micro_grids", 15, x, y) == (text, n, gen)
    x2, y2 = tile_for(121.515, 31.2325, 16)
    assert viewer.mvt_tile(repo, cache, "micro_grids", 16, x2, y2)[:2] == loaded.mvt(16, x2, y2)
    assert state["started"] == ["micro_grids"]


def test_low_zoom_and_shifted_tiles_still_wait_for_their_layer_and_bad_zooms_read_nothing(repository):
    repo = _stored(repository)
    cache = TileCache()
    x, y = tile_for(121.505, 31.232, 13)
    viewer.tile(repo, cache, "grids", 13, x, y)  # below the direct zoom: the layer is simplified whole
    gen = viewer.generation_key(repo)
    assert cache.peek(gen, "grids") is not None
    x, y = tile_for(121.505, 31.232, 15)
    viewer.tile(repo, cache, "compounds", 15, x, y, system="gcj02")  # a shifted grid: the layer, shifted
    assert cache.peek(gen, "compounds") is not None
    empty, n, _ = viewer.tile(repo, cache, "buildings", 15, x, y)  # below the layer's zoom: empty, no read
    assert n == 0 and json.loads(empty)["features"] == [] and cache.peek(gen, "buildings") is None
    with pytest.raises(ValidationError):
        viewer.mvt_tile(repo, cache, "micro_grids", 16, x, y, zoom=15)
    assert cache.peek(gen, "micro_grids") is None


def test_background_rendering_waits_while_a_tile_request_is_under_way():
    cache = TileCache()
    done = threading.Event()

    def renderer() -> None:
        cache.wait_idle(most_s=30)
        done.set()

    with cache.serving():
        thread = threading.Thread(target=renderer)
        thread.start()
        assert not done.wait(0.3)  # a request is under way: the renderer waits
    assert done.wait(10)  # the request answered: it goes on
    thread.join()
