"""Dry runs share their reads per generation (the editor's repeated dry runs read the store once)."""

from __future__ import annotations

from shapely.geometry import box

from gridgis.editing import service
from gridgis.editing.follow import with_micro_grids
from gridgis.editing.operations import move_boundary
from gridgis.sample.tiny import COMMUNITY_A
from tests.support.editing import seeded_repository

G1, G2 = COMMUNITY_A + "001", COMMUNITY_A + "002"


class Counting:
    """A repository that counts its layer reads."""

    def __init__(self, repo):
        self.repo, self.reads = repo, 0

    def __getattr__(self, name):
        return getattr(self.repo, name)

    def read_layer(self, layer, **kwargs):
        self.reads += 1
        return self.repo.read_layer(layer, **kwargs)


def test_a_dry_run_reads_the_store_once_per_generation_and_sees_every_commit(tmp_path):
    repo = seeded_repository(f"sqlite:///{tmp_path / 'g.db'}")
    store = Counting(repo)
    first = service.GenerationReads(store).read_layer("grids", filters={"community_code": COMMUNITY_A})
    first.loc[first["code"] == G1, "name"] = "changed by a caller"  # a caller's change stays its own
    again = service.GenerationReads(store).read_layer("grids", filters={"community_code": COMMUNITY_A})
    assert store.reads == 1 and "changed by a caller" not in set(again["name"])
    assert service.GenerationReads(store).read_layer("grids", codes=[G1]) is not None and store.reads == 2

    grids = repo.read_layer("grids")
    edits = move_boundary(grids, G1, G2, box(116.400, 39.900, 116.403, 39.910))
    edits = with_micro_grids(edits, grids, repo.read_layer("micro_grids"), repo.read_layer("buildings"))
    service.commit(repo, edits, "planner", "move")  # a new generation: the next dry run reads it
    after = service.GenerationReads(store).read_layer("grids", filters={"community_code": COMMUNITY_A})
    assert store.reads == 3
    moved = after.set_index("code").geometry[G1]
    assert round(moved.bounds[2], 6) == 116.403
    repo.dispose()
