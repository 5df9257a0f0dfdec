"""Applying a proposal writes the grids and their re-split micro-grids in one generation.

On the sample city (data/geojson) loaded into a store: after apply, the hierarchy check finds no
micro-grid that fails to nest in (or cover) its grid, on SQLite and on PostGIS.
"""

from __future__ import annotations

import pytest
import shapely

from gridgis.alignment.apply import apply_proposal, load_community
from gridgis.alignment.propose import propose_alignment
from gridgis.io import read_city
from gridgis.layers.hierarchy import check_city

COMMUNITY = "310115008013"  # three grids, two of them cut by compound lines in the sample city


def _micro_problems(city) -> list:
    """Problems of micro-grids against their grids: gaps, overlaps, edges, orphans, outside parent."""
    report = check_city(city)
    return [p for p in report.problems if p.layer == "micro_grids" or (p.layer == "grids" and p.kind == "coverage_gap")]


def _load_sample(repo, sample_dir) -> None:
    city = read_city(sample_dir)
    city.pop("tickets", None)
    repo.write_city(city, author="test", message="sample city")


def _propose(repo):
    layers = load_community(repo, COMMUNITY)
    return propose_alignment(layers["compounds"], layers["grids"], layers["buildings"], layers["communities"])


def _apply_and_check(repo, sample_dir) -> None:
    _load_sample(repo, sample_dir)
    assert _micro_problems(repo.read_city()) == []
    micro_before = repo.read_layer("micro_grids").set_index("code")
    gens = len(repo.generations())

    dry = apply_proposal(repo, COMMUNITY, _propose(repo), "规划员")
    assert dry.dry_run and dry.generation is None and len(repo.generations()) == gens
    changed = {c["code"] for c in dry.changes if c["op"] == "replace"}
    assert changed, "the sample community should have grids that change"
    assert dry.micro_grid_changes and {m["grid_code"] for m in dry.micro_grid_changes} <= changed
    assert "micro_grid_changes" in dry.to_dict()

    # the old micro-grids do not nest in the new grids: applying grids alone would break the store
    proposal = _propose(repo)
    grids_only = {**repo.read_city(), "grids": proposal.grids[proposal.grids["community_code"] == COMMUNITY]}
    assert _micro_problems(grids_only)

    done = apply_proposal(repo, COMMUNITY, proposal, "规划员", "拉平对齐", commit=True)
    assert done.generation is not None and len(repo.generations()) == gens + 1
    city = repo.read_city()
    assert _micro_problems(city) == []

    micro = city["micro_grids"]
    grids = city["grids"].set_index("code")
    for code in changed:
        mine = micro[micro["grid_code"] == code]
        assert len(mine) >= 1 and mine["code"].str.fullmatch(code + r"\d{2}").all()
        union = shapely.union_all(mine.to_crs(3857).geometry.values)
        grid = grids.loc[[code]].to_crs(3857).geometry.iloc[0]
        assert shapely.area(shapely.symmetric_difference(union, grid)) < 1.0
    # micro-grids of grids that did not change are untouched (same version, same lines)
    after = micro.set_index("code")
    kept = [c for c in micro_before.index if micro_before.loc[c, "grid_code"] not in changed]
    assert kept and all(after.loc[c, "version"] == micro_before.loc[c, "version"] for c in kept)
    # the micro-grids that went away were retired, not left behind
    retired = {m["code"] for m in done.micro_grid_changes if m["op"] == "delete"}
    assert not retired & set(after.index)

    again = apply_proposal(repo, COMMUNITY, _propose(repo), "规划员")
    assert again.changes == [] and again.micro_grid_changes == []


def test_apply_resplits_micro_grids_in_the_same_generation_on_sqlite(make_repository, sample_dir):
    _apply_and_check(make_repository("sqlite"), sample_dir)


@pytest.mark.postgis
def test_apply_resplits_micro_grids_in_the_same_generation_on_postgis(make_repository, sample_dir):
    _apply_and_check(make_repository("postgis"), sample_dir)


def _apply_then_propose_on_the_store_changes_nothing(repo, sample_dir, out) -> None:
    """A planner applies the proposal (``gridgis align apply --commit``: the editing service stores
    it, noding the family) and proposes again on the stored layers: nothing may move."""
    import geopandas as gpd
    from typer.testing import CliRunner

    from gridgis.cli import app

    def invoke(*args):
        return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)

    _load_sample(repo, sample_dir)
    r = invoke("align", "propose", "--database-url", repo.url, "--community", COMMUNITY, "--out", out / "before")
    assert r.exit_code == 0, r.output
    assert len(gpd.read_file(out / "before" / "changes.geojson")), "the sample community should change"
    gens = len(repo.generations())
    r = invoke("align", "apply", "--community", COMMUNITY, "--database-url", repo.url, "--author", "规划员", "--commit")
    assert r.exit_code == 0, r.output
    assert len(repo.generations()) == gens + 1
    r = invoke("align", "propose", "--database-url", repo.url, "--community", COMMUNITY, "--out", out / "after")
    assert r.exit_code == 0, r.output
    assert "pieces moving: 0;" in r.output, r.output
    assert len(gpd.read_file(out / "after" / "changes.geojson")) == 0
    # and the proposal written there is the stored generation up to the 7 decimals of the file: no
    # line moved further than a storage step
    from gridgis.crs import STORAGE_RESOLUTION_M, metric_crs_for

    stored = repo.read_layer("grids", filters={"community_code": COMMUNITY}).set_index("code")
    crs = metric_crs_for(stored)
    written = gpd.read_file(out / "after" / "grids.geojson")
    written = written[written["community_code"] == COMMUNITY].set_index("code").to_crs(crs)
    assert sorted(written.index) == sorted(stored.index)
    apart = shapely.hausdorff_distance(written.geometry.values, stored.loc[written.index].to_crs(crs).geometry.values)
    assert (apart < STORAGE_RESOLUTION_M).all(), dict(zip(written.index, apart))


def test_proposing_again_after_align_apply_changes_nothing_on_sqlite(make_repository, sample_dir, tmp_path):
    _apply_then_propose_on_the_store_changes_nothing(make_repository("sqlite"), sample_dir, tmp_path)


@pytest.mark.postgis
def test_proposing_again_after_align_apply_changes_nothing_on_postgis(make_repository, sample_dir, tmp_path):
    _apply_then_propose_on_the_store_changes_nothing(make_repository("postgis"), sample_dir, tmp_path)
