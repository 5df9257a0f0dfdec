"""``gridgis align analyze|propose|apply`` and ``gridgis microgrid split``: a thin shell over
:mod:`gridgis.alignment`, on files (any vector file gridgis reads, with an explicit ``--crs``) or on
the store (``--database-url``, ``--community``).

Outputs (``--out DIR``): ``grids.geojson`` (proposed grids), ``changes.geojson`` (pieces that move,
from/to grid), ``report.json`` (figures before and after), ``problems.geojson`` (problem pieces).
Exit codes: 0 done, 2 bad input.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import typer
from rich.table import Table

from gridgis.cli.common import console, open_repository, progress
from gridgis.layers.grid import HOUSEHOLD_RANGE as GRID_HOUSEHOLDS
from gridgis.layers.micro_grid import HOUSEHOLD_RANGE as MICRO_GRID_HOUSEHOLDS

align_app = typer.Typer(
    help="拉平对齐 Align grid lines to compound boundaries: analyze, propose, apply.", no_args_is_help=True
)
microgrid_app = typer.Typer(help="微网格 Split grids into micro-grids of whole buildings.", no_args_is_help=True)

_COMPOUNDS = typer.Option(None, "--compounds", help="compounds file (GeoJSON, GeoPackage, Shapefile)")
_GRIDS = typer.Option(None, "--grids", help="grids file; without it the layers come from the store")
_BUILDINGS = typer.Option(None, "--buildings", help="buildings file with households (optional)")
_COMMUNITIES = typer.Option(None, "--communities", help="communities file; default: the union of the grids")
_TICKETS = typer.Option(None, "--tickets", help="tickets file (points): open tickets that would change grid")
_ROADS = typer.Option(
    None,
    "--roads",
    help="road centre lines (OSM/Tilezen lines, e.g. roads.geojson; its CRS as the other files'): open land is "
    "divided along streets before the Voronoi lines between compounds (service roads and footways ignored); "
    "on the store, without it the stored roads (`gridgis import FILE --layer roads`) are used",
)
_CRS = typer.Option(
    None,
    "--crs",
    help="CRS of the files: wgs84, cgcs2000, gcj02, bd09 or EPSG:n; never guessed: needed when a file does not "
    "say (CSV), else the file's own (GeoJSON: WGS84 per RFC 7946)",
)
_DB = typer.Option(None, "--database-url", help="the store (default GRIDGIS_DATABASE_URL)")
_COMMUNITY = typer.Option(None, "--community", help="community code (12 digits) when reading the store")
_OUT = typer.Option(Path("alignment-out"), "--out", help="output folder")
_MIN = typer.Option(GRID_HOUSEHOLDS[0], "--min-households", help="fewest households per grid")
_MAX = typer.Option(GRID_HOUSEHOLDS[1], "--max-households", help="most households per grid")
_LARGE = typer.Option(
    None,
    "--large-compound",
    help="households above which a compound may be split along buildings (default: --max-households)",
)
_REBALANCE = typer.Option(True, "--rebalance/--no-rebalance", help="move whole compounds to even out households")
_SPLIT_MERGE = typer.Option(
    True,
    "--split-merge/--no-split-merge",
    help="split an over-full grid in two (new code) or merge an under-full one into its "
    "smallest neighbour when moving compounds is not enough",
)


def _read_file(path: Path | None, crs: str | None) -> gpd.GeoDataFrame | None:
    """A layer file in EPSG:4326, its CRS decided by :func:`gridgis.io.source.resolve_crs` (never guessed)."""
    if path is None:
        return None
    from gridgis.errors import NotFoundError
    from gridgis.io import read_features

    if not path.exists():
        raise NotFoundError(f"{path}: no such file")
    frame, _, _ = read_features(path, crs)
    return frame.drop(columns=[c for c in frame.columns if c.startswith("_")])


def _read_roads(path: Path | None, crs: str | None) -> gpd.GeoDataFrame | None:
    """The roads file in EPSG:4326 (:func:`gridgis.alignment.roads.read_roads`; a file that does not
    say its CRS needs ``--crs``)."""
    if path is None:
        return None
    from gridgis.alignment.roads import read_roads
    from gridgis.errors import NotFoundError

    if not path.exists():
        raise NotFoundError(f"{path}: no such file")
    return read_roads(path, crs)


def load_inputs(
    compounds: Path | None,
    grids: Path | None,
    buildings: Path | None,
    communities: Path | None,
    tickets: Path | None,
    crs: str | None,
    database_url: str | None,
    community: str | None,
) -> dict[str, Any]:
    """The layers from files (when ``--grids`` is given) or from the store (one community or all); from
    the store also its roads around them (:func:`gridgis.alignment.roads.stored_roads`, ``None`` without)."""
    from gridgis.errors import ValidationError

    if grids is not None:
        if compounds is None:
            raise ValidationError("--compounds is required with --grids (the compounds to align to)")
        return {
            "compounds": _read_file(compounds, crs),
            "grids": _read_file(grids, crs),
            "buildings": _read_file(buildings, crs),
            "communities": _read_file(communities, crs),
            "tickets": _read_file(tickets, crs),
        }
    repo = open_repository(database_url)
    if community:
        from gridgis.alignment.apply import load_community

        out: dict[str, Any] = load_community(repo, community)
    else:
        out = {layer: repo.read_layer(layer) for layer in ("communities", "compounds", "buildings", "grids")}
    from gridgis.alignment.roads import stored_roads

    out["roads"] = stored_roads(repo, out["communities"] if community else None)
    out["tickets"] = _read_file(tickets, crs)
    out["repository"] = repo
    return out


def _config(min_households: int, max_households: int, large: int | None, rebalance: bool, split_merge: bool = True):
    from gridgis.alignment.config import AlignmentConfig

    return AlignmentConfig(
        household_min=min_households,
        household_max=max_households,
        large_compound_households=large,
        rebalance=rebalance,
        split_merge=split_merge,
    )


def summary_table(before: dict[str, Any], after: dict[str, Any] | None = None, title: str = "") -> Table:
    """Counts of cases and cut compounds, before (and after) alignment."""
    table = Table(title=title or "拉平对齐 alignment")
    table.add_column("指标 figure")
    table.add_column("现状 before", justify="right")
    if after is not None:
        table.add_column("建议 after", justify="right")
    rows = [
        ("小区 compounds", "compounds"),
        ("被切割小区 cut compounds (all)", "cut_compounds"),
        ("被切割的小型小区 small compounds cut", "small_cut_compounds"),
    ]
    for label, key in rows:
        table.add_row(label, f"{before[key]:,}", *([f"{after[key]:,}"] if after else []))
    from gridgis.alignment.classify import CASES, STATUSES

    for key, n in before["cases"].items():
        table.add_row(f"{CASES[key]} {key}", f"{n:,}", *([f"{after['cases'][key]:,}"] if after else []))
    for key, n in before["statuses"].items():
        table.add_row(f"小区{STATUSES[key]} {key}", f"{n:,}", *([f"{after['statuses'][key]:,}"] if after else []))
    return table


def _run_analyze(layers: dict[str, Any], config) -> Any:
    from gridgis.alignment.report import analyze

    return analyze(layers["compounds"], layers["grids"], layers.get("buildings"), layers.get("communities"), config)


def _propose(layers: dict[str, Any], config, quiet: bool = False) -> Any:
    from gridgis.alignment.propose import propose_alignment

    if quiet:
        return propose_alignment(
            layers["compounds"],
            layers["grids"],
            layers.get("buildings"),
            layers.get("communities"),
            layers.get("tickets"),
            config,
            roads=layers.get("roads"),
        )
    with progress() as bar:
        task = bar.add_task("对齐 aligning communities", total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return propose_alignment(
            layers["compounds"],
            layers["grids"],
            layers.get("buildings"),
            layers.get("communities"),
            layers.get("tickets"),
            config,
            on_progress=step,
            roads=layers.get("roads"),
        )


def write_proposal(out: Path, proposal, before, after) -> dict[str, Path]:
    """Write grids.geojson, changes.geojson, report.json and problems.geojson (of the proposal) to ``out``."""
    from gridgis.alignment.report import proposal_report, write_json, write_layer

    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "grids": write_layer(proposal.grids, out / "grids.geojson"),
        "changes": write_layer(proposal.changes, out / "changes.geojson"),
        "report": write_json(proposal_report(before, after, proposal), out / "report.json"),
        "problems": write_layer(after.problems, out / "problems.geojson"),
    }
    return paths


def _analyze_cmd(
    compounds: Path = _COMPOUNDS,
    grids: Path = _GRIDS,
    buildings: Path = _BUILDINGS,
    communities: Path = _COMMUNITIES,
    crs: str | None = _CRS,
    database_url: str = _DB,
    community: str = _COMMUNITY,
    out: Path = _OUT,
    min_households: int = _MIN,
    max_households: int = _MAX,
    large_compound: int = _LARGE,
    gpkg: bool = typer.Option(False, "--gpkg", help="also write problems.gpkg (GeoPackage)"),
    as_json: bool = typer.Option(False, "--json", help="print the city figures as JSON"),
) -> None:
    """分析 Analyse: overlaps, the three cases, cut compounds, coverage; writes report.json and problems.geojson."""
    from gridgis.alignment.report import write_json, write_layer

    config = _config(min_households, max_households, large_compound, True)
    with progress() as bar:
        task = bar.add_task("读取 reading", total=2)
        layers = load_inputs(compounds, grids, buildings, communities, None, crs, database_url, community)
        bar.update(task, advance=1, description="分析 analysing")
        analysis = _run_analyze(layers, config)
        bar.update(task, advance=1)
    out.mkdir(parents=True, exist_ok=True)
    write_json(analysis.report(), out / "report.json")
    write_layer(analysis.problems, out / "problems.geojson")
    if gpkg:
        write_layer(analysis.problems, out / "problems.gpkg")
    if as_json:
        typer.echo(json.dumps(analysis.summary(), ensure_ascii=False, indent=1))
    else:
        console.print(summary_table(analysis.summary(), title="现状分析 analysis"))
        console.print(
            f"report: {out / 'report.json'}  problems: {out / 'problems.geojson'} ({len(analysis.problems)} pieces)"
        )


def _propose_cmd(
    compounds: Path = _COMPOUNDS,
    grids: Path = _GRIDS,
    buildings: Path = _BUILDINGS,
    communities: Path = _COMMUNITIES,
    tickets: Path = _TICKETS,
    crs: str | None = _CRS,
    database_url: str = _DB,
    community: str = _COMMUNITY,
    out: Path = _OUT,
    min_households: int = _MIN,
    max_households: int = _MAX,
    large_compound: int = _LARGE,
    rebalance: bool = _REBALANCE,
    split_merge: bool = _SPLIT_MERGE,
    roads: Path | None = _ROADS,
) -> None:
    """建议 Propose grids that follow compound boundaries; writes grids, changes, report and problems."""
    config = _config(min_households, max_households, large_compound, rebalance, split_merge)
    road_frame = _read_roads(roads, crs)
    layers = load_inputs(compounds, grids, buildings, communities, tickets, crs, database_url, community)
    if road_frame is not None:  # --roads FILE overrides the store's roads
        layers["roads"] = road_frame
    if layers.get("roads") is not None:
        console.print(
            f"道路 roads: {len(layers['roads'])} lines " + ("from " + str(roads) if roads else "from the store")
        )
    before = _run_analyze(layers, config)
    proposal = _propose(layers, config)
    after = _run_analyze({**layers, "grids": proposal.grids}, config)
    paths = write_proposal(out, proposal, before, after)
    console.print(summary_table(before.summary(), after.summary(), title="拉平对齐建议 proposal"))
    cov = proposal.coverage_after
    console.print(
        f"coverage valid: {cov.coverage_valid}, gaps {len(cov.gaps)}, overlaps {len(cov.overlaps)}; "
        f"pieces moving: {len(proposal.changes)}; grids explained: {len(proposal.explanations)}"
    )
    pp = proposal.compactness
    if pp:
        console.print(
            f"紧凑度 compactness (Polsby–Popper 4πA/P², median): {pp['median_before']:.3f} → "
            f"{pp['median_after']:.3f} (×{pp['median_ratio']:.2f})"
        )
    for st in proposal.restructured:
        console.print(
            f"拆分 split {st['grid']} → {st['grid']} ({st['households_kept']}) + {st['new_grid']} "
            f"({st['households_new']})"
            if st["op"] == "split"
            else f"合并 merged {st['grid']} ({st['households']}) into {st['into']} ({st['households_into']})"
        )
    console.print("written: " + ", ".join(str(p) for p in paths.values()))


def _apply_cmd(
    community: str = typer.Option(..., "--community", help="community code (12 digits)"),
    database_url: str = _DB,
    author: str = typer.Option(None, "--author", help="who applies it (default: the OS user)"),
    message: str = typer.Option("", "--message", help="why (recorded on the generation)"),
    commit: bool = typer.Option(False, "--commit", help="write it; without, a dry run"),
    out: Path = typer.Option(None, "--out", help="also write the proposal files here"),
    min_households: int = _MIN,
    max_households: int = _MAX,
    large_compound: int = _LARGE,
    rebalance: bool = _REBALANCE,
    split_merge: bool = _SPLIT_MERGE,
    roads: Path | None = _ROADS,
) -> None:
    """应用 Propose for one community of the store and apply it as a new generation (dry run unless --commit)."""
    from gridgis.alignment.apply import apply_proposal

    config = _config(min_households, max_households, large_compound, rebalance, split_merge)
    road_frame = _read_roads(roads, None)
    layers = load_inputs(None, None, None, None, None, "wgs84", database_url, community)
    if road_frame is not None:  # --roads FILE overrides the store's roads
        layers["roads"] = road_frame
    proposal = _propose(layers, config)
    if out is not None:
        write_proposal(
            out, proposal, _run_analyze(layers, config), _run_analyze({**layers, "grids": proposal.grids}, config)
        )
    repo = layers["repository"]
    who = author or getpass.getuser()

    def record(store, edits):  # the CLI's writes are audited like the API's
        from gridgis.auth.store import AuditLog, ensure_tables
        from gridgis.auth.tokens import Principal

        ensure_tables(repo.engine)
        generation = store()
        AuditLog(repo.engine).record(
            Principal(who, "admin"),
            "CLI",
            "align apply",
            "align-apply",
            200,
            "grids",
            [e.code for e in edits],
            generation.id,
            message,
        )
        return generation

    result = apply_proposal(repo, community, proposal, who, message, commit=commit, record=record)
    table = Table(title=("试运行 dry run" if result.dry_run else "已提交 committed") + f" {community}")
    for col in ("op", "grid", "面积变化 m²", "户数 before", "户数 after"):
        table.add_column(col)
    for ch in result.changes:
        table.add_row(
            ch["op"],
            ch["code"],
            f"{ch.get('area_changed_m2', '')}",
            str(ch.get("households_before", "")),
            str(ch.get("households_after", "")),
        )
    console.print(table)
    if result.micro_grid_changes:
        micro = Table(title="微网格 micro-grids of the changed grids (split again from whole buildings)")
        for col in ("op", "micro-grid", "grid", "户数 before", "户数 after"):
            micro.add_column(col)
        for ch in result.micro_grid_changes:
            micro.add_row(
                ch["op"],
                ch["code"],
                ch["grid_code"],
                str(ch.get("households_before", "")),
                str(ch.get("households_after", "")),
            )
        console.print(micro)
    for note in result.notes:
        console.print(f"[yellow]{note}[/]")
    for problem in result.problems:
        console.print(f"[red]{problem.get('kind')}[/] {problem.get('feature') or ''}: {problem['message']}")
    if result.generation is not None:
        console.print(f"new generation {result.generation.id}")
    elif result.dry_run and result.changes:
        console.print("nothing written: add --commit to apply")


def _party_cmd(
    compounds: Path = _COMPOUNDS,
    grids: Path = _GRIDS,
    buildings: Path = _BUILDINGS,
    communities: Path = _COMMUNITIES,
    crs: str | None = _CRS,
    database_url: str = _DB,
    community: str = _COMMUNITY,
    out: Path = typer.Option(Path("party-out"), "--out"),
) -> None:
    """党组织 Suggest the party organisation per case; writes party.json (trees) and party.csv (table)."""
    from gridgis.alignment.party import party_structure
    from gridgis.alignment.report import write_json

    layers = load_inputs(compounds, grids, buildings, communities, None, crs, database_url, community)
    ps = party_structure(layers["compounds"], layers["grids"], layers.get("buildings"), layers.get("communities"))
    out.mkdir(parents=True, exist_ok=True)
    write_json(ps.to_dict(), out / "party.json")
    ps.table.to_csv(out / "party.csv", index=False, encoding="utf-8-sig")
    counts = ps.table[ps.table["type"] != "building_group"].groupby("label").size()
    table = Table(title="党组织建议 suggested party organisation")
    table.add_column("组织 organisation")
    table.add_column("数量 count", justify="right")
    for label, n in counts.items():
        table.add_row(str(label), f"{n:,}")
    table.add_row("楼栋党小组", f"{int((ps.table['type'] == 'building_group').sum()):,}")
    console.print(table)
    console.print(f"written: {out / 'party.json'}, {out / 'party.csv'}")


def _split_cmd(
    grids: Path = _GRIDS,
    buildings: Path = _BUILDINGS,
    crs: str | None = _CRS,
    database_url: str = _DB,
    community: str = _COMMUNITY,
    out: Path = typer.Option(Path("microgrid-out"), "--out"),
    min_households: int = typer.Option(
        MICRO_GRID_HOUSEHOLDS[0], "--min-households", help="fewest households per micro-grid"
    ),
    max_households: int = typer.Option(
        MICRO_GRID_HOUSEHOLDS[1], "--max-households", help="most households per micro-grid"
    ),
    commit: bool = typer.Option(False, "--commit", help="store the micro-grids (store input only)"),
    author: str = typer.Option("gridgis", "--author"),
) -> None:
    """切分 Split grids into micro-grids of whole buildings; writes micro_grids.geojson and report.json."""
    from gridgis.alignment.config import AlignmentConfig
    from gridgis.alignment.microgrid import split_microgrids
    from gridgis.alignment.report import write_json, write_layer

    config = AlignmentConfig(microgrid_min=min_households, microgrid_max=max_households)
    layers: dict[str, Any]
    if grids is not None:
        layers = {"grids": _read_file(grids, crs), "buildings": _read_file(buildings, crs)}
    else:
        layers = load_inputs(None, None, None, None, None, crs, database_url, community)
    with progress() as bar:
        task = bar.add_task("切分 splitting grids", total=len(layers["grids"]))
        micro, explanations = split_microgrids(
            layers["grids"], layers.get("buildings"), config, on_progress=lambda d, t: bar.update(task, completed=d)
        )
    out.mkdir(parents=True, exist_ok=True)
    write_layer(micro, out / "micro_grids.geojson")
    write_json(
        {
            "micro_grids": len(micro),
            "households": micro["households"].describe().to_dict(),
            "explanations": explanations,
        },
        out / "report.json",
    )
    console.print(
        f"{len(micro)} micro-grids from {len(layers['grids'])} grids; {len(explanations)} outside "
        f"{min_households}–{max_households}; written to {out}"
    )
    if commit and "repository" in layers:
        from gridgis.storage import FeatureChange
        from gridgis.storage.model import ChangeOp

        repo = layers["repository"]
        codes = list(layers["grids"]["code"])
        old = repo.read_layer("micro_grids", filters={"grid_code": codes})
        new_codes = set(micro["code"])
        changes = [
            FeatureChange("micro_grids", "delete", c, expected_version=int(v))
            for c, v in zip(old["code"], old["version"])
            if c not in new_codes
        ]
        existing = set(old["code"])
        for row in micro.to_dict("records"):
            props = {"name": row["name"], "grid_code": row["grid_code"], "households": row["households"]}
            op: ChangeOp = "replace" if row["code"] in existing else "create"
            changes.append(FeatureChange("micro_grids", op, row["code"], props, row["geometry"]))
        gen = repo.apply_changes(changes, author, f"micro-grids split for {len(codes)} grids")
        console.print(f"stored as generation {gen.id}")


def register(app: typer.Typer) -> None:
    """Add ``align`` and ``microgrid`` to the main app."""
    align_app.command("analyze")(_analyze_cmd)
    align_app.command("propose")(_propose_cmd)
    align_app.command("apply")(_apply_cmd)
    align_app.command("party")(_party_cmd)
    microgrid_app.command("split")(_split_cmd)
    app.add_typer(align_app, name="align")
    app.add_typer(microgrid_app, name="microgrid")


def demo(ctx: Any) -> None:
    """Demo step: the sample city's cut compounds before and after alignment, with the numbers."""
    from gridgis.alignment.config import AlignmentConfig
    from gridgis.io import read_city

    console.rule("[bold]2. 拉平对齐 aligning grids to compounds")
    city = ctx.facts.get("city") or read_city(ctx.data_dir)
    layers: dict[str, Any] = {k: city.get(k) for k in ("compounds", "grids", "buildings", "communities")}
    tickets_file = Path(ctx.data_dir) / "tickets.geojson"
    layers["tickets"] = (
        gpd.read_file(tickets_file).set_crs("EPSG:4326", allow_override=True) if tickets_file.exists() else None
    )
    config = AlignmentConfig()
    before = _run_analyze(layers, config)
    proposal = _propose(layers, config)
    after = _run_analyze({**layers, "grids": proposal.grids}, config)
    out = Path(ctx.out_dir) / "alignment"
    write_proposal(out, proposal, before, after)
    b, a = before.summary(), after.summary()
    console.print(summary_table(b, a, title="示例城市 拉平对齐 sample city: before → after"))
    in_range = lambda hh: int(((hh >= config.household_min) & (hh <= config.household_max)).sum())
    dedicated = (
        set(layers["grids"].loc[layers["grids"].get("kind", "basic") == "dedicated", "code"])
        if "kind" in layers["grids"].columns
        else set()
    )
    basic = proposal.impact[~proposal.impact["grid"].isin(dedicated)]
    hh_before = basic["households_before"]
    hh_after = basic.loc[~basic["removed"], "households_after"]
    console.print(
        f"basic grids in {config.household_min}–{config.household_max} households: "
        f"{in_range(hh_before)}/{len(hh_before)} → {in_range(hh_after)}/{len(hh_after)}; "
        f"exact coverage after: {proposal.coverage_after.ok}; files in {out}"
    )
    ctx.facts["alignment"] = {
        "cut_compounds_before": b["cut_compounds"],
        "cut_compounds_after": a["cut_compounds"],
        "small_cut_compounds_before": b["small_cut_compounds"],
        "small_cut_compounds_after": a["small_cut_compounds"],
        "cases_before": b["cases"],
        "cases_after": a["cases"],
        "pieces_moved": len(proposal.changes),
        "grids_in_range_before": in_range(hh_before),
        "grids_in_range_after": in_range(hh_after),
        "coverage_ok_after": proposal.coverage_after.ok,
        "explained_grids": len(proposal.explanations),
    }
