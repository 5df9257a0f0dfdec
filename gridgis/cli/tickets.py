"""``gridgis tickets``: import reports, escalate overdue tickets, per-grid statistics; the demo step.

- ``gridgis tickets import FILE`` (GeoJSON/GeoPackage/CSV; re-importing skips known ids, and a known id
  with other content is rejected naming its ticket: :mod:`gridgis.tickets.external_ids`)
- ``gridgis tickets escalate [--now ISO]`` (idempotent)
- ``gridgis tickets stats [--month YYYY-MM] [--level grid|community|street] [--json]``
- ``gridgis tickets matters`` (the catalogue) and ``gridgis tickets show ID`` (a ticket and its history)
- ``gridgis tickets partitions [--ahead N]`` (PostgreSQL: list the monthly partitions, make the coming ones)
- ``gridgis tickets retention --before YYYY-MM --archive DIR [--commit]`` (archive and detach old months)
  and ``gridgis tickets restore FILE`` (put an archived month back)
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from gridgis.cli.common import console, open_repository, progress
from gridgis.tickets.calendar import SHANGHAI


def _store(database_url: str | None, catalogue: Path | None = None) -> Any:
    from gridgis.tickets.catalogue import load_catalogue
    from gridgis.tickets.store import TicketStore

    return TicketStore(open_repository(database_url), catalogue=load_catalogue(catalogue))


def _month_later(at: datetime, months: int) -> datetime:
    """A time ``months`` calendar months after ``at`` (mid-month, so every month is hit once)."""
    index = at.year * 12 + at.month - 1 + months
    return at.replace(year=index // 12, month=index % 12 + 1, day=15)


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v * 100:.0f}%"


def stats_table(
    rows: list[dict[str, Any]], level: str = "grid", title: str = "工单统计 ticket statistics", limit: int = 40
) -> Table:
    """A rich table of per-area statistics rows (the first ``limit``, busiest first)."""
    months = sorted({r["month"] for r in rows})
    one_month = len(months) == 1
    table = Table(title=f"{title} {months[0]}" if one_month else title)
    cols = [(level, "left")] + ([] if one_month else [("month", "left")])
    cols += [
        ("受理", "right"),
        ("办结", "right"),
        ("按时率", "right"),
        ("结案率", "right"),
        ("满意度", "right"),
        ("逾期", "right"),
        ("合并", "right"),
    ]
    for col, just in cols:
        table.add_column(col, justify=just, no_wrap=True)  # type: ignore[arg-type]
    for r in sorted(rows, key=lambda r: (-r["volume"], r[f"{level}_code"]))[:limit]:
        sat = "–" if r["satisfaction"] is None else f"{r['satisfaction']:.2f}"
        cells = [r[f"{level}_code"]] + ([] if one_month else [r["month"]])
        cells += [
            str(r["volume"]),
            str(r["resolved"]),
            _pct(r["on_time_rate"]),
            _pct(r["closure_rate"]),
            sat,
            str(r["overdue"]),
            str(r["merged"]),
        ]
        table.add_row(*cells)
    return table


def import_file(store: Any, path: Path, crs: str | None = None, commit: bool = True) -> tuple[list, list]:
    """Import a ticket file with a progress bar; (created, rejected). Without ``commit``, a dry run:
    every row is checked and routed, nothing is stored."""
    from gridgis.errors import NotFoundError
    from gridgis.tickets.importer import read_ticket_file, reports_from_frame

    current = getattr(store.repository, "current_generation", None)
    if current is not None and current() is None:
        raise NotFoundError(
            "the store has no boundaries yet, so no ticket can be routed: load the city first "
            "(gridgis tickets import FILE --city data/geojson, or gridgis import FILE --layer …)"
        )
    reports = reports_from_frame(read_ticket_file(path, crs))
    with progress() as bar:
        task = bar.add_task("导入工单 importing tickets", total=len(reports))
        return store.create_many(reports, progress=lambda n: bar.advance(task, n), dry_run=not commit)


def load_city_into(repository: Any, directory: Path) -> None:
    """Store the layers of a city folder (not its tickets) as the first generation."""
    from gridgis.io import read_city

    frames = {k: v for k, v in read_city(directory).items() if k != "tickets"}
    repository.write_city(frames, author="gridgis tickets import", message=f"city from {directory}")
    console.print(f"loaded the city from {directory}: " + ", ".join(f"{k} {len(v)}" for k, v in frames.items()))


def register(app: typer.Typer) -> None:
    """Add the ``tickets`` command group."""
    tickets = typer.Typer(
        help="工单 tickets: import, escalate, statistics (吹哨报到 closed loop).", no_args_is_help=True
    )
    app.add_typer(tickets, name="tickets")

    db_opt = typer.Option(None, "--database-url", help="store (default GRIDGIS_DATABASE_URL)")
    cat_opt = typer.Option(None, "--catalogue", help="your own matter catalogue (YAML/JSON)")

    @tickets.command("import")
    def import_(
        file: Path = typer.Argument(..., help="tickets (GeoJSON, GeoPackage, or CSV with lon/lat)"),
        crs: str = typer.Option(
            None,
            help="CRS of the points: wgs84, cgcs2000, gcj02, bd09, EPSG:n; required for CSV, "
            "else the file's own (GeoJSON: WGS84 per RFC 7946)",
        ),
        city: Path | None = typer.Option(
            None, help="city folder (<layer>.geojson) to load first when the store has no boundaries yet"
        ),
        database_url: str | None = db_opt,
        catalogue: Path | None = cat_opt,
        commit: bool = typer.Option(False, "--commit", help="store them (without: a dry run that stores nothing)"),
    ) -> None:
        """Import reports: each is routed, given its matter, department and deadlines; stored with --commit."""
        store = _store(database_url, catalogue)
        if city is not None and store.repository.current_generation() is None:
            if not commit:
                raise typer.BadParameter("loading --city writes the store: pass --commit (the tickets are stored too)")
            load_city_into(store.repository, city)
        created, rejected = import_file(store, file, crs, commit=commit)
        if commit:
            console.print(f"[green]{len(created):,} tickets imported[/], {len(rejected):,} not imported")
        else:
            console.print(
                f"dry run: {len(created):,} tickets would be imported, {len(rejected):,} not; "
                "nothing stored (pass --commit to store them)"
            )
        for r in rejected[:20]:
            console.print(f"  row {r['index']} {r['external_id'] or ''}: {r['reason']}")
        if len(rejected) > 20:
            console.print(f"  … and {len(rejected) - 20} more")

    @tickets.command()
    def escalate(
        now: str | None = typer.Option(None, help="the time to check against (ISO 8601; default now)"),
        every: float | None = typer.Option(
            None, help="keep running: escalate every this many seconds (needs --commit)"
        ),
        database_url: str | None = db_opt,
        commit: bool = typer.Option(False, "--commit", help="escalate them (without: a dry run that lists them)"),
    ) -> None:
        """Escalate every ticket past its solution deadline one level (提级); safe to repeat; with --commit."""
        from gridgis.tickets.escalator import Escalator

        when = datetime.fromisoformat(now) if now else None
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=SHANGHAI)
        if not commit:
            if every is not None:
                raise typer.BadParameter("--every escalates as it goes: pass --commit", param_hint="--every")
            would = _store(database_url).escalate_overdue(when, dry_run=True)
            console.print(f"dry run: {len(would)} tickets would be escalated; nothing stored (pass --commit)")
            for d in would[:30]:
                console.print(f"  ticket {d['id']} ({d['grid_code']}): {d['from_level']} → {d['to_level']}")
            return

        def show(done: list[dict[str, Any]]) -> None:
            console.print(f"{len(done)} tickets escalated")
            for d in done[:30]:
                console.print(f"  ticket {d['id']} ({d['grid_code']}): {d['from_level']} → {d['to_level']}")

        escalator = Escalator(_store(database_url), every or 1.0, clock=lambda: when, on_run=show)
        if every is None:
            escalator.run(max_runs=1)
            return
        try:
            escalator.run()
        except KeyboardInterrupt:
            console.print("stopped")

    @tickets.command()
    def stats(
        month: str | None = typer.Option(None, help="YYYY-MM (default: every month)"),
        level: str = typer.Option("grid", help="grid, micro_grid, community or street"),
        as_json: bool = typer.Option(False, "--json", help="print JSON rows instead of a table"),
        database_url: str | None = db_opt,
    ) -> None:
        """Per-grid volume, on-time rate, closure rate and satisfaction by month."""
        rows = _store(database_url).statistics(month, level=level)
        if as_json:
            typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        else:
            console.print(stats_table(rows, level))

    @tickets.command()
    def partitions(
        ahead: int = typer.Option(2, min=0, help="also make the partitions of this many months after the current one"),
        database_url: str | None = db_opt,
    ) -> None:
        """List the monthly partitions of the tickets (PostgreSQL) and make the coming months' ones."""
        from datetime import UTC

        from gridgis.storage.partitions import ensure_months, is_partitioned, month_partitions

        repo = open_repository(database_url)
        with repo.engine.connect() as conn:
            if not is_partitioned(conn):
                console.print("tickets is a plain table here (SQLite, or PostgreSQL before migration 0005)")
                return
        now = datetime.now(UTC)
        ensure_months(repo.engine, [now] + [_month_later(now, step) for step in range(1, ahead + 1)])
        table = Table(title="工单分区 ticket partitions")
        for col in ("month", "partition", "tickets"):
            table.add_column(col)
        import sqlalchemy as sa

        with repo.engine.connect() as conn:
            for month, name in month_partitions(conn).items():
                rows = conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()
                table.add_row(month, name, f"{rows:,}")
            rows = conn.execute(sa.text("SELECT count(*) FROM tickets_default")).scalar_one()
            table.add_row("(other)", "tickets_default", f"{rows:,}")
        console.print(table)

    @tickets.command()
    def retention(
        before: str = typer.Option(..., "--before", help="archive every month before this one (YYYY-MM)"),
        archive: Path = typer.Option(..., "--archive", help="folder for the tickets-YYYY-MM.jsonl.gz files"),
        commit: bool = typer.Option(False, "--commit", help="archive and drop; without it, only show the plan"),
        author: str | None = typer.Option(None, "--author", help="who (default: the OS user)"),
        database_url: str | None = db_opt,
    ) -> None:
        """Archive old months of tickets to files and detach them from the database (dry run unless --commit)."""
        import getpass

        from gridgis.storage.partitions import retention as run_retention

        repo = open_repository(database_url)
        done = run_retention(repo.engine, before, archive, commit=commit, actor=author or getpass.getuser())
        table = Table(title=("已归档 archived" if commit else "试运行 dry run") + f" before {before}")
        for col in ("month", "partition", "tickets", "events", "archive"):
            table.add_column(col)
        for item in done:
            table.add_row(item.month, item.partition, f"{item.tickets:,}", f"{item.events:,}", str(item.archive))
        console.print(table)
        if not done:
            console.print(f"no month before {before} to archive")
        elif not commit:
            console.print("nothing changed; add --commit to archive and detach these months")

    @tickets.command()
    def restore(
        archive: Path = typer.Argument(..., help="a tickets-YYYY-MM.jsonl.gz written by `gridgis tickets retention`"),
        author: str | None = typer.Option(None, "--author", help="who (default: the OS user)"),
        database_url: str | None = db_opt,
    ) -> None:
        """Put an archived month of tickets back into the database (its partition made again)."""
        import getpass

        from gridgis.storage.partitions import restore as run_restore

        repo = open_repository(database_url)
        count = run_restore(repo.engine, archive, actor=author or getpass.getuser())
        console.print(f"[green]{count:,} tickets restored[/] from {archive}")

    @tickets.command()
    def matters(catalogue: Path | None = cat_opt) -> None:
        """List the matter catalogue (吹哨报到事项清单)."""
        from gridgis.tickets.catalogue import load_catalogue

        cat = load_catalogue(catalogue)
        table = Table(title=f"{cat.name} ({len(cat.items)} items)")
        for col in ("code", "domain", "name", "department", "tier", "respond/reply/coordinate/solve"):
            table.add_column(col)
        names = {d.code: d.name for d in cat.domains}
        for it in cat.items:
            dl = it.deadlines
            table.add_row(
                it.code,
                names[it.domain],
                it.name,
                it.department,
                it.tier_label,
                "/".join(str(getattr(dl, k)) for k in ("respond", "reply", "coordinate", "solve")),
            )
        console.print(table)

    @tickets.command()
    def show(ticket_id: int, database_url: str | None = db_opt) -> None:
        """One ticket and its full history."""
        from gridgis.tickets.views import event_dict, ticket_dict

        store = _store(database_url)
        out = ticket_dict(store.get(ticket_id), store.catalogue)
        out["events"] = [event_dict(e) for e in store.events(ticket_id)]
        typer.echo(json.dumps(out, ensure_ascii=False, indent=1))


def demo(ctx: Any) -> None:
    """Demo step: import the sample tickets, run them through the loop (simulated), escalate, show statistics."""
    import time

    from gridgis.tickets.simulate import simulate
    from gridgis.tickets.store import TicketStore

    console.rule("[bold]工单闭环 tickets: 事件收集 → 分析研判 → 精准派单 → 签收处理 → 结果反馈 → 工作评价 → 事件办结")
    path = Path(ctx.data_dir) / "tickets.geojson"
    if not path.exists():
        console.print("no tickets.geojson in the sample: nothing to import")
        return
    repo = ctx.repository
    if repo.current_generation() is None:
        load_city_into(repo, Path(ctx.data_dir))
    store = TicketStore(repo)
    t0 = time.perf_counter()
    created, rejected = import_file(store, path)
    took = time.perf_counter() - t0
    console.print(f"imported {len(created):,} sample tickets in {took:.1f} s ({len(rejected)} not imported)")
    snapped = sum(1 for t in created if t.snapped)
    now = max(t.received_at for t in created) if created else datetime.now().astimezone()
    t1 = time.perf_counter()
    counts = simulate(store, created, now=now)
    sim_s = time.perf_counter() - t1
    console.print(
        f"simulated handling in {sim_s:.1f} s (seeded, not real data): "
        + ", ".join(f"{k} {v}" for k, v in counts.items())
    )
    first = created[0] if created else None
    if first is not None:
        events = store.events(first.id)
        console.print(
            f"ticket {first.id} ({first.external_id}, {first.matter_code}) history: "
            + " → ".join(f"{e.to_status}" for e in events)
        )
    escalated = store.escalate_overdue(now)
    again = store.escalate_overdue(now)
    console.print(
        f"escalated {len(escalated)} overdue tickets at {now.astimezone(SHANGHAI).isoformat()} "
        f"(a second run escalated {len(again)})"
    )
    rows = store.statistics()
    months = sorted({r["month"] for r in rows})
    shown = months[-2] if len(months) > 1 else (months[0] if months else None)  # the last full month
    if shown is not None:
        console.print(
            stats_table(
                [r for r in rows if r["month"] == shown],
                limit=15,
                title="工单统计（按网格）per-grid statistics, simulated handling,",
            )
        )
    total_resolved = sum(r["resolved"] for r in rows)
    on_time = sum(r["on_time"] for r in rows)
    ratings = [r["satisfaction"] * r["rated"] for r in rows if r["satisfaction"] is not None]
    rated = sum(r["rated"] for r in rows)
    ctx.facts["tickets"] = {
        "imported": len(created),
        "rejected": len(rejected),
        "snapped": snapped,
        "import_s": round(took, 2),
        "simulated": counts,
        "simulate_s": round(sim_s, 2),
        "escalated": len(escalated),
        "escalated_again": len(again),
        "grid_months": len(rows),
        "months": months,
        "on_time_rate": round(on_time / total_resolved, 3) if total_resolved else None,
        "satisfaction": round(sum(ratings) / rated, 2) if rated else None,
    }
