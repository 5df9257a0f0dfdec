"""Per-grid ticket figures by month, for worker assessment and for colouring the map.

For each (grid, month) — the month of ``received_at`` in Asia/Shanghai:

- ``volume``: tickets received, merged duplicates excluded (they count in ``merged``);
- ``resolved``: of those, resolved (resolved, rated or closed, not merged);
- ``on_time``: resolved by the solution deadline and never escalated for being overdue;
- ``on_time_rate`` = on_time / resolved; ``closure_rate`` = closed / volume;
- ``satisfaction``: mean rating (1–5) of the rated ones; ``satisfaction_rate``: share rated 4 or 5;
- ``open`` and ``overdue`` (escalated for lateness) counts.

Rates are None where their denominator is 0, so a map can show "no data" rather than 0 %.

One rule, one implementation: the counts are defined once, in :func:`counts`, as SQL aggregates
over the ticket columns, and always run in a database. :meth:`TicketStore.statistics` runs them in
the store's own (PostGIS or SQLite; one ``GROUP BY`` per month, each month a range of
``received_at`` that reads one partition); :func:`summarise`, for ticket rows already in Python
(batch jobs, files), and :func:`count_frame`, for a DataFrame of them (the people's assessment,
which adds its own matter groups as extra counts), load the rows into an in-memory SQLite table of
the same columns and run the same query. The month of a ticket is decided by :func:`month_range`
(UTC bounds of the month in the zone) everywhere, and the rates are finished from the counts by
:func:`_finish`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.schema import CreateTable

from gridgis.errors import ValidationError

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
LEVEL_COLUMNS = {
    "micro_grid": "micro_grid_code",
    "grid": "grid_code",
    "community": "community_code",
    "street": "street_code",
}
#: the ticket columns the figures read
COLUMNS = (
    "status",
    "matter_code",
    "micro_grid_code",
    "grid_code",
    "community_code",
    "street_code",
    "received_at",
    "resolved_at",
    "solve_due",
    "close_reason",
    "rating",
    "overdue",
)
#: the figures of one (area, month), in the order of every statistics row
FIGURES = (
    "volume",
    "merged",
    "resolved",
    "on_time",
    "closed",
    "open",
    "overdue",
    "rated",
    "on_time_rate",
    "closure_rate",
    "satisfaction",
    "satisfaction_rate",
)
_FINISHED = ("resolved", "rated", "closed")


def month_range(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC bounds [start, end) of ``month`` ("YYYY-MM") in ``tz``."""
    m = _MONTH.match(month or "")
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValidationError(f"month {month!r} is not YYYY-MM (e.g. 2026-10)")
    year, mon = int(m.group(1)), int(m.group(2))
    start = datetime(year, mon, 1, tzinfo=tz)
    end = datetime(year + (mon == 12), 1 if mon == 12 else mon + 1, 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def months_between(first: datetime | None, last: datetime | None, tz: ZoneInfo) -> list[str]:
    """The months ("YYYY-MM" in ``tz``) from the one of ``first`` to the one of ``last``, inclusive.

    >>> from gridgis.tickets.calendar import SHANGHAI
    >>> months_between(datetime(2026, 11, 30, 17, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC), SHANGHAI)
    ['2026-12', '2027-01']
    """
    if first is None or last is None:
        return []
    lo, hi = first.astimezone(tz), last.astimezone(tz)
    out = []
    year, mon = lo.year, lo.month
    while (year, mon) <= (hi.year, hi.month):
        out.append(f"{year:04d}-{mon:02d}")
        year, mon = (year + 1, 1) if mon == 12 else (year, mon + 1)
    return out


def _column(level: str) -> str:
    if level not in LEVEL_COLUMNS:
        raise ValidationError(f"unknown statistics level {level!r}; use one of {', '.join(LEVEL_COLUMNS)}")
    return LEVEL_COLUMNS[level]


# ----------------------------------------------------------------------------------------- the rule
def _count_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.sum(sa.case((condition, sa.literal_column("1")), else_=sa.literal_column("0")))


#: more counts a caller adds (e.g. the assessment's safety matters): name → condition over the table;
#: each counts the group's tickets that are not merged duplicates and meet the condition
Extra = Mapping[str, Callable[[Any], sa.ColumnElement[bool]]]


def counts(t: sa.Table | sa.TableClause, extra: Extra | None = None) -> dict[str, sa.ColumnElement[Any]]:
    """The counts of one group of tickets, as SQL aggregates over the columns of ``t`` (the ``tickets``
    table, or any table with the :data:`COLUMNS`): the one definition of the figures."""
    c = t.c
    merged = sa.func.coalesce(c.close_reason, "") == "merged"
    live = sa.not_(merged)
    overdue = c.overdue.is_(True)
    resolved = sa.and_(live, c.resolved_at.is_not(None))
    on_time = sa.and_(resolved, sa.not_(overdue), sa.or_(c.solve_due.is_(None), c.resolved_at <= c.solve_due))
    rated = sa.and_(live, c.rating.is_not(None))
    return {
        "volume": _count_if(live),
        "merged": _count_if(merged),
        "resolved": _count_if(resolved),
        "on_time": _count_if(on_time),
        "closed": _count_if(sa.and_(live, c.status == "closed")),
        "open": _count_if(sa.and_(live, *(c.status != s for s in _FINISHED))),
        "overdue": _count_if(sa.and_(live, overdue)),
        "rated": _count_if(rated),
        "rating_sum": sa.func.sum(sa.case((rated, c.rating), else_=sa.literal_column("0"))),
        "rated_good": _count_if(sa.and_(rated, c.rating >= 4)),
        **{name: _count_if(sa.and_(live, condition(t))) for name, condition in (extra or {}).items()},
    }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _finish(level: str, code: str | None, month: str, n: dict[str, Any]) -> dict[str, Any]:
    """One statistics row from the counts of its group (the rates computed here, in Python, so that
    every database gives the same floats)."""
    k = {name: int(n[name] or 0) for name in COUNTS}
    return {
        f"{level}_code": code or "",
        "month": month,
        "volume": k["volume"],
        "merged": k["merged"],
        "resolved": k["resolved"],
        "on_time": k["on_time"],
        "closed": k["closed"],
        "open": k["open"],
        "overdue": k["overdue"],
        "rated": k["rated"],
        "on_time_rate": _ratio(k["on_time"], k["resolved"]),
        "closure_rate": _ratio(k["closed"], k["volume"]),
        "satisfaction": round(k["rating_sum"] / k["rated"], 2) if k["rated"] else None,
        "satisfaction_rate": _ratio(k["rated_good"], k["rated"]),
    }


def figures_query(
    t: sa.Table | sa.TableClause, months: Sequence[str], tz: ZoneInfo, level: str = "grid", extra: Extra | None = None
) -> sa.Select[Any] | sa.CompoundSelect:
    """The counts per (area code at ``level``, month) of ``months``: one ``GROUP BY`` per month over the
    ``received_at`` range of the month (so PostgreSQL reads only that month's partition), ``UNION ALL``."""
    code = t.c[_column(level)]
    parts = []
    for month in months or ["1970-01"]:
        lo, hi = month_range(month, tz)
        figures = [expr.label(name) for name, expr in counts(t, extra).items()]
        q = (
            sa.select(code.label("code"), sa.literal(month, sa.String(7)).label("month"), *figures)
            .where(t.c.received_at >= lo, t.c.received_at < hi)
            .group_by(code)
        )
        parts.append(q if months else q.where(sa.false()))  # no months: a query of no rows
    return parts[0] if len(parts) == 1 else sa.union_all(*parts)


def _merge(rows: Iterable[Any], names: Sequence[str]) -> dict[tuple[str, str], dict[str, int]]:
    """The counts of :func:`figures_query`'s rows by (code, month); NULL and "" codes are one group."""
    merged: dict[tuple[str, str], dict[str, int]] = {}
    for r in rows:
        m = r._mapping if hasattr(r, "_mapping") else r
        into = merged.setdefault((m["code"] or "", m["month"]), dict.fromkeys(names, 0))
        for name in names:
            into[name] += int(m[name] or 0)
    return merged


def finish_rows(rows: Iterable[Any], level: str) -> list[dict[str, Any]]:
    """Statistics rows, sorted by (code, month), from the rows of :func:`figures_query`. Codes are
    compared in Python, not by the database's collation."""
    merged = _merge(rows, COUNTS)
    return [_finish(level, code, month, merged[(code, month)]) for code, month in sorted(merged)]


# ------------------------------------------------------------------------------ rows held in Python
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_TIMES = ("received_at", "resolved_at", "solve_due")


def _micros(value: datetime | None) -> int | None:
    """A time as integer microseconds since 1970 UTC (a naive time is UTC, as in the store): order and
    equality kept exactly, and cheap to write, for the in-memory table of :func:`summarise`."""
    if value is None:
        return None
    return ((value.replace(tzinfo=UTC) if value.tzinfo is None else value) - _EPOCH) // _MICRO


class _Micros(sa.types.TypeDecorator):
    """Times of the in-memory table: :func:`_micros` both for the rows and for the query's month bounds."""

    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> int | None:
        return _micros(value)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else _EPOCH + value * _MICRO


def _frame_table() -> sa.Table:
    """A table of the :data:`COLUMNS` with the types of ``tickets``'s (times as :class:`_Micros`), for
    :func:`summarise`."""
    from gridgis.tickets.tables import tickets

    return sa.Table(
        "ticket_rows",
        sa.MetaData(),
        *(sa.Column(name, _Micros() if name in _TIMES else tickets.c[name].type, nullable=True) for name in COLUMNS),
    )


_FRAME = _frame_table()
#: the names of the counts of :func:`counts`
COUNTS = tuple(counts(_FRAME))
#: the in-memory table's DDL, compiled once at import: ``MetaData.create_all`` on the shared table from
#: several request threads at once races inside SQLAlchemy's DDL visitor (KeyError '_saved_columns')
_FRAME_DDL = str(CreateTable(_FRAME).compile(dialect=sqlite_dialect()))


def _values(rows: Iterable[dict[str, Any]]) -> Iterator[tuple[Any, ...]]:
    for r in rows:
        yield tuple(_micros(r.get(name)) if name in _TIMES else r.get(name) for name in COLUMNS)


def _run(values: Iterable[tuple[Any, ...]], tz: ZoneInfo, level: str, extra: Extra | None) -> list[Any]:
    """:func:`figures_query` over rows of the :data:`COLUMNS` (times in :func:`_micros`) loaded into an
    in-memory SQLite table."""
    _column(level)
    engine = sa.create_engine("sqlite://")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(_FRAME_DDL)
            insert = f"INSERT INTO {_FRAME.name} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
            conn.connection.driver_connection.executemany(insert, values)  # type: ignore[union-attr]
            first, last = conn.execute(
                sa.select(sa.func.min(_FRAME.c.received_at), sa.func.max(_FRAME.c.received_at))
            ).one()
            return list(conn.execute(figures_query(_FRAME, months_between(first, last, tz), tz, level, extra)).all())
    finally:
        engine.dispose()


def _frame_values(frame: Any) -> Iterator[tuple[Any, ...]]:
    """The rows of a DataFrame as :func:`_values` makes them, column by column (NaN/NaT → None, numpy
    scalars → Python, times → integer microseconds since 1970 UTC like :func:`_micros`)."""
    import pandas as pd

    columns: list[Any] = []
    for name in COLUMNS:
        if name not in frame:
            columns.append([None] * len(frame))
        elif name in _TIMES:
            times = pd.to_datetime(frame[name], utc=True)
            micros = ((times - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)).tolist()
            columns.append([None if missing else int(v) for v, missing in zip(micros, times.isna().tolist())])
        else:
            col = frame[name]
            columns.append(col.astype(object).where(col.notna(), None).tolist())
    return zip(*columns)


def summarise(rows: Iterable[dict[str, Any]], *, tz: ZoneInfo, level: str = "grid") -> list[dict[str, Any]]:
    """Figures per (area code at ``level``, month) from ticket rows (dicts with the ticket columns).

    The rows are loaded into an in-memory SQLite table and the store's query (:func:`figures_query`)
    runs on it, so these figures are the store's by construction (tests/tickets/test_stats.py
    compares both on the same tickets).
    """
    return finish_rows(_run(_values(rows), tz, level, None), level)


def count_frame(frame: Any, *, tz: ZoneInfo, level: str = "grid", extra: Extra | None = None) -> Any:
    """The raw counts (:data:`COUNTS` and ``extra``'s) per (area code at ``level``, month) of a frame of
    ticket rows, as a DataFrame with columns ``code``, ``month`` and the counts (the figures before
    their rates, for callers that weigh them otherwise: the people's assessment indices)."""
    import pandas as pd

    names = [*COUNTS, *(extra or {})]
    merged = _merge(_run(_frame_values(frame), tz, level, extra), names)
    return pd.DataFrame(
        [{"code": code, "month": month, **merged[(code, month)]} for code, month in sorted(merged)],
        columns=["code", "month", *names],
    )


def statistics_frame(areas: Any, rows: list[dict[str, Any]], level: str = "grid") -> Any:
    """The area frame (e.g. the ``grids`` layer, EPSG:4326) with one month's figures as columns.

    Areas without tickets get volume 0 and empty rates, so a choropleth shows them as "no data".
    ``rows`` must be of one month (``TicketStore.statistics(month)``).
    """
    import pandas as pd

    key = f"{level}_code"
    months = {r["month"] for r in rows}
    if len(months) > 1:
        raise ValidationError(f"statistics of several months ({', '.join(sorted(months))}); pick one month")
    stats = pd.DataFrame(
        rows,
        columns=[
            key,
            "month",
            "volume",
            "merged",
            "resolved",
            "on_time",
            "closed",
            "open",
            "overdue",
            "rated",
            "on_time_rate",
            "closure_rate",
            "satisfaction",
            "satisfaction_rate",
        ],
    )
    out = (
        areas[["code", "name", "geometry"]]
        .merge(stats.drop(columns="month"), how="left", left_on="code", right_on=key)
        .drop(columns=key)
    )
    counts = ["volume", "merged", "resolved", "on_time", "closed", "open", "overdue", "rated"]
    out[counts] = out[counts].fillna(0).astype(int)
    out["month"] = next(iter(months), None)
    return out
