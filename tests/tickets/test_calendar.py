"""Working time: 2025/2026 holidays and make-up days, working hours, deadlines."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridgis.tickets.calendar import SHANGHAI, add_working_time, default_calendar, make_calendar
from gridgis.tickets.catalogue import Duration

CAL = default_calendar()
DAY = CAL.day_length


def sh(*args):
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    "day, working",
    [
        (date(2026, 10, 1), False),
        (date(2026, 10, 7), False),  # 国庆节
        (date(2026, 10, 8), True),
        (date(2026, 10, 10), True),  # Thursday; Saturday 调休
        (date(2026, 9, 20), True),  # Sunday 调休
        (date(2026, 2, 14), True),
        (date(2026, 2, 28), True),  # Saturdays 调休 around 春节
        (date(2026, 2, 16), False),
        (date(2026, 2, 23), False),  # 春节 (Mon 23rd still off)
        (date(2026, 1, 4), True),
        (date(2026, 5, 9), True),  # Sunday / Saturday 调休
        (date(2026, 6, 19), False),
        (date(2026, 9, 25), False),  # 端午 / 中秋 Fridays
        (date(2025, 10, 8), False),
        (date(2025, 10, 11), True),  # 2025 国庆+中秋 and its 调休
        (date(2025, 1, 26), True),
        (date(2025, 2, 4), False),
        (date(2026, 11, 28), False),
        (date(2026, 11, 27), True),  # an ordinary Saturday / Friday
    ],
)
def test_working_days_follow_the_state_council_schedules(day, working):
    assert CAL.is_working_day(day) is working


def test_both_years_are_known_and_others_fall_back_to_weekends():
    assert CAL.covers(2025) and CAL.covers(2026) and not CAL.covers(2027)
    assert CAL.is_working_day(date(2027, 10, 1)) is True  # a Friday; unknown holidays not guessed


def test_one_working_day_across_national_day_2026():
    # Wednesday 30 Sep 10:00 → the next working day is Thursday 8 Oct
    assert CAL.add(sh(2026, 9, 30, 10, 0), Duration(1, "wd")) == sh(2026, 10, 8, 10, 0)


def test_one_working_day_across_spring_festival_2026_uses_the_makeup_saturday():
    # Friday 13 Feb 16:00 → Saturday 14 Feb (调休) 16:00; from the Saturday → Tuesday 24 Feb
    assert CAL.add(sh(2026, 2, 13, 16, 0), Duration(1, "wd")) == sh(2026, 2, 14, 16, 0)
    assert CAL.add(sh(2026, 2, 14, 16, 0), Duration(1, "wd")) == sh(2026, 2, 24, 16, 0)


def test_start_outside_working_hours_counts_from_the_next_working_start():
    # Saturday 21 Nov 2026 22:00 → Monday 23 Nov, whole day → 17:30
    assert CAL.add(sh(2026, 11, 21, 22, 0), Duration(1, "wd")) == sh(2026, 11, 23, 17, 30)
    # lunch break is not working time: 11:30 + 1 wh → 14:00
    assert CAL.add(sh(2026, 11, 23, 11, 30), Duration(1, "wh")) == sh(2026, 11, 23, 14, 0)


def test_clock_limits_ignore_holidays():
    start = sh(2026, 10, 1, 22, 0)  # National Day, late evening
    assert CAL.add(start, Duration(20, "min")) == sh(2026, 10, 1, 22, 20)
    assert CAL.add(start, Duration(4, "h")) == sh(2026, 10, 2, 2, 0)


def test_utc_input_gives_the_same_instant():
    utc_start = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    due = add_working_time(utc_start, DAY)
    assert due == sh(2026, 10, 8, 10, 0) and due.utcoffset() == timedelta(hours=8)


def test_working_time_between_inverts_add():
    start = sh(2026, 9, 29, 15, 10)
    for hours in (0.5, 3, 7.5, 20):
        end = CAL.add_working_time(start, timedelta(hours=hours))
        assert CAL.working_time_between(start, end) == timedelta(hours=hours)


def test_naive_start_and_bad_hours_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.add_working_time(datetime(2026, 9, 30, 10), DAY)
    with pytest.raises(ValueError, match="non-overlapping"):
        make_calendar(hours=((time(9), time(12)), (time(11), time(17))))


def test_configurable_hours_change_the_day_length():
    cal = make_calendar(hours=((time(9), time(17)),))
    assert cal.day_length == timedelta(hours=8)
    assert cal.add(sh(2026, 9, 30, 16, 0), Duration(1, "wd")) == sh(2026, 10, 8, 16, 0)


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 20), timezones=st.just(SHANGHAI)),
    minutes=st.integers(min_value=1, max_value=60 * 24 * 5),
)
def test_added_working_time_is_exactly_the_working_time_between(start, minutes):
    end = CAL.add_working_time(start, timedelta(minutes=minutes))
    assert end > start
    assert CAL.working_time_between(start, end) == timedelta(minutes=minutes)
    assert CAL.is_working_day(end.date())  # a deadline always falls on a working day


def test_working_hours_parse_from_text_and_bad_text_says_the_format():
    from gridgis.tickets.calendar import parse_hours

    assert parse_hours("08:30-12:00, 13:30-17:30") == ((time(8, 30), time(12)), (time(13, 30), time(17, 30)))
    for bad in ("9-5", "", "13:00-12:00", "08:00-12:00,11:00-17:00"):
        with pytest.raises(ValueError, match="HH:MM|empty|non-overlapping"):
            parse_hours(bad)


# The State Council's notice for 2026 (国办发明电〔2025〕7号), the text as published: the outside oracle for
# the notice reader, checked against the schedule built into the calendar from the same notice.
NOTICE_2026 = """国务院办公厅关于2026年部分节假日安排的通知
一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。
二、春节：2月15日（农历腊月二十八、周日）至23日（农历正月初七、周一）放假调休，共9天。2月14日（周六）、2月28日（周六）上班。
三、清明节：4月4日（周六）至6日（周一）放假，共3天。
四、劳动节：5月1日（周五）至5日（周二）放假调休，共5天。5月9日（周六）上班。
五、端午节：6月19日（周五）至21日（周日）放假，共3天。
六、中秋节：9月25日（周五）至27日（周日）放假，共3天。
七、国庆节：10月1日（周四）至7日（周三）放假调休，共7天。9月20日（周日）、10月10日（周六）上班。
"""


def test_the_notice_text_reads_as_the_built_in_schedule():
    from gridgis.tickets.calendar import HOLIDAY_SCHEDULES, parse_notice

    assert parse_notice(NOTICE_2026, 2026) == HOLIDAY_SCHEDULES[2026]


def test_a_notice_that_disagrees_with_itself_is_refused_naming_the_holiday():
    from gridgis.tickets.calendar import parse_notice

    with pytest.raises(ValueError, match="清明节: the notice says 4 days"):
        parse_notice("三、清明节：4月4日（周六）至6日（周一）放假，共4天。", 2026)
    with pytest.raises(ValueError, match="weekday"):
        parse_notice("一、元旦：1月1日至3日放假调休，共3天。1月5日上班。", 2026)  # read for the wrong year


def test_a_ticket_in_an_unknown_year_says_so_and_loading_the_notice_fixes_it(tmp_path, monkeypatch):
    """Seen: a ticket received on 2027-09-30 got a deadline on National Day and nothing warned."""
    from typer.testing import CliRunner

    import gridgis.tickets.calendar as calendar_module
    from gridgis.cli import app
    from gridgis.tickets.calendar import calendar_warning

    start = sh(2027, 9, 30, 10)
    assert "holidays of 2027 are not loaded" in calendar_warning(default_calendar(), start)
    notice = tmp_path / "2027.txt"
    notice.write_text(
        NOTICE_2026.replace("2026", "2027")
        .replace(
            "一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。",
            "一、元旦：1月1日（周五）至3日（周日）放假，共3天。",
        )
        .split("二、")[0]
        + "七、国庆节：10月1日（周五）至7日（周四）放假调休，共7天。9月26日（周日）、10月9日（周六）上班。\n",
        encoding="utf-8",
    )
    holidays = tmp_path / "holidays.yaml"
    dry = CliRunner().invoke(app, ["calendar", "load", str(notice), "--year", "2027", "--holidays-file", str(holidays)])
    assert dry.exit_code == 0 and "dry run" in dry.output and not holidays.exists()
    done = CliRunner().invoke(
        app, ["calendar", "load", str(notice), "--year", "2027", "--holidays-file", str(holidays), "--commit"]
    )
    assert done.exit_code == 0, done.output
    monkeypatch.setenv("GRIDGIS_HOLIDAYS_FILE", str(holidays))
    monkeypatch.setattr(calendar_module, "_DEFAULT", None)
    cal = default_calendar()
    assert cal.covers(2027) and calendar_warning(cal, start) is None
    # one working day from Thursday 2027-09-30 10:00 skips National Day (Oct 1–7) and lands on Fri Oct 8
    assert cal.add_working_time(start, timedelta(hours=7.5)) == sh(2027, 10, 8, 10)
    monkeypatch.setattr(calendar_module, "_DEFAULT", None)


def test_ready_warns_while_the_coming_two_months_fall_in_an_unknown_year(tmp_path, monkeypatch):
    """Seen: nothing warned that the calendar did not know a year; /ready now says so."""
    from fastapi.testclient import TestClient

    import gridgis.tickets.calendar as calendar_module
    from gridgis.api.app import create_app
    from gridgis.settings import get_settings
    from gridgis.storage import Repository

    url = f"sqlite:///{tmp_path / 'g.db'}"
    repo = Repository(url)
    repo.create_schema()
    client = TestClient(create_app(get_settings(database_url=url), repo))
    this_year = datetime.now(SHANGHAI).year
    monkeypatch.setattr(calendar_module, "_DEFAULT", make_calendar(schedules={}))  # knows no year
    body = client.get("/ready").json()
    assert body["calendar"]["known_years"] == [] and f"holidays of {this_year}" in body["warnings"][0]
    years = {y: [("元旦", date(y, 1, 1), date(y, 1, 1), ())] for y in range(this_year - 1, this_year + 3)}
    monkeypatch.setattr(calendar_module, "_DEFAULT", make_calendar(schedules=years))  # knows them all
    body = client.get("/ready").json()
    assert "warnings" not in body and body["status"] == "ready"
    repo.dispose()
