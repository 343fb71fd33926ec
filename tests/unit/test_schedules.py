"""When schedules fire (engine/schedules.py): intervals on the epoch, calendar rules through
daylight-saving changes in three zones, which fires are due after a gap, and the fires' job ids."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from engine.schedules import Calendar, Every, Schedule, due_fires, fire_job_id, missed_since, upcoming

BERLIN = ZoneInfo("Europe/Berlin")  # 2026: forward 29 March 02:00 -> 03:00, back 25 October 03:00 -> 02:00
NEW_YORK = ZoneInfo("America/New_York")  # 2026: forward 8 March 02:00 -> 03:00, back 1 November 02:00 -> 01:00
SYDNEY = ZoneInfo("Australia/Sydney")  # 2026: back 5 April 03:00 -> 02:00, forward 4 October 02:00 -> 03:00


def at(zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int, fold: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=zone, fold=fold).timestamp()


def local(t: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(t, zone).isoformat()


def fires(rule: Calendar | Every, start: float, count: int) -> list[int]:
    found, t = [], start
    for _ in range(count):
        t = rule.next_after(t)
        found.append(t)
    return found


def daily(zone: ZoneInfo, hh_mm: str) -> Calendar:
    hour, minute = hh_mm.split(":")
    return Calendar(f"{int(minute)} {int(hour)} * * *", zone, f"daily_at {hh_mm}")


# -- intervals ---------------------------------------------------------------------------------


def test_an_interval_fires_on_the_multiples_of_its_seconds_since_the_epoch() -> None:
    every = Every(60)

    assert every.next_after(1_800_000_001.5) == 1_800_000_060
    assert every.next_after(1_800_000_060) == 1_800_000_120  # strictly after
    assert every.last_until(1_800_000_119.9) == 1_800_000_060
    assert every.last_until(1_800_000_120) == 1_800_000_120  # at or before


def test_an_interval_ignores_daylight_saving() -> None:
    night = at(BERLIN, 2026, 3, 29, 1, 0)

    assert fires(Every(3600), night - 1, 4) == [int(night) + 3600 * i for i in range(4)]


# -- calendar rules across DST -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day_before", "expected"),
    [
        (
            BERLIN,
            (2026, 3, 28),
            ["2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"],
        ),
        (
            NEW_YORK,
            (2026, 3, 7),
            ["2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"],
        ),
        (
            SYDNEY,
            (2026, 10, 3),
            ["2026-10-03T02:30:00+10:00", "2026-10-04T03:00:00+11:00", "2026-10-05T02:30:00+11:00"],
        ),
    ],
)
def test_a_time_the_clocks_skip_fires_once_at_the_first_valid_instant(
    zone: ZoneInfo, day_before: tuple[int, int, int], expected: list[str]
) -> None:
    start = at(zone, *day_before, 0, 0)

    assert [local(t, zone) for t in fires(daily(zone, "02:30"), start, 3)] == expected


@pytest.mark.parametrize(
    ("zone", "hh_mm", "day_before", "expected"),
    [
        (
            BERLIN,
            "02:30",
            (2026, 10, 24),
            ["2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"],
        ),
        (
            NEW_YORK,
            "01:30",
            (2026, 10, 31),
            ["2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"],
        ),
        (
            SYDNEY,
            "02:30",
            (2026, 4, 4),
            ["2026-04-04T02:30:00+11:00", "2026-04-05T02:30:00+11:00", "2026-04-06T02:30:00+10:00"],
        ),
    ],
)
def test_a_time_the_clocks_repeat_fires_once_on_its_first_pass(
    zone: ZoneInfo, hh_mm: str, day_before: tuple[int, int, int], expected: list[str]
) -> None:
    start = at(zone, *day_before, 0, 0)

    assert [local(t, zone) for t in fires(daily(zone, hh_mm), start, 3)] == expected


def test_looking_from_the_second_pass_of_a_repeated_hour_finds_the_next_day() -> None:
    rule = daily(NEW_YORK, "01:30")
    second_pass = at(NEW_YORK, 2026, 11, 1, 1, 10, fold=1)  # 01:10 EST, after 01:30 EDT fired

    assert local(rule.next_after(second_pass), NEW_YORK) == "2026-11-02T01:30:00-05:00"
    assert local(rule.last_until(second_pass) or 0, NEW_YORK) == "2026-11-01T01:30:00-04:00"


def test_last_until_agrees_with_next_after_over_a_skipped_time() -> None:
    rule = daily(BERLIN, "02:30")
    moved = at(BERLIN, 2026, 3, 29, 3, 0)

    assert rule.last_until(at(BERLIN, 2026, 3, 29, 3, 30)) == moved
    assert rule.last_until(moved) == moved
    assert local(rule.last_until(moved - 1) or 0, BERLIN) == "2026-03-28T02:30:00+01:00"


def test_a_cron_with_a_wildcard_hour_follows_real_time_through_the_changes() -> None:
    every_30 = Calendar("*/30 * * * *", BERLIN, "cron */30 * * * *")
    spring, autumn = at(BERLIN, 2026, 3, 29, 1, 0), at(BERLIN, 2026, 10, 25, 1, 50)

    assert [local(t, BERLIN)[11:] for t in fires(every_30, spring, 3)] == [
        "01:30:00+01:00", "03:00:00+02:00", "03:30:00+02:00",
    ]  # fmt: skip
    assert [local(t, BERLIN)[11:] for t in fires(every_30, autumn, 4)] == [
        "02:00:00+02:00", "02:30:00+02:00", "02:00:00+01:00", "02:30:00+01:00",
    ]  # fmt: skip


def test_weekly_and_monthly_calendars_are_cron_in_their_zone() -> None:
    weekly = Calendar("0 9 * * 1,5", NEW_YORK, "weekly_days mon fri at 09:00")
    monthly = Calendar("0 6 1,31 * *", SYDNEY, "monthly_dates 1 31 at 06:00")

    assert [local(t, NEW_YORK) for t in fires(weekly, at(NEW_YORK, 2026, 3, 5, 12, 0), 3)] == [
        "2026-03-06T09:00:00-05:00", "2026-03-09T09:00:00-04:00", "2026-03-13T09:00:00-04:00",
    ]  # fmt: skip
    assert [local(t, SYDNEY)[:10] for t in fires(monthly, at(SYDNEY, 2026, 3, 30, 0, 0), 3)] == [
        "2026-03-31", "2026-04-01", "2026-05-01",
    ]  # fmt: skip


# -- which fires are due -----------------------------------------------------------------------


def schedule(rule: Calendar | Every, catch_up: str = "skip") -> Schedule:
    return Schedule("s", "bp", rule, catch_up="once" if catch_up == "once" else "skip")


def test_due_fires_are_those_since_the_last_one_made_up_to_now() -> None:
    s = schedule(Every(10))

    assert due_fires(s, after=100, now=135, grace=60) == [110, 120, 130]
    assert due_fires(s, after=130, now=139.9, grace=60) == []
    assert due_fires(s, after=130, now=140, grace=60) == [140]


def test_fires_later_than_the_grace_were_missed_and_skip_drops_them() -> None:
    s = schedule(Every(10))

    assert due_fires(s, after=100, now=1000, grace=25) == [980, 990, 1000]
    assert missed_since(s, after=100, now=1000, grace=25)
    assert not missed_since(s, after=970, now=1000, grace=25)


def test_catch_up_once_makes_the_latest_missed_fire_then_the_recent_ones() -> None:
    s = schedule(Every(10), catch_up="once")

    assert due_fires(s, after=100, now=1000, grace=25) == [970, 980, 990, 1000]
    assert due_fires(s, after=970, now=1000, grace=25) == [980, 990, 1000]  # nothing missed: no extra fire


def test_catch_up_once_of_a_daily_calendar_after_days_down() -> None:
    s = schedule(daily(BERLIN, "02:30"), catch_up="once")
    last = at(BERLIN, 2026, 3, 20, 2, 30)
    back = at(BERLIN, 2026, 3, 29, 12, 0)  # nine days later

    assert [local(t, BERLIN) for t in due_fires(s, last, back, grace=10)] == ["2026-03-29T03:00:00+02:00"]


def test_upcoming_is_the_first_fire_not_yet_made_or_missed() -> None:
    s = schedule(Every(10))

    assert upcoming(s, last=None, now=1003, grace=25) == 1010
    assert upcoming(s, last=990, now=1003, grace=25) == 1000  # due, about to be made
    assert upcoming(s, last=100, now=1003, grace=25) == 980  # the fires before were missed


def test_a_fires_job_id_depends_on_the_schedule_and_the_instant_only() -> None:
    assert fire_job_id("nightly", 1_800_000_000) == fire_job_id("nightly", 1_800_000_000)
    assert fire_job_id("nightly", 1_800_000_000) != fire_job_id("nightly", 1_800_000_060)
    assert fire_job_id("nightly", 1_800_000_000) != fire_job_id("hourly", 1_800_000_000)
    assert fire_job_id("a\n1", 2) != fire_job_id("a", 12)
