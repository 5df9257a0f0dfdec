"""One name per CLI option: the store is ``--database-url`` everywhere, and a command that can
write or only show what it would write is a dry run unless ``--commit``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer.main

from gridgis.cli import app


def _commands(command: Any = None, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    command = command or typer.main.get_command(app)
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield " ".join(path), command


def _options() -> dict[str, dict[str, list[str]]]:
    """command -> parameter name -> its option strings"""
    return {
        name: {p.name: [*p.opts, *p.secondary_opts] for p in cmd.params if p.param_type_name == "option"}
        for name, cmd in _commands()
    }


def test_the_walk_sees_every_area():
    names = set(_options())
    assert {"import", "export", "align apply", "edit revert", "audit", "tickets import", "people assess"} <= names


def test_the_store_is_database_url_in_every_command():
    seen = 0
    for command, options in _options().items():
        for param, flags in options.items():
            if param in ("db", "database", "database_url", "url", "dsn") or any("db" in f for f in flags):
                assert flags == ["--database-url"], f"gridgis {command}: {flags}"
                seen += 1
    assert seen > 30


def test_writes_are_dry_runs_unless_commit():
    for command, options in _options().items():
        flags = {f for fs in options.values() for f in fs}
        assert not flags & {"--dry-run", "--store", "--write", "--apply", "--no-commit"}, f"gridgis {command}"
        if "--commit" in flags:
            assert options["commit"] == ["--commit"], f"gridgis {command}"
    with_commit = {c for c, o in _options().items() if "commit" in o}
    assert {
        "import",
        "import-real",
        "align apply",
        "microgrid split",
        "edit import",
        "edit revert",
        "tickets import",
        "tickets escalate",
        "members import",
        "people sample",
        "people follow",
        "people sync-orgs",
        "intake import",
    } <= with_commit


def test_audit_reads_the_store_given_by_database_url(tmp_path):
    from typer.testing import CliRunner

    from gridgis.storage import Repository

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    Repository(url).create_schema()
    result = CliRunner().invoke(app, ["audit", "--database-url", url, "--json"])
    assert result.exit_code == 0, result.output
    assert result.output == ""  # a fresh store has no entries yet


def test_household_defaults_are_the_layers_one_setting():
    from gridgis.layers.community import HOUSEHOLD_RANGE as COMMUNITY
    from gridgis.layers.grid import HOUSEHOLD_RANGE as GRID
    from gridgis.layers.micro_grid import HOUSEHOLD_RANGE as MICRO_GRID

    defaults = {name: {p.name: p.default for p in cmd.params} for name, cmd in _commands()}
    for command in ("align analyze", "align propose", "align apply"):
        assert (defaults[command]["min_households"], defaults[command]["max_households"]) == GRID, command
    split = defaults["microgrid split"]
    assert (split["min_households"], split["max_households"]) == MICRO_GRID
    check = defaults["check"]
    assert (check["grid_min"], check["grid_max"], check["community_min"], check["community_max"]) == GRID + COMMUNITY
