"""``gridgis calendar``: which years' holidays are known, and loading a new year from the State Council's notice."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from gridgis.cli.common import console


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    cal = typer.Typer(help="工作日历: public holidays and make-up working days used by ticket deadlines.")
    app.add_typer(cal, name="calendar")

    @cal.command("show")
    def show(
        year: int = typer.Option(None, "--year", help="list this year's holidays"),
        holidays_file: Path = typer.Option(None, "--holidays-file", help="default: GRIDGIS_HOLIDAYS_FILE"),
    ) -> None:
        """List the years whose holidays are known (built in, or loaded into the holidays file)."""
        from gridgis.tickets.calendar import known_schedules

        schedules = _schedules(known_schedules, holidays_file)
        console.print("known years: " + ", ".join(str(y) for y in sorted(schedules)))
        if year is not None:
            if year not in schedules:
                raise _error(f"the holidays of {year} are not known; load them with `gridgis calendar load`")
            for name, first, last, makeup in schedules[year]:
                extra = f"; make-up working days {', '.join(d.isoformat() for d in makeup)}" if makeup else ""
                console.print(f"{name}: {first.isoformat()} – {last.isoformat()}{extra}")

    @cal.command("load")
    def load(
        notice: Path = typer.Argument(
            ..., help="the notice's text (国务院办公厅关于YYYY年部分节假日安排的通知), UTF-8"
        ),
        year: int = typer.Option(..., "--year", help="the year the notice is for"),
        holidays_file: Path = typer.Option(None, "--holidays-file", help="default: GRIDGIS_HOLIDAYS_FILE"),
        commit: bool = typer.Option(False, "--commit", help="write the year into the holidays file (else a dry run)"),
    ) -> None:
        """Read a year's holidays from the notice; with --commit add them to the holidays file.

        The server and the ticket commands read the file named by GRIDGIS_HOLIDAYS_FILE.
        """
        from gridgis.tickets.calendar import parse_notice, read_schedules, write_schedules

        try:
            entries = parse_notice(notice.read_text(encoding="utf-8"), year)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise _error(f"{notice}: {exc}") from None
        for name, first, last, makeup in entries:
            extra = f"; 上班 {', '.join(d.isoformat() for d in makeup)}" if makeup else ""
            console.print(f"{name}: {first.isoformat()} – {last.isoformat()} ({(last - first).days + 1} 天){extra}")
        target = holidays_file or os.environ.get("GRIDGIS_HOLIDAYS_FILE")
        if not commit:
            console.print(f"dry run: {len(entries)} holidays of {year}; add --commit to write them")
            return
        if not target:
            raise _error("no holidays file: pass --holidays-file or set GRIDGIS_HOLIDAYS_FILE")
        try:
            existing = read_schedules(target) if Path(target).exists() else {}
        except ValueError as exc:
            raise _error(str(exc)) from None
        existing[year] = entries
        write_schedules(target, existing)
        console.print(f"{year}: {len(entries)} holidays written to {target}")


def _schedules(known_schedules, holidays_file: Path | None):
    try:
        return known_schedules(holidays_file)
    except ValueError as exc:
        raise _error(str(exc)) from None


def _error(message: str) -> Exception:
    from gridgis.errors import ValidationError

    return ValidationError(message)
