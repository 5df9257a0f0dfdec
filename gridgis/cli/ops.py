"""Operations: schema migrations and backups (``gridgis db upgrade|status|backup``)."""

from __future__ import annotations

from pathlib import Path

import typer

db_app = typer.Typer(help="Database operations: migrate the schema, show its state, back it up.", no_args_is_help=True)


def _repository(database_url: str | None):
    from gridgis.cli.common import open_repository

    return open_repository(database_url)


@db_app.command("upgrade")
def upgrade(database_url: str = typer.Option(None, "--database-url", envvar="GRIDGIS_DATABASE_URL")) -> None:
    """Create or migrate the schema to the newest revision (Alembic ``upgrade head``)."""
    from gridgis.cli.common import console

    repo = _repository(database_url)
    before = repo.schema_revision()
    repo.create_schema()
    console.print(f"schema: {before or '(empty)'} → {repo.schema_revision()}  ({repo!r})")


@db_app.command("status")
def status(database_url: str = typer.Option(None, "--database-url", envvar="GRIDGIS_DATABASE_URL")) -> None:
    """Show the schema revision, the current generation, the feature counts and the read replica's state."""
    from gridgis.cli.common import console

    repo = _repository(database_url)
    repo.ping()
    console.print(f"store: {repo!r}")
    console.print(f"schema revision: {repo.schema_revision()}")
    gen = repo.current_generation()
    console.print(
        f"current generation: {gen.id if gen else '—'}"
        + (f" ({gen.created_at:%Y-%m-%d %H:%M} by {gen.author}: {gen.message})" if gen else "")
    )
    for layer, n in repo.counts().items():
        console.print(f"  {layer:12s} {n:>8,d}")
    replica = repo.replica_status()  # GRIDGIS_DATABASE_READ_URL
    if replica is not None:
        since = replica["seconds_since_replay"]
        console.print(
            f"read replica: generation {replica['replica_generation']} replayed "
            f"({replica['generations_behind']} behind the primary's {replica['primary_generation']}"
            + ("" if replica["in_recovery"] else "; NOT a standby: it is not replaying the primary")
            + ("" if since is None else f"; last transaction replayed {since:.1f} s ago")
            + ")"
        )


@db_app.command("backup")
def backup(
    out: Path = typer.Option(..., "--out", help="backup file to write"),
    database_url: str = typer.Option(None, "--database-url", envvar="GRIDGIS_DATABASE_URL"),
) -> None:
    """Back up the store: an online, consistent copy of a SQLite file; for PostGIS, use pg_dump.

    For PostGIS this prints the ``pg_dump`` command to run (see docs/operations.md): a
    database server's own tools are the right way to back it up.
    """
    import sqlite3

    from gridgis.cli.common import console

    repo = _repository(database_url)
    if repo.is_postgis:
        url = repo.engine.url
        console.print(
            "PostGIS store: back it up with the server's own tool, e.g.\n"
            f"  pg_dump -Fc -h {url.host or 'localhost'} -p {url.port or 5432} "
            f"-U {url.username or 'postgres'} -f {out} {url.database}"
        )
        raise typer.Exit(0)
    source = sqlite3.connect(repo.engine.url.database)
    target = sqlite3.connect(out)
    with target:
        source.backup(target)
    source.close()
    target.close()
    console.print(f"backed up {repo.engine.url.database} → {out}")


def register(app: typer.Typer) -> None:
    """Add the ``db`` command group."""
    app.add_typer(db_app, name="db")
