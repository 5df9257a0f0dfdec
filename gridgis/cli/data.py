"""``gridgis import``, ``gridgis export`` and ``gridgis info``: a thin shell over :mod:`gridgis.io`.

- ``import PATH --layer L --crs CRS [--repair]`` validates the file feature by feature and, only
  when it is clean (or repaired), writes it into the store as one new generation.
- ``export --layer L | --all --format geojson|gpkg|shp --out PATH`` writes layers from the store
  (any generation) or from a folder of GeoJSON, in WGS84, GCJ-02 or BD-09.
- ``info [PATH]`` lists layers, counts, bounds and CRS of a file, a folder or the store.

Problems are printed as a table (feature, kind, message, where) and the exit code is 2.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import typer
from rich.table import Table

from gridgis.cli.common import console, open_repository, progress
from gridgis.errors import GridGISError, Problem, ValidationError


def print_problems(problems: list[Problem], title: str, limit: int = 200) -> None:
    """A table of problems: feature, kind, message and where (lon/lat)."""
    table = Table(title=title, show_lines=False)
    for col in ("#", "feature", "kind", "message", "where / action"):
        table.add_column(col, overflow="fold")
    for i, p in enumerate(problems[:limit], 1):
        where = f"{p.where[0]:.6f},{p.where[1]:.6f}" if p.where else ""
        action = p.details.get("action", "") if p.details else ""
        table.add_row(str(i), p.feature or "", p.kind, p.message, " ".join(x for x in (where, action) if x))
    console.print(table)
    if len(problems) > limit:
        console.print(f"… and {len(problems) - limit} more")


def _parse_mapping(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise typer.BadParameter(f"--map expects SOURCE=FIELD, got {item!r}")
        src, dst = item.split("=", 1)
        out[src.strip()] = dst.strip()
    return out


def _kinds(problems: list[Problem]) -> str:
    counts: dict[str, int] = {}
    for p in problems:
        counts[p.kind] = counts.get(p.kind, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def _fail(exc: GridGISError, report_path: Path | None = None) -> None:
    console.print(f"[bold red]error:[/] {exc.message}")
    if exc.problems:
        console.print(f"by kind: {_kinds(exc.problems)}")
        print_problems(
            exc.problems, "problems (nothing was imported)" if isinstance(exc, ValidationError) else "problems"
        )
    report = getattr(exc, "report", None)
    if report_path is not None and report is not None:
        _write_report(report, report_path)
    raise typer.Exit(2)


def _write_report(report, path: Path) -> None:
    import json

    path.write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    console.print(f"full report: {path}")


def stored_parent_codes(repo, layer: str) -> set[str] | None:
    """The codes a feature of ``layer`` may name as its parent, from the store (None: nothing to check)."""
    from gridgis.layers import get_spec

    spec = get_spec(layer)
    if spec.parent_field is None:
        return None
    if repo.schema_revision() is None:
        return set()
    parents = [spec.parent_layer] if spec.parent_layer else ["streets", "communities"]
    out: set[str] = set()
    for parent in parents:
        out |= set(repo.read_layer(parent)["code"].astype(str))
    return out


def import_command(
    path: Path = typer.Argument(..., help="file to import: .geojson/.json, .gpkg, .shp or .csv"),
    layer: str = typer.Option(
        ...,
        "--layer",
        "-l",
        help="layer: streets, communities, compounds, buildings, grids, micro_grids or stations; or roads "
        "(road centre lines, OSM/Tilezen: the reference layer alignment divides open land along; replaced as a whole)",
    ),
    crs: str = typer.Option(
        None,
        "--crs",
        help="CRS of the coordinates: wgs84, cgcs2000, gcj02, bd09 or EPSG:nnnn "
        "(required unless the file declares one; never guessed)",
    ),
    repair: bool = typer.Option(
        False,
        "--repair",
        help="close rings, make polygons valid, drop degenerate and duplicate features (each reported)",
    ),
    encoding: str = typer.Option(None, "--encoding", help="text encoding when not UTF-8 / the .cpg (e.g. gbk)"),
    table: str = typer.Option(None, "--table", help="GeoPackage table (default: the one named like the layer)"),
    mapping: list[str] = typer.Option([], "--map", help="rename a source column: SOURCE=FIELD (repeatable)"),
    lon: str = typer.Option(None, "--lon", help="CSV longitude column"),
    lat: str = typer.Option(None, "--lat", help="CSV latitude column"),
    author: str = typer.Option(None, "--author", help="author of the new generation (default: your user name)"),
    message: str = typer.Option(None, "--message", "-m", help="message of the new generation"),
    commit: bool = typer.Option(False, "--commit", help="store it as a new generation (without: a dry run)"),
    skip_parent_check: bool = typer.Option(
        False, "--skip-parent-check", help="do not require parent codes to exist in the store"
    ),
    report_path: Path = typer.Option(None, "--report", help="write every problem and repair to this JSON file"),
    database_url: str = typer.Option(
        None, "--database-url", help="store (default: GRIDGIS_DATABASE_URL or sqlite:///gridgis.db)"
    ),
) -> None:
    """Import a file as a layer: validate every feature; with --commit store it as a new generation.

    Like every command that writes (edit import, edit revert, align apply), a dry run unless --commit.
    """
    from gridgis.io.layer_import import import_layer

    if layer == "roads":
        unsupported = [n for n, v in (("--repair", repair), ("--map", mapping), ("--lon", lon), ("--lat", lat)) if v]
        if unsupported or table or encoding:
            raise typer.BadParameter(f"roads: {', '.join(unsupported) or '--table/--encoding'} does not apply to roads")
        _import_roads(path, crs, commit, author, message, database_url)
        return
    options = {k: v for k, v in (("lon", lon), ("lat", lat)) if v}
    try:
        with progress() as bar:
            task = bar.add_task(f"reading and checking {path.name}", total=2)
            repo = None if not commit and skip_parent_check else open_repository(database_url)
            parents = None if skip_parent_check else stored_parent_codes(repo, layer)
            frame, report = import_layer(
                path,
                layer,
                crs,
                repair=repair,
                encoding=encoding,
                mapping=_parse_mapping(mapping),
                table=table,
                parent_codes=parents,
                **options,
            )
            bar.advance(task)
            if report.repairs:
                console.print(f"repaired: {_kinds(report.repairs)}")
                print_problems(report.repairs, f"repaired {len(report.repairs)} problem(s)", limit=30)
            if report_path is not None:
                _write_report(report, report_path)
            console.print(f"{layer}: {report.read} read, {report.kept} kept (source CRS {report.source_crs})")
            if not commit:
                console.print("dry run: nothing stored (add --commit to store it)")
                return
            bar.update(task, description=f"storing {layer}")
            assert repo is not None  # opened unless a dry run skips the parent check
            repo.create_schema()
            gen = repo.write_city(
                {layer: frame}, author or getpass.getuser(), message or f"import {path.name} as {layer}", replace=False
            )
            bar.advance(task)
    except GridGISError as exc:
        _fail(exc, report_path)
    console.print(f"[green]stored[/] {len(frame)} {layer} in generation {gen.id}")


def _import_roads(
    path: Path, crs: str | None, commit: bool, author: str | None, message: str | None, database_url: str | None
) -> None:
    """``import FILE --layer roads``: read the file (its CRS explicit: a file that does not say it needs
    ``--crs``), check it and, with ``--commit``, replace the store's roads (one transaction, audited).
    Errors end the command with one line (``error: …``, exit code 2)."""
    from gridgis.alignment.roads import read_roads
    from gridgis.errors import NotFoundError
    from gridgis.storage.roads import RoadStore, check_roads

    if not path.exists():
        raise NotFoundError(f"{path}: no such file")
    frame = read_roads(path, crs)
    check_roads(frame)
    declared = crs or "as the file says"
    console.print(f"roads: {len(frame)} lines read from {path.name} (source CRS: {declared})")
    if not commit:
        console.print("dry run: nothing stored (add --commit to store it)")
        return
    repo = open_repository(database_url)
    repo.create_schema()
    done = RoadStore(repo).replace(
        frame, author or getpass.getuser(), message or "", source=path.name, source_crs=declared
    )
    console.print(f"[green]stored[/] {done.roads} roads (import {done.id}; they replace the roads stored before)")


def export_command(
    out: Path = typer.Option(..., "--out", "-o", help="output file (gpkg, or one layer) or folder"),
    layer: list[str] = typer.Option([], "--layer", "-l", help="layer to export (repeatable)"),
    all_layers: bool = typer.Option(False, "--all", help="export every layer"),
    fmt: str = typer.Option("geojson", "--format", "-f", help="geojson, gpkg or shp"),
    encoding: str = typer.Option("utf-8", "--encoding", help="Shapefile text encoding: utf-8 or gbk"),
    crs: str = typer.Option("wgs84", "--crs", help="output coordinates: wgs84, gcj02 (AMap/Tencent) or bd09 (Baidu)"),
    generation: int = typer.Option(None, "--generation", help="export this generation (default: current)"),
    source: Path = typer.Option(None, "--from", help="read from a folder of <layer>.geojson instead of the store"),
    database_url: str = typer.Option(None, "--database-url", help="store (default: GRIDGIS_DATABASE_URL)"),
) -> None:
    """Export layers as GeoJSON, GeoPackage or Shapefile, in WGS84, GCJ-02 or BD-09."""
    from gridgis.errors import NotFoundError
    from gridgis.io import read_city
    from gridgis.io.export import export_layers
    from gridgis.layers import LAYERS, get_spec

    if not layer and not all_layers:
        raise typer.BadParameter("say which layers: --layer L (repeatable) or --all")
    try:
        with_roads = "roads" in layer or (all_layers and source is None)
        layer = [x for x in layer if x != "roads"]
        names = list(LAYERS) if all_layers else [get_spec(x).name for x in layer]
        city = {}
        with progress() as bar:
            task = bar.add_task("reading layers", total=len(names) + 1)
            if source is not None:
                found = read_city(source, tuple(names))
                city = {k: v for k, v in found.items() if k in names}
                bar.advance(task, len(names))
            else:
                repo = open_repository(database_url)
                for name in names:
                    frame = repo.read_layer(name, generation=generation)
                    if len(frame) or not all_layers:
                        city[name] = frame[[c for c in get_spec(name).columns if c in frame.columns]]
                    bar.advance(task)
                if with_roads:  # the reference layer (gridgis.storage.roads): current set, not by generation
                    from gridgis.storage.roads import RoadStore

                    roads = RoadStore(repo).read()
                    if roads is not None:
                        city["roads"] = roads
                    elif not all_layers:
                        raise NotFoundError(
                            "roads: the store holds no roads; import them with "
                            "`gridgis import FILE --layer roads --commit`"
                        )
            bar.update(task, description=f"writing {fmt}")
            written = export_layers(city, fmt, out, crs=crs, encoding=encoding)
            bar.advance(task)
    except GridGISError as exc:
        _fail(exc)
    for name, frame in city.items():
        console.print(f"{name}: {len(frame)} features")
    for p in written:
        console.print(f"[green]wrote[/] {p}")


def info_command(
    path: Path = typer.Argument(
        None, help="a file (.geojson, .gpkg, .shp, .csv) or a folder of <layer>.geojson; default: the store"
    ),
    database_url: str = typer.Option(None, "--database-url", help="store (default: GRIDGIS_DATABASE_URL)"),
    generation: int = typer.Option(None, "--generation", help="describe this generation of the store"),
) -> None:
    """Layers, feature counts, bounds, CRS (and the generation, for the store)."""
    from gridgis.io.info import describe_path, describe_store

    try:
        if path is not None:
            rows, header = describe_path(path), str(path)
        else:
            repo = open_repository(database_url)
            rows, header = describe_store(repo, generation)
    except GridGISError as exc:
        _fail(exc)
    table = Table(title=header)
    for col in ("layer", "count", "geometry", "bounds (min lon, min lat, max lon, max lat)", "CRS"):
        table.add_column(col)
    for r in rows:
        bounds = ", ".join(f"{b:.5f}" for b in r["bounds"]) if r.get("bounds") else ""
        table.add_row(r["layer"], str(r["count"]), ", ".join(r.get("geometry") or []), bounds, r.get("crs") or "")
    console.print(table)


REAL_DATASETS = ("mapv", "townships", "adcode-streets", "adcode-communities")


def import_real_command(
    dataset: str = typer.Argument(
        ...,
        help="mapv (BD-09 compound outlines), townships (Beijing 街道/乡镇 polygons), "
        "adcode-streets or adcode-communities (GCJ-02 code lists)",
    ),
    path: Path = typer.Argument(..., help="the dataset's file (or the adcode folder)"),
    adcode: Path = typer.Option(None, "--adcode", help="adcode folder: gives the townships their 12-digit codes"),
    out: Path = typer.Option(None, "--out", "-o", help="write the converted frame here (.geojson, .gpkg or .shp)"),
    commit: bool = typer.Option(
        False, "--commit", help="store the coded townships as the streets layer (without: convert only)"
    ),
    author: str = typer.Option(None, "--author", help="author of the new generation"),
    database_url: str = typer.Option(None, "--database-url", help="store (default: GRIDGIS_DATABASE_URL)"),
) -> None:
    """Convert one of the public datasets of ../shared/data to EPSG:4326 (and store the Beijing streets)."""
    from gridgis.io import realdata
    from gridgis.io.export import export_layers

    if dataset not in REAL_DATASETS:
        raise typer.BadParameter(f"dataset must be one of {', '.join(REAL_DATASETS)}")
    try:
        with progress() as bar:
            task = bar.add_task(f"reading {dataset}", total=None)
            if dataset == "mapv":
                frame, report = realdata.read_mapv_compounds(path)
                console.print(f"mapv: {report.read} read, {report.kept} kept; repaired: {_kinds(report.repairs)}")
            elif dataset == "townships":
                codes = realdata.read_adcode(adcode) if adcode else None
                frame = realdata.read_township_boundaries(path, adcode=codes)
                console.print(f"townships: {len(frame)}, with a statistical code: {int(frame['code'].notna().sum())}")
            else:
                table = realdata.read_adcode(path)
                frame = realdata.street_codes(table) if dataset == "adcode-streets" else realdata.community_codes(table)
                console.print(f"{dataset}: {len(frame)} codes, {int(frame.geometry.notna().sum())} with a centre point")
            bar.update(task, total=1, completed=1)
            if out is not None:
                fmt = {".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg", ".shp": "shp"}.get(
                    out.suffix.lower()
                )
                if fmt is None:
                    raise typer.BadParameter("--out must end in .geojson, .gpkg or .shp")
                export_layers({out.stem: frame}, fmt, out)
                console.print(f"[green]wrote[/] {out}")
            if commit:
                if dataset != "townships":
                    raise typer.BadParameter("--commit applies to townships (streets) only")
                coded = frame[frame["code"].notna()]
                repo = open_repository(database_url)
                repo.create_schema()
                gen = repo.write_city(
                    {"streets": coded},
                    author or getpass.getuser(),
                    f"import {path.name} (townships) as streets",
                    replace=False,
                )
                console.print(f"[green]stored[/] {len(coded)} streets in generation {gen.id}")
    except GridGISError as exc:
        _fail(exc)


def register(app: typer.Typer) -> None:
    """Add ``import``, ``import-real``, ``export`` and ``info`` to the main app."""
    app.command("import")(import_command)
    app.command("import-real")(import_real_command)
    app.command("export")(export_command)
    app.command("info")(info_command)
