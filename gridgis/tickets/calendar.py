"""Working time in Asia/Shanghai: Chinese public holidays, make-up working days (调休), deadlines.

Rules (the documented choice of gridgis):

- A **working day** is Monday–Friday, except the public holidays below, plus the make-up
  working days (调休上班, usually a Saturday or Sunday) announced with them.
- **Working hours** default to 08:30–12:00 and 13:30–17:30 (7.5 h a day), configurable.
- Limits in clock units (``min``, ``h``, ``d``) are added in clock time: the first response
  within 20 minutes holds at night and on holidays too (grid duty rosters cover it).
- Limits in working units count working time only: ``wh`` working hours, ``wd`` working days,
  one working day being one day's working hours. So a ticket received on a working day at
  10:00 with "1 working day" is due at 10:00 on the next working day; a ticket received
  outside working hours starts its clock at the next working start (due at that day's end).

Holiday data are the State Council's notices (国务院办公厅关于2025年/2026年部分节假日安排的通知);
more years are loaded from a holidays file (``GRIDGIS_HOLIDAYS_FILE``, written by
``gridgis calendar load NOTICE --year Y --commit`` from the notice's text). Other years fall back to
weekends only, and never silently: ``WorkCalendar.covers(year)`` says which years are known,
:func:`calendar_warning` words the warning carried by tickets and ``/ready``.

Examples
--------
>>> from datetime import datetime
>>> cal = default_calendar()
>>> start = datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI)      # Wednesday before National Day
>>> add_working_time(start, timedelta(hours=7.5)).isoformat()   # 1 working day → 10:00 on Oct 8 (holiday Oct 1–7)
'2026-10-08T10:00:00+08:00'
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

#: (name, first day off, last day off, make-up working days) per holiday, by year
HOLIDAY_SCHEDULES: dict[int, list[tuple[str, date, date, tuple[date, ...]]]] = {
    2025: [  # 国办发明电〔2024〕12号
        ("元旦", date(2025, 1, 1), date(2025, 1, 1), ()),
        ("春节", date(2025, 1, 28), date(2025, 2, 4), (date(2025, 1, 26), date(2025, 2, 8))),
        ("清明节", date(2025, 4, 4), date(2025, 4, 6), ()),
        ("劳动节", date(2025, 5, 1), date(2025, 5, 5), (date(2025, 4, 27),)),
        ("端午节", date(2025, 5, 31), date(2025, 6, 2), ()),
        ("国庆节、中秋节", date(2025, 10, 1), date(2025, 10, 8), (date(2025, 9, 28), date(2025, 10, 11))),
    ],
    2026: [  # 国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04)
        ("元旦", date(2026, 1, 1), date(2026, 1, 3), (date(2026, 1, 4),)),
        ("春节", date(2026, 2, 15), date(2026, 2, 23), (date(2026, 2, 14), date(2026, 2, 28))),
        ("清明节", date(2026, 4, 4), date(2026, 4, 6), ()),
        ("劳动节", date(2026, 5, 1), date(2026, 5, 5), (date(2026, 5, 9),)),
        ("端午节", date(2026, 6, 19), date(2026, 6, 21), ()),
        ("中秋节", date(2026, 9, 25), date(2026, 9, 27), ()),
        ("国庆节", date(2026, 10, 1), date(2026, 10, 7), (date(2026, 9, 20), date(2026, 10, 10))),
    ],
}

DEFAULT_HOURS: tuple[tuple[time, time], ...] = ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 30)))
_MAX_DAYS = 3660  # never search more than ten years ahead


def _expand(schedules: dict[int, list[tuple[str, date, date, tuple[date, ...]]]]) -> tuple[dict[date, str], set[date]]:
    holidays: dict[date, str] = {}
    workdays: set[date] = set()
    for entries in schedules.values():
        for name, first, last, makeup in entries:
            day = first
            while day <= last:
                holidays[day] = name
                day += timedelta(days=1)
            workdays.update(makeup)
    return holidays, workdays


@dataclass(frozen=True)
class WorkCalendar:
    """Working days and hours in one time zone.

    Parameters
    ----------
    holidays : mapping date → holiday name (days off even when a weekday)
    workdays : make-up working days (working even when a weekend day)
    hours : working intervals of a working day, in local time, sorted, not overlapping
    tz : the zone the hours are in (default Asia/Shanghai)
    years : the years whose holiday data are known
    """

    holidays: dict[date, str] = field(default_factory=dict)
    workdays: frozenset[date] = frozenset()
    hours: tuple[tuple[time, time], ...] = DEFAULT_HOURS
    tz: ZoneInfo = SHANGHAI
    years: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        prev = time(0, 0)
        for a, b in self.hours:
            if not (prev <= a < b):
                raise ValueError(f"working hours {self.hours} must be sorted, non-empty, non-overlapping intervals")
            prev = b

    # -- days -------------------------------------------------------------------------------
    def covers(self, year: int) -> bool:
        """True when the holiday data of ``year`` are known."""
        return year in self.years

    def unknown_years(self, start: datetime | date, end: datetime | date) -> list[int]:
        """The years from ``start`` to ``end`` whose holidays are not known (weekends only there).

        >>> make_calendar().unknown_years(date(2026, 12, 30), date(2027, 1, 4))
        [2027]
        """
        lo, hi = sorted((start.year, end.year))
        return [y for y in range(lo, hi + 1) if y not in self.years]

    def is_working_day(self, day: date) -> bool:
        """Mon–Fri minus public holidays, plus make-up working days (调休)."""
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    @property
    def day_length(self) -> timedelta:
        """Working time in one working day."""
        return sum((_span(a, b) for a, b in self.hours), timedelta())

    def _intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        return [(datetime.combine(day, a, self.tz), datetime.combine(day, b, self.tz)) for a, b in self.hours]

    # -- time -------------------------------------------------------------------------------
    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of working time after ``start`` (aware datetime; answer in ``tz``)."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware (e.g. Asia/Shanghai or UTC)")
        if duration < timedelta(0):
            raise ValueError("duration must not be negative")
        now = start.astimezone(self.tz)
        if duration == timedelta(0):
            return now
        left = duration
        day = now.date()
        for _ in range(_MAX_DAYS):
            if self.is_working_day(day):
                for a, b in self._intervals(day):
                    if b <= now:
                        continue
                    begin = max(a, now)
                    room = b - begin
                    if left <= room:
                        return begin + left
                    left -= room
            day += timedelta(days=1)
        raise ValueError(f"cannot add {duration} of working time: no working time within {_MAX_DAYS} days")

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time from ``start`` to ``end`` (zero when ``end`` is not after ``start``)."""
        a0, b0 = start.astimezone(self.tz), end.astimezone(self.tz)
        total = timedelta(0)
        day = a0.date()
        while day <= b0.date():
            if self.is_working_day(day):
                for a, b in self._intervals(day):
                    lo, hi = max(a, a0), min(b, b0)
                    if hi > lo:
                        total += hi - lo
            day += timedelta(days=1)
        return total

    def add(self, start: datetime, duration) -> datetime:
        """Add a catalogue :class:`~gridgis.tickets.catalogue.Duration` (clock or working units)."""
        unit, value = duration.unit, duration.value
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware (e.g. Asia/Shanghai or UTC)")
        if unit == "min":
            return (start + timedelta(minutes=value)).astimezone(self.tz)
        if unit == "h":
            return (start + timedelta(hours=value)).astimezone(self.tz)
        if unit == "d":
            return (start + timedelta(days=value)).astimezone(self.tz)
        if unit == "wh":
            return self.add_working_time(start, timedelta(hours=value))
        if unit == "wd":
            return self.add_working_time(start, self.day_length * value)
        raise ValueError(f"unknown duration unit {unit!r}")


def _span(a: time, b: time) -> timedelta:
    return datetime.combine(date(2000, 1, 1), b) - datetime.combine(date(2000, 1, 1), a)


def make_calendar(
    hours: tuple[tuple[time, time], ...] = DEFAULT_HOURS, schedules: dict | None = None, tz: ZoneInfo = SHANGHAI
) -> WorkCalendar:
    """A calendar with the given working hours and holiday schedules (default: :func:`known_schedules`)."""
    schedules = known_schedules() if schedules is None else schedules
    holidays, workdays = _expand(schedules)
    return WorkCalendar(
        holidays=holidays, workdays=frozenset(workdays), hours=tuple(hours), tz=tz, years=frozenset(schedules)
    )


def parse_hours(text: str) -> tuple[tuple[time, time], ...]:
    """Parse working hours such as ``"08:30-12:00,13:30-17:30"``; ``ValueError`` saying the format.

    >>> parse_hours("09:00-17:00")
    ((datetime.time(9, 0), datetime.time(17, 0)),)
    """
    out = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            a, b = (time.fromisoformat(x.strip()) for x in part.split("-"))
        except ValueError:
            raise ValueError(
                f"working hours {text!r}: write HH:MM-HH:MM intervals separated by commas, e.g. 08:30-12:00,13:30-17:30"
            ) from None
        out.append((a, b))
    if not out:
        raise ValueError("working hours are empty; e.g. 08:30-12:00,13:30-17:30")
    make_calendar(hours=tuple(out), schedules={})  # validates order and overlap
    return tuple(out)


_DEFAULT: WorkCalendar | None = None


def default_calendar() -> WorkCalendar:
    """The default calendar: Asia/Shanghai, 08:30–12:00 and 13:30–17:30, the built-in holidays
    (2025–2026) and the years of the holidays file named by ``GRIDGIS_HOLIDAYS_FILE``, if any."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = make_calendar()
    return _DEFAULT


def known_schedules(path: str | Path | None = None) -> dict[int, list[tuple[str, date, date, tuple[date, ...]]]]:
    """The built-in schedules plus those of the holidays file (``path``, else ``GRIDGIS_HOLIDAYS_FILE``)."""
    path = path or os.environ.get("GRIDGIS_HOLIDAYS_FILE")
    merged = dict(HOLIDAY_SCHEDULES)
    if path:
        merged.update(read_schedules(path))
    return merged


def calendar_warning(calendar: WorkCalendar, start: datetime | date, end: datetime | date | None = None) -> str | None:
    """A warning when working time from ``start`` to ``end`` crosses a year whose holidays are unknown.

    >>> calendar_warning(make_calendar(), date(2027, 9, 30))
    'holidays of 2027 are not loaded: working time there counts weekends only; load the State Council notice with `gridgis calendar load NOTICE --year 2027 --commit`'
    >>> calendar_warning(make_calendar(), date(2026, 9, 30)) is None
    True
    """
    years = calendar.unknown_years(start, end or start)
    if not years:
        return None
    listed = ", ".join(str(y) for y in years)
    return (
        f"holidays of {listed} are not loaded: working time there counts weekends only; "
        f"load the State Council notice with `gridgis calendar load NOTICE --year {years[0]} --commit`"
    )


# -- the State Council's notice -------------------------------------------------------------------
_SECTION = re.compile(r"[一二三四五六七八九十]+、\s*([^：:\n]+)[：:]")
_DAY = r"(?:(\d{1,2})月)?(\d{1,2})日(?:[（(][^）)]*[）)])?"
_RANGE = re.compile(_DAY + r"(?:\s*至\s*" + _DAY + r")?")


def parse_notice(text: str, year: int) -> list[tuple[str, date, date, tuple[date, ...]]]:
    """The holiday schedule of ``year`` from the text of the State Council's notice (部分节假日安排的通知).

    Each section ``一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。`` gives a
    holiday's days off (``放假``) and make-up working days (``上班``). A section that cannot be read,
    or whose ``共N天`` disagrees with its dates, is a ``ValueError`` naming it: nothing is guessed.

    >>> parse_notice("一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。", 2026)
    [('元旦', datetime.date(2026, 1, 1), datetime.date(2026, 1, 3), (datetime.date(2026, 1, 4),))]
    """
    marks = list(_SECTION.finditer(text))
    if not marks:
        raise ValueError("no holiday sections found (expected lines such as 一、元旦：1月1日…放假…)")
    out = []
    for i, mark in enumerate(marks):
        name = mark.group(1).strip()
        body = text[mark.end() : marks[i + 1].start() if i + 1 < len(marks) else len(text)]
        off, _, rest = body.partition("放假")
        days = [m for m in _RANGE.finditer(off) if m.group(2)]
        if not days:
            raise ValueError(f"{name}: no dates before 放假 in {body.strip()[:60]!r}")
        m = days[0]
        first = date(year, int(m.group(1) or 0) or _month_of(name), int(m.group(2)))
        last = date(year, int(m.group(3) or first.month), int(m.group(4))) if m.group(4) else first
        if last < first or (last - first).days > 15:
            raise ValueError(f"{name}: {first} to {last} is not a holiday span")
        total = re.search(r"共\s*(\d+)\s*天", rest)
        if total and int(total.group(1)) != (last - first).days + 1:
            raise ValueError(
                f"{name}: the notice says {total.group(1)} days but {first} to {last} is {(last - first).days + 1}"
            )
        makeup: list[date] = []
        for sentence in re.split(r"[。；;]", rest):
            if "上班" in sentence:
                for m in _RANGE.finditer(sentence.split("上班")[0]):
                    if m.group(2):
                        makeup.append(date(year, int(m.group(1) or first.month), int(m.group(2))))
        for d in makeup:
            if d.weekday() < 5:
                raise ValueError(f"{name}: make-up working day {d} is a weekday; check the year ({year})")
        out.append((name, first, last, tuple(makeup)))
    return out


def _month_of(name: str) -> int:
    raise ValueError(f"{name}: the first date has no month")


def read_schedules(path: str | Path) -> dict[int, list[tuple[str, date, date, tuple[date, ...]]]]:
    """Holiday schedules from a YAML holidays file (``{year: [{name, first, last, makeup}]}``)."""
    import yaml

    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"holidays file {path}: {exc}") from None
    out: dict[int, list[tuple[str, date, date, tuple[date, ...]]]] = {}
    try:
        for year, entries in doc.items():
            out[int(year)] = [
                (
                    str(e["name"]),
                    _as_date(e["first"]),
                    _as_date(e["last"]),
                    tuple(_as_date(d) for d in e.get("makeup") or ()),
                )
                for e in entries
            ]
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"holidays file {path}: expected {{year: [{{name, first, last, makeup}}]}} ({exc})") from None
    return out


def write_schedules(path: str | Path, schedules: dict[int, list[tuple[str, date, date, tuple[date, ...]]]]) -> None:
    """Write (replace) ``path`` with ``schedules`` as YAML, the form :func:`read_schedules` reads."""
    import yaml

    doc = {
        year: [
            {"name": n, "first": f.isoformat(), "last": last.isoformat(), "makeup": [d.isoformat() for d in m]}
            for n, f, last, m in entries
        ]
        for year, entries in sorted(schedules.items())
    }
    Path(path).write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def add_working_time(start: datetime, duration: timedelta, calendar: WorkCalendar | None = None) -> datetime:
    """``duration`` of working time after ``start`` on ``calendar`` (default calendar)."""
    return (calendar or default_calendar()).add_working_time(start, duration)
