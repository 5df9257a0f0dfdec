"""``gridgis members``, ``gridgis people``, ``gridgis roster`` and ``gridgis intake``: thin shells over gridgis.people.

- ``gridgis members import FILE`` (CSV/XLSX, Chinese headers 姓名, 类别, 住址/楼栋, 单位, 电话 …)
- ``gridgis people sync-orgs | sample | coverage | follow | points | assess | care | wishes``
- ``gridgis roster --area CODE --kind flood --out roster.xlsx|.html|.json [--pseudonymise]``
- ``gridgis intake import FILE`` (12345 orders) and ``gridgis intake queue``

Command-line work is attributed to ``cli:<OS user>`` in the audit log; reads of care records and
every export are audited.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from gridgis.cli.common import console, open_repository

DB = typer.Option(None, "--database-url", help="store (default GRIDGIS_DATABASE_URL)")
COMMIT = typer.Option(False, "--commit", help="store it (without: a dry run that stores nothing)")


def _store(database_url: str | None) -> Any:
    from gridgis.people.store import PeopleStore

    return PeopleStore(open_repository(database_url))


def _me() -> Any:
    from gridgis.people.access import cli_principal

    return cli_principal()


def _write_table(frame: Any, out: Path) -> None:
    if out.suffix.lower() == ".xlsx":
        frame.to_excel(out, index=False, engine="openpyxl")
    elif out.suffix.lower() == ".json":
        out.write_text(frame.to_json(orient="records", force_ascii=False, indent=1), encoding="utf-8")
    else:
        frame.to_csv(out, index=False, encoding="utf-8-sig")


def register(app: typer.Typer) -> None:
    members = typer.Typer(help="党员与志愿者 members: import a roll (CSV/XLSX).", no_args_is_help=True)
    people = typer.Typer(
        help="人员与组织 people: organisations, responsibility, points, assessment, care.", no_args_is_help=True
    )
    intake = typer.Typer(help="12345 工单接入 intake: import work orders, show the queue.", no_args_is_help=True)
    app.add_typer(members, name="members")
    app.add_typer(people, name="people")
    app.add_typer(intake, name="intake")

    @members.command("import")
    def members_import(
        file: Path = typer.Argument(..., help="CSV or XLSX with 姓名, 类别, 住址 or 楼栋, 单元, 单位, 电话, 岗位 …"),
        database_url: str | None = DB,
        commit: bool = COMMIT,
    ) -> None:
        """Import members, workers and volunteers; each placed by building code or address (unplaced ones reported, kept); stored with --commit."""
        from gridgis.people.store import import_members

        store = _store(database_url)
        with store.audited(_me(), "members-import", path="gridgis members import") as entry:
            report = import_members(store, file, commit=commit)
            entry.message = f"{file.name}: {report['imported']} imported"
            entry.skip = not commit  # a dry run stores nothing, so it is not audited
        console.print(
            f"{'imported' if commit else 'dry run: would import'} {report['imported']} persons from {file.name}: "
            f"{report['placed']} placed, {len(report['unplaced'])} unplaced (kept), {len(report['rejected'])} rejected"
            + ("" if commit else "; nothing stored (pass --commit to store them)")
        )
        for u in report["unplaced"][:50]:
            console.print(f"  unplaced row {u['row']} {u['name']}: {u['reason']}")
        for r in report["rejected"][:50]:
            console.print(f"  rejected row {r['row']} {r['name']}: {r['reason']}", style="red")
        if report["unknown_headers"]:
            console.print("ignored columns: " + ", ".join(report["unknown_headers"]))

    @people.command("sync-orgs")
    def sync_orgs(database_url: str | None = DB, commit: bool = COMMIT) -> None:
        """Persist the alignment's party tree as organisations (re-runs keep codes and hand edits); stored with --commit."""
        store = _store(database_url)
        with store.audited(_me(), "orgs-sync", path="gridgis people sync-orgs") as entry:
            counts = store.sync_orgs(commit=commit)
            entry.message = json.dumps(counts)
            entry.skip = not commit
        console.print(
            ("" if commit else "dry run (pass --commit to store it): ")
            + "organisations: "
            + ", ".join(f"{k} {v}" for k, v in counts.items())
        )

    @people.command("sample")
    def sample(
        seed: int = typer.Option(0, help="population seed"),
        file: Path | None = typer.Option(
            None, "--file", help="a population.json written by gridgis sample-city (default: draw it with --seed)"
        ),
        database_url: str | None = DB,
        commit: bool = COMMIT,
    ) -> None:
        """Load the deterministic synthetic population (members, volunteers, wishes, activities, care); stored with --commit."""
        from gridgis.people.load import load_population
        from gridgis.sample.population import generate_population, read_population

        store = _store(database_url)
        pop = read_population(file) if file else generate_population(store.repository.read_city(), seed=seed)
        if not commit:
            counts = pop.counts()
            console.print(
                "dry run: would load "
                + ", ".join(f"{k} {v}" for k, v in counts.items())
                + "; nothing stored (pass --commit)"
            )
            return
        with store.audited(_me(), "people-sample", path="gridgis people sample") as entry:
            counts = load_population(store, pop, step=lambda m: console.print(f"· {m}"))
            entry.message = json.dumps(counts, default=str)
        console.print(json.dumps(counts, ensure_ascii=False, default=str))

    @people.command("coverage")
    def coverage(
        area: str | None = typer.Option(None, help="street, community or grid code (default: everywhere)"),
        geojson: Path | None = typer.Option(None, help="write the buildings coloured by responsibility (GeoJSON)"),
        as_json: bool = typer.Option(False, "--json", help="print the full report as JSON"),
        database_url: str | None = DB,
    ) -> None:
        """Responsibility check: buildings/units with nobody, over-assigned persons, micro-grids without their worker."""
        from gridgis.people.responsibility import coverage_layer
        from gridgis.people.service import coverage_report

        store = _store(database_url)
        report = coverage_report(store, area)
        if as_json:
            console.print_json(
                json.dumps(
                    {
                        **report.summary(),
                        "over_assigned": report.over_assigned,
                        "micro_grids_without_worker": report.micro_grids_without_worker,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            s = report.summary()
            console.print(
                f"{s['buildings']} buildings, {s['share_covered']:.1%} covered (包栋 or every unit 包单元); "
                + ", ".join(f"{k} {v}" for k, v in s["states"].items())
            )
            console.print(
                f"uncovered buildings {s['uncovered_buildings']}, uncovered units {s['uncovered_units']}, "
                f"over-assigned {s['over_assigned']}, micro-grids without worker {s['micro_grids_without_worker']}"
            )
            for o in report.over_assigned[:20]:
                console.print(
                    f"  over-assigned: {o['name']} ({o['person_id']}) {o['label']} {o['count']} > {o['limit']}"
                )
        if geojson:
            layer = coverage_layer(store.repository.read_layer("buildings"), report.states, show_names=True)
            geojson.write_text(layer.to_json(ensure_ascii=False, drop_id=True), encoding="utf-8")
            store.audit(_me(), "export-coverage", [area], str(geojson), path="gridgis people coverage")
            console.print(f"wrote {geojson}")

    @people.command("follow")
    def follow(database_url: str | None = DB, commit: bool = COMMIT) -> None:
        """After a boundary edit: re-place people by building; keep residents' assignments, flag grid workers' (stored with --commit)."""
        store = _store(database_url)
        with store.audited(_me(), "people-follow", path="gridgis people follow") as entry:
            report = store.follow_boundaries(commit=commit)
            entry.codes = report["moved_buildings"]
            entry.skip = not commit
        console.print(
            ("" if commit else "dry run (pass --commit to store it): ")
            + f"{len(report['moved_buildings'])} buildings moved; {report['persons_replaced']} persons re-placed; "
            f"{len(report['assignments_kept'])} assignments kept, {len(report['assignments_flagged'])} flagged"
        )
        for f in report["assignments_flagged"][:30]:
            console.print(f"  flagged: {f}")

    @people.command("points")
    def points(
        period: str = typer.Option(..., help="YYYY-MM (scores), YYYYQn (stars), YYYYHn (redemption) or YYYY (awards)"),
        org: str | None = typer.Option(None, help="only members of this organisation (code) and its sub-organisations"),
        area: str | None = typer.Option(None, help="only persons under this area code"),
        out: Path | None = typer.Option(None, help="write the ledger (.csv, .xlsx or .json)"),
        pseudonymise: bool = typer.Option(False, help="replace names by stable pseudonyms in the export"),
        rules: Path | None = typer.Option(None, help="your county's points rules (YAML)"),
        database_url: str | None = DB,
    ) -> None:
        """The star-points ledger (一月一算分、一季一评星、半年一兑换、一年一奖评), per organisation."""
        from gridgis.people.service import points_ledger

        store = _store(database_url)
        frame = points_ledger(
            store, period, org=org, area=area, rules=str(rules) if rules else None, pseudonymise=pseudonymise
        )
        table = Table(title=f"积分 {period}" + (f" · {org}" if org else ""))
        for c in frame.columns:
            table.add_column(str(c))
        for row in frame.head(30).itertuples(index=False):
            table.add_row(*[str(v) for v in row])
        console.print(table)
        console.print(f"{len(frame)} rows")
        if out:
            _write_table(frame, out)
            store.audit(
                _me(),
                "export-points",
                [org or area],
                f"{out} pseudonymised={pseudonymise}",
                path="gridgis people points",
            )
            console.print(f"wrote {out}")

    @people.command("assess")
    def assess(
        period: str = typer.Option(
            ..., help="YYYY-MM, YYYYQn, YYYYHn (publication table 晾晒) or YYYY (yearly, graded)"
        ),
        level: str = typer.Option("grid", help="grid or micro_grid"),
        workers: bool = typer.Option(False, help="one row per worker (their area's scores)"),
        out: Path | None = typer.Option(None, help="write the table (.csv, .xlsx, .json)"),
        chart: Path | None = typer.Option(None, help="write a bar chart of the four indices (.svg)"),
        config: Path | None = typer.Option(None, help="your assessment weights and coefficients (YAML)"),
        database_url: str | None = DB,
    ) -> None:
        """The four indices (安全/环境/服务/幸福) per grid or worker, from the store's tickets and ratings."""
        from gridgis.people.assessment import chart_svg
        from gridgis.people.service import assessment_table

        store = _store(database_url)
        frame = assessment_table(store, period, level=level, workers=workers, config=str(config) if config else None)
        key = "worker" if workers else f"{level}_code"
        table = Table(title=f"四个指数 {period} ({level})")
        cols = [
            c
            for c in (key, "safety", "environment", "service", "happiness", "total", "grade", "rank_in_community")
            if c in frame.columns
        ]
        for c in cols:
            table.add_column(c)
        for row in frame[cols].head(30).itertuples(index=False):
            table.add_row(*["" if v is None else str(v) for v in row])
        console.print(table)
        if out:
            _write_table(frame, out)
            store.audit(_me(), "export-assessment", [], str(out), path="gridgis people assess")
            console.print(f"wrote {out}")
        if chart:
            chart.write_text(chart_svg(frame, f"四个指数 {period}", key), encoding="utf-8")
            console.print(f"wrote {chart}")

    @people.command("care")
    def care(
        area: str | None = typer.Option(None, help="street, community, grid or micro-grid code"),
        building: str | None = typer.Option(None, help="one building code"),
        database_url: str | None = DB,
    ) -> None:
        """The care register of an area or building (the read is audited)."""
        from gridgis.people.care import care_records

        store = _store(database_url)
        rows = care_records(store, area=area, building_code=building)
        store.audit(
            _me(),
            "read-care",
            sorted({r["building_code"] for r in rows}),
            f"{len(rows)} records",
            path="gridgis people care",
        )
        table = Table(title="关爱台账 care register")
        for c in ("building_code", "unit", "resident", "category", "needs", "phone"):
            table.add_column(c)
        for r in rows[:100]:
            table.add_row(
                *[str(r.get(c) or "") for c in ("building_code", "unit", "resident", "category", "needs", "phone")]
            )
        console.print(table)
        console.print(f"{len(rows)} records")

    @people.command("wishes")
    def wishes(
        area: str | None = typer.Option(None), status: str | None = typer.Option(None), database_url: str | None = DB
    ) -> None:
        """Residents' small wishes (微心愿) and their states."""
        from gridgis.people.wishes import list_wishes

        rows = list_wishes(_store(database_url), area=area, status=status)
        table = Table(title="微心愿 wishes")
        for c in ("id", "status_label", "title", "building_code", "org_code", "claimed_by"):
            table.add_column(c)
        for r in rows[:60]:
            table.add_row(
                *[
                    str(r.get(c) or "")
                    for c in ("id", "status_label", "title", "building_code", "org_code", "claimed_by")
                ]
            )
        console.print(table)

    @people.command("assign")
    def assign(
        person_id: int = typer.Argument(..., help="the person's id"),
        level: str = typer.Argument(..., help="patch, building, unit, household or micro_grid"),
        target: str = typer.Argument(..., help="grid/community code, building code, <building>-U<n>, micro-grid code"),
        database_url: str | None = DB,
    ) -> None:
        """Make a person answer for a target (包片/包栋/包单元/包户/微网格)."""
        store = _store(database_url)
        with store.audited(_me(), "assign", [target], f"person {person_id} {level}", path="gridgis people assign") as e:
            out = store.assign(person_id, level, target)
            e.codes.append(out["grid_code"])
        console.print(f"assignment {out['id']}: person {person_id} answers for {target} ({level})")

    @people.command("org-add")
    def org_add(
        kind: str = typer.Option(..., help="central_household or cobuilding_unit (or a branch kind)"),
        name: str = typer.Option(...),
        parent: str | None = typer.Option(None, help="parent organisation code"),
        community: list[str] = typer.Option([], help="paired community (co-building units; repeatable)"),
        building: str | None = typer.Option(None, help="building code (central households)"),
        database_url: str | None = DB,
    ) -> None:
        """Add an organisation: a party-member central household or a co-building unit (共驻共建单位)."""
        store = _store(database_url)
        with store.audited(_me(), "org-add", message=name, path="gridgis people org-add") as entry:
            org = store.add_org(kind, name, parent, communities=list(community), building_code=building)
            entry.codes = [org["code"], org["community_code"]]
        console.print(f"organisation {org['code']} {org['name']} under {org['parent_code']}")

    @people.command("org-edit")
    def org_edit(
        code: str = typer.Argument(...),
        name: str | None = typer.Option(None),
        parent: str | None = typer.Option(None, help="new parent organisation code"),
        database_url: str | None = DB,
    ) -> None:
        """Rename or re-parent an organisation (a later sync-orgs keeps the edit)."""
        store = _store(database_url)
        with store.audited(_me(), "org-edit", [code], f"name={name} parent={parent}", path="gridgis people org-edit"):
            org = store.edit_org(code, name=name, parent_code=parent)
        console.print(f"organisation {org['code']}: {org['name']} under {org['parent_code']}")

    @people.command("wish")
    def wish(
        title: str = typer.Option(..., help="the wish, e.g. 帮忙更换楼道灯泡"),
        building: str | None = typer.Option(None, help="building code"),
        address: str | None = typer.Option(None, help="or an address"),
        resident: str | None = typer.Option(None),
        phone: str | None = typer.Option(None),
        database_url: str | None = DB,
    ) -> None:
        """Post a wish on a resident's behalf (居民点单) and show the nearest members who could take it."""
        from gridgis.people.wishes import post_wish, suggest_claimers

        store = _store(database_url)
        with store.audited(_me(), "wish-post", path="gridgis people wish") as entry:
            w = post_wish(
                store,
                title=title,
                building_code=building,
                address=address,
                resident=resident,
                phone=phone,
                channel="cli",
                posted_by=f"{_me().name}（代居民）",
            )
            entry.codes, entry.message = [w["grid_code"]], f"wish {w['id']}"
        console.print(f"wish {w['id']} posted in {w['grid_code']} for {w['org_code']}")
        for s in suggest_claimers(store, w["id"], limit=5):
            console.print(f"  nearest: {s['name']} ({s['id']}) {s['walk_m']:.0f} m, {s['walk_min']:.0f} min")

    @people.command("wish-move")
    def wish_move(
        wish_id: int = typer.Argument(...),
        action: str = typer.Argument(..., help="dispatch, claim, release, fulfil, confirm, reject or cancel"),
        person: int | None = typer.Option(None, help="claim: the member's person id"),
        note: str = typer.Option(""),
        database_url: str | None = DB,
    ) -> None:
        """Move a wish along 小区派单 → 党员接单 → 完成 → 居民确认."""
        from gridgis.people.wishes import transition_wish

        store = _store(database_url)
        with store.audited(_me(), f"wish-{action}", message=f"wish {wish_id}", path="gridgis people wish-move") as e:
            w = transition_wish(store, wish_id, action, actor=_me().name, person_id=person, note=note)
            e.codes = [w["grid_code"]]
        console.print(f"wish {wish_id}: {w['status']} ({w['status_label']}), version {w['version']}")

    @people.command("knock")
    def knock(
        micro_grid: str | None = typer.Option(
            None, help="add door-knocking tasks for this micro-grid (one per building)"
        ),
        title: str = typer.Option("敲门行动", help="task title"),
        done: int | None = typer.Option(None, help="mark this task id done"),
        area: str | None = typer.Option(None, help="show completion under this area"),
        database_url: str | None = DB,
    ) -> None:
        """Door-knocking tasks (敲门行动、扫楼清底): add per micro-grid, mark done, show completion."""
        from gridgis.people.care import add_door_tasks, complete_task, door_tasks, task_progress

        store = _store(database_url)
        if micro_grid:
            with store.audited(_me(), "tasks-add", [micro_grid], path="gridgis people knock") as entry:
                ids = add_door_tasks(store, micro_grid, title)
                entry.message = f"{len(ids)} tasks"
            console.print(f"{len(ids)} tasks added in {micro_grid}")
        if done is not None:
            with store.audited(_me(), "task-done", message=f"task {done}", path="gridgis people knock") as entry:
                t = complete_task(store, done, by=_me().name)
                entry.codes = [t["micro_grid_code"]]
            console.print(f"task {done} done")
        for p in task_progress(door_tasks(store, area)):
            console.print(f"{p['micro_grid_code']}: {p['done']}/{p['tasks']} done ({p['share_done']:.0%})")

    @app.command("roster")
    def roster(
        area: str = typer.Option(..., help="street, community, grid or micro-grid code"),
        kind: str = typer.Option("general", help="flood, fire, epidemic, earthquake, power or general"),
        out: Path = typer.Option(
            ..., help="roster.xlsx (workbook), roster.html (printable map), roster.json or roster.geojson (map layer)"
        ),
        pseudonymise: bool = typer.Option(False, help="names replaced by pseudonyms, phones removed"),
        all_members: bool = typer.Option(False, help="list every member living there, not only in-service ones"),
        database_url: str | None = DB,
    ) -> None:
        """Emergency roster (平急转换): per micro-grid the members and volunteers living there, vulnerable residents, stations."""
        from gridgis.people.service import export_roster

        store = _store(database_url)
        t0 = time.perf_counter()
        with console.status("building the roster…"):
            summary = export_roster(
                store, area, kind, out, pseudonymise=pseudonymise, all_members=all_members, principal=_me()
            )
        console.print(
            f"roster of {area} ({kind}) in {time.perf_counter() - t0:.1f} s: "
            + ", ".join(f"{k} {v}" for k, v in summary.items())
            + f" → {out}"
        )

    @intake.command("import")
    def intake_import(
        file: Path = typer.Argument(..., help="CSV/XLSX with 工单编号, 来电时间, 诉求内容, 诉求地址, 联系电话, 类别"),
        database_url: str | None = DB,
        commit: bool = COMMIT,
    ) -> None:
        """Import 12345 work orders: routed ones become tickets, the others are queued (re-importing adds nothing); stored with --commit."""
        from gridgis.people.importer import read_table, records
        from gridgis.people.intake import intake_orders

        store = _store(database_url)
        result = intake_orders(store, records(read_table(file)), actor="cli-12345", commit=commit)
        if commit:
            store.audit(
                _me(),
                "intake-import",
                [],
                f"{file.name}: " + json.dumps({k: v for k, v in result.items() if k != "orders"}),
                path="gridgis intake import",
            )
        console.print(
            f"{file.name}: {'' if commit else 'dry run: '}{result['ticketed']} tickets "
            f"{'created' if commit else 'would be created'}, {result['queued']} queued for a person, "
            f"{result['skipped']} already imported, {result['rejected']} rejected"
            + ("" if commit else "; nothing stored (pass --commit to store them)")
        )
        for q in result["orders"]["queued"][:30]:
            console.print(f"  queued {q['order_no']}: {q['reason']}")
        for r in result["orders"]["rejected"][:30]:
            console.print(f"  rejected row {r['row'] + 2}: {r['reason']}", style="red")

    @intake.command("queue")
    def intake_queue(database_url: str | None = DB) -> None:
        """12345 orders waiting for a person to place them."""
        from gridgis.people.intake import queue

        rows = queue(_store(database_url))
        for r in rows:
            console.print(f"{r['order_no']} {r['address'] or ''} {r['category'] or ''}: {r['reason']}")
        console.print(f"{len(rows)} queued")


def demo(ctx: Any) -> None:
    """Demo step: the population, responsibility coverage, a wish, points, indices, care and a roster."""
    from gridgis.people.assessment import chart_svg
    from gridgis.people.load import load_population
    from gridgis.people.service import assessment_table, coverage_report, export_roster, points_ledger
    from gridgis.people.store import PeopleStore
    from gridgis.people.wishes import get_wish, post_wish, suggest_claimers, transition_wish
    from gridgis.sample.population import POPULATION_FILE, generate_population, read_population

    console.rule("[bold]人员与组织 people: 党员、志愿者、包栋包单元、微心愿、积分、四个指数、关爱、平急转换")
    repo = ctx.repository
    if repo.current_generation() is None:
        from gridgis.cli.tickets import load_city_into

        load_city_into(repo, Path(ctx.data_dir))
    store = PeopleStore(repo)
    t0 = time.perf_counter()
    written = Path(ctx.data_dir) / POPULATION_FILE  # gridgis sample-city writes it with the city
    pop = read_population(written) if written.exists() else generate_population(repo.read_city(), seed=0)
    counts = load_population(store, pop)
    ctx.facts["people"] = counts
    source = written if written.exists() else "seed 0"
    console.print(
        f"synthetic population ({source}; not real people) loaded in {time.perf_counter() - t0:.1f} s: {counts}"
    )
    report = coverage_report(store)
    s = report.summary()
    ctx.facts["people_share_covered"] = s["share_covered"]
    console.print(
        f"responsibility: {s['share_covered']:.1%} of {s['buildings']} buildings covered; {s['uncovered_units']} units uncovered, "
        f"{s['over_assigned']} persons over-assigned, {s['micro_grids_without_worker']} micro-grids without their worker"
    )
    b = store.placer.buildings.index[0]
    wish = post_wish(store, title="帮忙更换楼道灯泡", building_code=b, channel="demo", posted_by="网格员代居民")
    near = suggest_claimers(store, wish["id"], limit=3)
    transition_wish(store, wish["id"], "dispatch", actor="demo")
    if near:
        transition_wish(store, wish["id"], "claim", actor="demo", person_id=near[0]["id"])
        transition_wish(store, wish["id"], "fulfil", actor="demo")
        transition_wish(store, wish["id"], "confirm", actor="居民")
    w = get_wish(store, wish["id"], with_events=True)
    console.print(
        f"wish {w['id']} 居民点单→小区派单({w['org_code']})→党员接单 (nearest {near[0]['walk_m'] if near else '–'} m walk): "
        + " → ".join(e["to_status"] for e in w["events"])
    )
    ledger = points_ledger(store, "2026Q3")
    console.print(
        f"star points 2026Q3: {len(ledger)} members rated, {int((ledger['stars'] >= 4).sum()) if len(ledger) else 0} with 4+ stars"
    )
    months = assessment_table(store, "2026-09")
    if len(months):
        best = months.sort_values("total", ascending=False).iloc[0]
        console.print(f"four indices 2026-09: {len(months)} grids; best {best['grid_code']} total {best['total']}")
        chart = Path(ctx.out_dir) / "people-indices.svg"
        chart.write_text(chart_svg(months, "四个指数 2026-09", "grid_code"), encoding="utf-8")
    from gridgis.people.intake import intake_orders

    comp = repo.read_layer("compounds").iloc[0]
    orders = [
        {
            "工单编号": "DEMO-12345-1",
            "来电时间": "2026-09-30 09:12:00",
            "诉求内容": "楼道堆放杂物",
            "诉求地址": f"{comp['name']}1号楼",
            "类别": "消防安全",
        },
        {
            "工单编号": "DEMO-12345-2",
            "来电时间": "2026-09-30 09:40:00",
            "诉求内容": "夜间噪音",
            "诉求地址": "某某路无名小区",
            "类别": "噪声扰民",
        },
    ]
    first, again = intake_orders(store, orders), intake_orders(store, orders)
    console.print(
        f"12345 intake: {first['ticketed']} ticket(s), {first['queued']} queued for a person "
        f"({first['orders']['queued'][0]['reason'] if first['queued'] else ''}); re-sent: {again['skipped']} skipped"
    )
    community = store.placer.buildings["community_code"].iloc[0]
    out = Path(ctx.out_dir) / "roster.html"
    from gridgis.people.access import cli_principal

    summary = export_roster(store, community, "flood", out, principal=cli_principal())
    export_roster(store, community, "flood", Path(ctx.out_dir) / "roster.xlsx", principal=cli_principal())
    console.print(f"flood roster of {community}: {summary} → {out} and roster.xlsx")
    _demo_follow(ctx, store)


def _demo_follow(ctx: Any, store: Any) -> None:
    """Hand a building with a volunteer to a neighbouring grid (the one boundary write path): its people follow."""
    from gridgis.codes import area_of
    from gridgis.editing import operations, service
    from gridgis.editing.follow import with_micro_grids
    from gridgis.errors import GridGISError

    repo = store.repository
    assigned = store.assignments_frame()
    units = assigned[(assigned["level"] == "unit") & (assigned["kind"] == "volunteer")]
    if not len(units):
        return
    candidates = list(dict.fromkeys(str(t).rsplit("-U", 1)[0] for t in units["target"]))[:30]
    for building in candidates:  # the first one a neighbouring grid can take (a building on the grid's edge)
        grid = str(store.placer.buildings.at[building, "grid_code"])
        grids = repo.read_layer("grids", filters={"community_code": area_of(grid)})
        blds = repo.read_layer("buildings", filters={"community_code": area_of(grid)})
        box = tuple(float(v) for v in grids.total_bounds)
        micro = repo.read_layer("micro_grids", bbox=box)
        micro = micro[micro["grid_code"].astype(str).isin(set(grids["code"].astype(str))).to_numpy()]
        for to in sorted(set(grids["code"].astype(str)) - {grid}):
            try:
                edits = operations.transfer_buildings(grids, blds, [building], to)
                edits = with_micro_grids(edits, grids, micro, blds)
                gen = service.commit(repo, edits, "演示规划", f"hand {building} to {to}")
            except GridGISError:
                continue  # not a neighbour: the next grid
            moved = store.persons_frame(building_codes=[building])
            kept = store.assignments_frame(communities=[area_of(grid)])
            on = kept[kept["target"].astype(str).str.startswith(building)]
            flagged = int(on["flag"].fillna("").astype(str).str.len().gt(0).sum())
            ctx.facts["people_follow"] = {"building": building, "to": to, "persons": len(moved), "flagged": flagged}
            console.print(
                f"boundary write (generation {gen.id}): building {building} handed from {grid} to {to}; its "
                f"{len(moved)} residents now in grid {sorted(set(moved['grid_code']))}, {len(on) - flagged} "
                f"assignments kept, {flagged} flagged (the old grid's worker): people follow every boundary commit"
            )
            return
    console.print("boundary follow-up: no building with a volunteer lies on a grid's edge here; nothing handed over")
