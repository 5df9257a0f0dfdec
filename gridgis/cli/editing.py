"""CLI for editing and access control: tokens, and the GeoPackage round trip for QGIS.

- ``gridgis token create --name 王规划 --role planner --scope 110105001000`` (shown once, stored hashed)
- ``gridgis token list`` / ``gridgis token revoke ID``
- ``gridgis edit export-community CODE --out F.gpkg``
- ``gridgis edit import F.gpkg --message "…"`` shows the diff and the validation report;
  ``--commit`` stores it as one generation (a dry run otherwise).
- ``gridgis edit history LAYER CODE`` and ``gridgis edit revert N --commit``
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gridgis.cli.common import console, open_repository
from gridgis.codes import area_of, street_of

DbOpt = Annotated[str | None, typer.Option("--database-url", help="store (default: GRIDGIS_DATABASE_URL)")]


def _stores(db: str | None):
    from gridgis.auth.store import AuditLog, TokenStore, ensure_tables

    repo = open_repository(db)
    ensure_tables(repo.engine)
    return repo, TokenStore(repo.engine), AuditLog(repo.engine)


def token_create(
    role: Annotated[str, typer.Option(help="viewer, reporter, worker, planner or admin")],
    name: Annotated[str | None, typer.Option(help="who holds it (default: role@OS user)")] = None,
    scope: Annotated[list[str] | None, typer.Option(help="street/community/grid code; repeat; * = all")] = None,
    db: DbOpt = None,
) -> None:
    """Create a bearer token; it is printed once and only its hash is kept."""
    _, store, _ = _stores(db)
    token, info = store.create(name or f"{role}@{getpass.getuser()}", role, scope or [])
    scopes = ", ".join(info.scopes) or "—"
    console.print(f"token for [bold]{info.name}[/] ({info.role}, scope {scopes}), id {info.token_id}:")
    typer.echo(token)
    console.print("[dim]keep it safe: it cannot be shown again[/]")


def token_list(db: DbOpt = None) -> None:
    """List tokens (never their secrets)."""
    _, store, _ = _stores(db)
    table = Table(title="tokens")
    for col in ("id", "name", "role", "scope", "created", "revoked"):
        table.add_column(col)
    for t in store.list():
        table.add_row(
            t.token_id,
            t.name,
            t.role,
            ", ".join(t.scopes),
            t.created_at.isoformat(timespec="seconds"),
            t.revoked_at.isoformat(timespec="seconds") if t.revoked_at else "",
        )
    console.print(table)


def token_revoke(token_id: str, db: DbOpt = None) -> None:
    """Revoke a token by its id."""
    _, store, _ = _stores(db)
    store.revoke(token_id)
    console.print(f"token {token_id} revoked")


def export_community(
    code: str, out: Annotated[Path, typer.Option("--out", help="GeoPackage to write")], db: DbOpt = None
) -> None:
    """Export a community's grids, micro-grids, compounds, buildings and stations for editing in QGIS."""
    from gridgis.editing.roundtrip import export_community as export

    counts = export(open_repository(db), code, out)
    console.print(f"wrote {out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    console.print("edit it in QGIS, then: gridgis edit import " + str(out) + ' --message "…"')


def import_edits(
    path: Path,
    message: Annotated[str, typer.Option(help="why: stored with the generation")],
    commit: Annotated[bool, typer.Option("--commit", help="store it (otherwise a dry run)")] = False,
    author: Annotated[str | None, typer.Option(help="who (default: the OS user)")] = None,
    db: DbOpt = None,
) -> None:
    """Show what an edited export would change, with its validation report; store it with --commit."""
    from gridgis.auth.tokens import Principal
    from gridgis.editing.roundtrip import commit_import, plan_import

    repo, _, audit = _stores(db)
    plan = plan_import(repo, path)
    table = Table(title=f"proposed change to community {plan.community} (exported at generation {plan.generation})")
    for col in ("layer", "op", "code", "name"):
        table.add_column(col)
    for row in plan.summary():
        table.add_row(row["layer"], row["op"], row["code"], str(row["name"] or ""))
    console.print(table if plan.edits else "no changes")
    for line in plan.stale:
        console.print(f"[red]stale[/] {line}")
    if plan.problems:
        from gridgis.cli.data import print_problems

        print_problems(plan.problems, "validation")
    elif plan.edits:
        console.print("[green]valid[/]: the change keeps every rule")
    if not commit:
        console.print("[dim]dry run: nothing stored (add --commit to store)[/]")
        raise typer.Exit(0 if plan.ok else 1)
    who = author or getpass.getuser()
    generation = commit_import(repo, plan, who, message)
    audit.record(
        Principal(who, "admin"),
        "CLI",
        str(path),
        "import",
        200,
        None,
        [e.code for e in plan.edits],
        generation.id,
        message,
    )
    console.print(f"stored as generation {generation.id}")


def history(layer: str, code: str, db: DbOpt = None) -> None:
    """Every version of one feature."""
    table = Table(title=f"{layer} {code}")
    for col in ("version", "generation", "time", "author", "message"):
        table.add_column(col)
    for e in open_repository(db).feature_history(layer, code):
        table.add_row(
            str(e["version"]),
            str(e["generation"]),
            e["created_at"].isoformat(timespec="seconds"),
            e["author"],
            e["message"],
        )
    console.print(table)


def revert(
    generation: int,
    commit: Annotated[bool, typer.Option("--commit")] = False,
    author: Annotated[str | None, typer.Option()] = None,
    db: DbOpt = None,
) -> None:
    """Revert every layer to a generation (a new generation); a dry run without --commit."""
    repo = open_repository(db)
    current = repo.current_generation()
    diff = repo.diff(generation, current.id) if current else None
    console.print(f"{0 if diff is None else len(diff)} feature(s) differ from generation {generation}")
    if commit:
        gen = repo.revert_to(generation, author or getpass.getuser())
        console.print(f"stored as generation {gen.id}")


def demo(ctx) -> None:
    """Demo step: a planner token, a validated boundary move as one generation, its diff, a revert, an export."""
    from gridgis.auth.store import TokenStore, ensure_tables
    from gridgis.editing import service
    from gridgis.editing.follow import with_micro_grids
    from gridgis.editing.history import diff_geojson
    from gridgis.editing.operations import move_boundary
    from gridgis.editing.roundtrip import export_community as export

    repo = ctx.repository
    console.rule("边界编辑 boundary editing")
    if repo.current_generation() is None:
        from gridgis.io import read_city

        repo.write_city({k: v for k, v in read_city(ctx.data_dir).items() if k != "tickets"}, "demo", "sample city")
    grids = repo.read_layer("grids")
    if len(grids) < 2:
        console.print("no grids to edit")
        return
    pair = None
    for _, a in grids.iterrows():
        near = grids[
            (grids["code"] != a["code"])
            & (grids["code"].map(area_of) == area_of(a["code"]))
            & grids.geometry.touches(a.geometry)
        ]
        if len(near):
            pair = (a, near.iloc[0])
            break
    if pair is None:
        console.print("no neighbouring grids found")
        return
    a, b = pair
    ensure_tables(repo.engine)
    _, info = TokenStore(repo.engine).create("演示规划", "planner", [street_of(a["code"])])
    console.print(f"planner token for street {street_of(a['code'])} (stored hashed, id {info.token_id})")
    shared = a.geometry.intersection(b.geometry)
    new_a = a.geometry.union(b.geometry.intersection(shared.buffer(0.0003)))
    edits = move_boundary(repo.read_layer("grids", codes=[a["code"], b["code"]]), a["code"], b["code"], new_a)
    edits = with_micro_grids(
        edits,
        repo.read_layer("grids", codes=[a["code"], b["code"]]),
        repo.read_layer("micro_grids", filters={"grid_code": [a["code"], b["code"]]}),
        repo.read_layer("buildings", filters={"community_code": [area_of(a["code"])]}),
    )
    before = repo.current_generation()
    gen = service.commit(repo, edits, "演示规划", f"move the boundary of {a['code']} and {b['code']} by ~30 m")
    pieces = diff_geojson(repo.diff(before.id, gen.id), repo.read_layer("buildings"))
    moved = sum(
        f["properties"]["households_affected"] for f in pieces["features"] if f["properties"]["layer"] == "grids"
    )
    console.print(
        f"move-boundary {a['code']} ⇄ {b['code']}: {len(edits)} features in generation {gen.id}, "
        f"{moved} households in the changed strips; coverage validated"
    )
    back = repo.revert_to(before.id, "演示规划", "undo the demo move")
    console.print(
        f"reverted as generation {back.id} (history kept: {len(repo.feature_history('grids', a['code']))} "
        f"versions of {a['code']})"
    )
    community = area_of(a["code"])
    out = Path(ctx.out_dir) / f"community-{community}.gpkg"
    counts = export(repo, community, out)
    console.print(f"exported community {community} for QGIS: {out} ({counts.get('grids', 0)} grids)")
    ctx.facts["editing"] = {"generation": gen.id, "features": len(edits), "households_moved": moved}


def register(app: typer.Typer) -> None:
    """Add the ``token`` and ``edit`` command groups."""
    token = typer.Typer(help="访问令牌 access tokens (stored hashed).", no_args_is_help=True)
    token.command("create")(token_create)
    token.command("list")(token_list)
    token.command("revoke")(token_revoke)
    app.add_typer(token, name="token")
    edit = typer.Typer(help="边界编辑 boundary editing: GeoPackage round trip, history, revert.", no_args_is_help=True)
    edit.command("export-community")(export_community)
    edit.command("import")(import_edits)
    edit.command("history")(history)
    edit.command("revert")(revert)
    app.add_typer(edit, name="edit")
