"""CLI: read the audit log of every write.

- ``gridgis audit [--actor 李网格] [--object tickets/12] [--since 2026-12-01T00:00+08:00] [--until …]
  [--action ticket.create] [--limit 100] [--json]`` — newest first.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from gridgis.cli.common import console, open_repository
from gridgis.errors import ValidationError


def _time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{option} {value!r} is not an ISO time such as 2026-12-01T00:00+08:00") from None
    if parsed.tzinfo is None:
        raise ValidationError(f"{option} {value!r} has no time zone; add one, e.g. +08:00")
    return parsed


def audit(
    actor: Annotated[str | None, typer.Option(help="the token holder's name (or anonymous, cli:USER)")] = None,
    object: Annotated[str | None, typer.Option("--object", help="layer/code (tickets/12), a code, or a layer")] = None,
    since: Annotated[str | None, typer.Option(help="from this ISO time, with its zone")] = None,
    until: Annotated[str | None, typer.Option(help="before this ISO time, with its zone")] = None,
    action: Annotated[str | None, typer.Option(help="e.g. ticket.create, ticket.merge, token.revoke")] = None,
    limit: Annotated[int, typer.Option(help="at most this many entries (1–10000)")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="store (default: GRIDGIS_DATABASE_URL)")
    ] = None,
) -> None:
    """审计日志 the audit log: who wrote what, when, with which result (newest first)."""
    from gridgis.auth.store import AuditLog, ensure_tables

    repo = open_repository(database_url)
    try:
        ensure_tables(repo.engine)
        rows = AuditLog(repo.engine).entries(
            limit=limit,
            principal=actor,
            object=object,
            since=_time(since, "--since"),
            until=_time(until, "--until"),
            action=action,
        )
    finally:
        repo.dispose()
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False, default=str))
        return
    table = Table(title=f"audit log ({len(rows)} entries, newest first)")
    for col in ("at", "principal", "role", "action", "object", "status", "message"):
        table.add_column(col)
    for r in rows:
        codes = ",".join(r["codes"][:5]) + ("…" if len(r["codes"]) > 5 else "")
        table.add_row(
            r["at"][:19],
            r["principal"],
            r["role"],
            r["action"],
            f"{r['layer'] or ''}/{codes}",
            str(r["status"]),
            r["message"][:60],
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``gridgis audit``."""
    app.command("audit")(audit)
