"""Business-hours arithmetic: exact to the minute, across weekends, holidays, closures and
daylight-saving changes."""

import time
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from partners.calendar import WEEKDAYS, BusinessCalendar
from partners.models import PartnerOrganization, default_weekly_hours
from partners.services import organization_calendar_update, organization_closure_add

NEW_YORK = "America/New_York"
LOS_ANGELES = "America/Los_Angeles"


def ny(*args, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(NEW_YORK), fold=fold)


def la(*args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(LOS_ANGELES))


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def office(**overrides) -> BusinessCalendar:
    """New York, Monday to Friday 09:00-17:00, US public holidays."""
    values = {
        "time_zone": NEW_YORK,
        "weekly_hours": default_weekly_hours(),
        "holiday_country": "US",
    }
    return BusinessCalendar.build(**(values | overrides))


def every_day(*intervals: list[str], time_zone: str = NEW_YORK) -> BusinessCalendar:
    """The same hours all seven days, no holidays: for daylight-saving boundaries."""
    return BusinessCalendar.build(
        time_zone=time_zone, weekly_hours={day: list(intervals) for day in WEEKDAYS}
    )


@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        pytest.param(ny(2026, 3, 3, 10), 3, ny(2026, 3, 3, 13), id="inside hours"),
        pytest.param(ny(2026, 3, 3, 10), 7.5, ny(2026, 3, 4, 9, 30), id="into the next day"),
        pytest.param(ny(2026, 3, 3, 10, 20), 0.25, ny(2026, 3, 3, 10, 35), id="minutes"),
        pytest.param(ny(2026, 3, 3, 7, 30), 2, ny(2026, 3, 3, 11), id="before opening"),
        pytest.param(ny(2026, 3, 3, 18), 2, ny(2026, 3, 4, 11), id="after closing"),
        pytest.param(ny(2026, 3, 3, 17), 1, ny(2026, 3, 4, 10), id="at closing"),
        pytest.param(ny(2026, 3, 13, 15), 2, ny(2026, 3, 13, 17), id="runs out at closing"),
        pytest.param(ny(2026, 3, 13, 16), 2, ny(2026, 3, 16, 10), id="across a weekend"),
        pytest.param(ny(2026, 3, 14, 12), 1, ny(2026, 3, 16, 10), id="from a saturday"),
        pytest.param(ny(2026, 3, 3, 10), 16, ny(2026, 3, 5, 10), id="two days"),
        pytest.param(ny(2026, 3, 14, 12), 0, ny(2026, 3, 16, 9), id="zero is the next opening"),
        pytest.param(ny(2026, 7, 2, 16), 2, ny(2026, 7, 6, 10), id="independence day observed"),
        pytest.param(ny(2026, 11, 25, 16, 30), 1, ny(2026, 11, 27, 9, 30), id="thanksgiving"),
        pytest.param(ny(2026, 12, 31, 16), 2, ny(2027, 1, 4, 10), id="new year"),
        pytest.param(ny(2026, 3, 3, 13), -3, ny(2026, 3, 3, 10), id="backwards inside hours"),
        pytest.param(ny(2026, 3, 16, 10), -2, ny(2026, 3, 13, 16), id="backwards over weekend"),
        pytest.param(ny(2026, 3, 16, 8), -1, ny(2026, 3, 13, 16), id="backwards from closed"),
        pytest.param(utc(2026, 3, 3, 15), 1, ny(2026, 3, 3, 11), id="start given in UTC"),
    ],
)
def test_adding_business_hours_counts_only_open_hours_of_the_new_york_office(start, hours, due):
    assert office().add_business_hours(start, hours) == due


@pytest.mark.parametrize(
    ("start", "hours", "due_local", "due_utc"),
    [
        pytest.param(
            ny(2026, 3, 6, 16), 2, ny(2026, 3, 9, 10), utc(2026, 3, 9, 14), id="spring forward"
        ),
        pytest.param(
            ny(2026, 3, 9, 10), -2, ny(2026, 3, 6, 16), utc(2026, 3, 6, 21), id="spring back"
        ),
        pytest.param(
            ny(2026, 10, 30, 16), 2, ny(2026, 11, 2, 10), utc(2026, 11, 2, 15), id="fall back"
        ),
        pytest.param(
            ny(2026, 11, 2, 10), -2, ny(2026, 10, 30, 16), utc(2026, 10, 30, 20), id="fall ahead"
        ),
    ],
)
def test_opening_hours_stay_on_the_wall_clock_across_daylight_saving_changes(
    start, hours, due_local, due_utc
):
    calendar = office()
    due = calendar.add_business_hours(start, hours)
    assert due == due_local == due_utc and due.tzinfo is UTC
    assert due.astimezone(calendar.zone).time() == due_local.time()
    assert calendar.business_hours_between(start, due) == hours


@pytest.mark.parametrize(
    ("day", "real_hours"),
    [
        pytest.param(date(2026, 3, 7), 3, id="an ordinary saturday"),
        pytest.param(date(2026, 3, 8), 2, id="spring forward: 02:00-03:00 never happens"),
        pytest.param(date(2026, 11, 1), 4, id="fall back: 01:00-02:00 happens twice"),
    ],
)
def test_night_hours_from_midnight_to_three_are_read_on_the_wall_clock(day, real_hours):
    night = every_day(["00:00", "03:00"])
    midnight, noon = ny(day.year, day.month, day.day), ny(day.year, day.month, day.day, 12)
    assert night.business_hours_between(midnight, noon) == real_hours
    assert night.add_business_hours(midnight, real_hours) == ny(day.year, day.month, day.day, 3)


@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        pytest.param(ny(2026, 3, 8, 1), 1, utc(2026, 3, 8, 7), id="01:00 + 1h is 03:00 EDT"),
        pytest.param(ny(2026, 3, 8, 1, 30), 1, utc(2026, 3, 9, 4, 30), id="then next night"),
        pytest.param(ny(2026, 11, 1, 0), 1.5, utc(2026, 11, 1, 5, 30), id="first 01:30, EDT"),
        pytest.param(ny(2026, 11, 1, 0), 2.5, utc(2026, 11, 1, 6, 30), id="second 01:30, EST"),
        pytest.param(ny(2026, 11, 1, 1, 30, fold=1), 1, utc(2026, 11, 1, 7, 30), id="from fold"),
    ],
)
def test_night_hours_add_up_in_real_time_on_daylight_saving_nights(start, hours, due):
    assert every_day(["00:00", "03:00"]).add_business_hours(start, hours) == due


@pytest.mark.parametrize(
    ("interval", "day", "opens", "closes"),
    [
        pytest.param(
            ["02:30", "04:00"],
            date(2026, 3, 8),
            utc(2026, 3, 8, 7),
            utc(2026, 3, 8, 8),
            id="opening in the gap opens at the change, 03:00 EDT",
        ),
        pytest.param(
            ["01:00", "02:30"],
            date(2026, 3, 8),
            utc(2026, 3, 8, 6),
            utc(2026, 3, 8, 7),
            id="closing in the gap closes at the change, 03:00 EDT",
        ),
        pytest.param(
            ["01:30", "04:00"],
            date(2026, 11, 1),
            utc(2026, 11, 1, 5, 30),
            utc(2026, 11, 1, 9),
            id="opening in the overlap opens at the first 01:30",
        ),
        pytest.param(
            ["00:00", "01:30"],
            date(2026, 11, 1),
            utc(2026, 11, 1, 4),
            utc(2026, 11, 1, 5, 30),
            id="closing in the overlap closes at the first 01:30",
        ),
    ],
)
def test_a_boundary_in_a_gap_or_an_overlap_is_the_first_moment_the_clock_reaches_it(
    interval, day, opens, closes
):
    calendar = every_day(interval)
    before = ny(day.year, day.month, day.day)
    assert calendar.next_opening(before) == opens
    assert calendar.is_open(opens) and not calendar.is_open(closes)
    assert calendar.add_business_hours(before, (closes - opens).total_seconds() / 3600) == closes


def test_hours_swallowed_whole_by_the_gap_do_not_open_at_all():
    calendar = every_day(["02:00", "03:00"])
    assert calendar.next_opening(ny(2026, 3, 8)) == ny(2026, 3, 9, 2)
    assert calendar.business_hours_between(ny(2026, 3, 8), ny(2026, 3, 9)) == 0


def test_a_closure_spanning_days_is_skipped():
    calendar = office(closures=[(date(2026, 3, 10), date(2026, 3, 12))])
    assert calendar.add_business_hours(ny(2026, 3, 9, 16), 2) == ny(2026, 3, 13, 10)
    assert calendar.business_hours_between(ny(2026, 3, 9, 9), ny(2026, 3, 13, 17)) == 16
    assert not calendar.is_open(ny(2026, 3, 12, 12))
    assert calendar.next_opening(ny(2026, 3, 10, 8)) == ny(2026, 3, 13, 9)


def test_a_subdivisions_own_holidays_are_closed_days():
    # Cesar Chavez Day, 2026-03-31 (a Tuesday), is a state holiday of California only.
    new_york = office()
    california = office(time_zone=LOS_ANGELES, holiday_subdivision="CA")
    assert new_york.add_business_hours(ny(2026, 3, 30, 16), 2) == ny(2026, 3, 31, 10)
    assert california.add_business_hours(la(2026, 3, 30, 16), 2) == la(2026, 4, 1, 10)


def test_no_holiday_country_means_no_public_holidays():
    calendar = office(holiday_country="")
    assert calendar.add_business_hours(ny(2026, 7, 2, 16), 2) == ny(2026, 7, 3, 10)


def test_an_organization_in_los_angeles_counts_in_pacific_time(northside, admin_user):
    organization_calendar_update(
        actor=admin_user,
        organization=northside,
        time_zone=LOS_ANGELES,
        weekly_hours=default_weekly_hours(),
        holiday_country="US",
        holiday_subdivision="CA",
        default_response_hours=16,
    )
    calendar = BusinessCalendar.for_organization(northside)
    # 12:00 in New York is 09:00 in Los Angeles, the opening there.
    assert calendar.add_business_hours(ny(2026, 3, 3, 12), 1) == la(2026, 3, 3, 10)
    due = calendar.add_business_hours(ny(2026, 3, 3, 19), 2)
    assert due == la(2026, 3, 4, 10) == utc(2026, 3, 4, 18)
    assert calendar.is_open(ny(2026, 3, 3, 19, 59)) and not calendar.is_open(ny(2026, 3, 3, 20))


def test_the_calendar_of_an_organization_reads_its_closures_in_one_query(
    northside, admin_user, django_assert_num_queries
):
    organization_closure_add(
        actor=admin_user,
        organization=northside,
        starts_on=date(2026, 3, 10),
        ends_on=date(2026, 3, 12),
        reason="Moving offices",
    )
    with django_assert_num_queries(1):
        calendar = BusinessCalendar.for_organization(northside)
    assert calendar.closures == ((date(2026, 3, 10), date(2026, 3, 12)),)
    assert calendar.add_business_hours(ny(2026, 3, 9, 16), 2) == ny(2026, 3, 13, 10)
    prefetched = PartnerOrganization.objects.prefetch_related("closures").get(pk=northside.pk)
    with django_assert_num_queries(0):
        assert BusinessCalendar.for_organization(prefetched) == calendar


@pytest.mark.parametrize(
    "start",
    [
        ny(2026, 3, 3, 10),
        ny(2026, 3, 3, 7),
        ny(2026, 3, 6, 16, 45),
        ny(2026, 3, 7, 12),
        ny(2026, 7, 2, 12, 13),
        ny(2026, 10, 30, 9),
        ny(2026, 12, 24, 23, 59),
    ],
)
@pytest.mark.parametrize("hours", [0, 0.5, 1, 7.75, 8, 16, 40, 123.25, -1, -8.5, -40])
def test_hours_between_a_start_and_its_due_date_are_the_hours_added(start, hours):
    calendar = office(closures=[(date(2026, 3, 10), date(2026, 3, 11))])
    due = calendar.add_business_hours(start, hours)
    assert calendar.business_hours_between(start, due) == pytest.approx(hours, abs=1e-9)


def test_hours_between_is_negative_when_the_end_comes_first():
    calendar = office()
    assert calendar.business_hours_between(ny(2026, 3, 13, 16), ny(2026, 3, 16, 10)) == 2
    assert calendar.business_hours_between(ny(2026, 3, 16, 10), ny(2026, 3, 13, 16)) == -2
    assert calendar.business_hours_between(ny(2026, 3, 14, 1), ny(2026, 3, 15, 23)) == 0


@pytest.mark.parametrize(
    ("moment", "is_open", "next_opening"),
    [
        (ny(2026, 3, 3, 9), True, ny(2026, 3, 3, 9)),
        (ny(2026, 3, 3, 16, 59), True, ny(2026, 3, 3, 16, 59)),
        (ny(2026, 3, 3, 17), False, ny(2026, 3, 4, 9)),
        (ny(2026, 3, 3, 8, 59), False, ny(2026, 3, 3, 9)),
        (ny(2026, 3, 7, 12), False, ny(2026, 3, 9, 9)),
        (ny(2026, 7, 3, 12), False, ny(2026, 7, 6, 9)),
    ],
)
def test_is_open_and_next_opening(moment, is_open, next_opening):
    assert office().is_open(moment) is is_open
    assert office().next_opening(moment) == next_opening


@pytest.mark.parametrize(
    ("weekly_hours", "closures"),
    [
        pytest.param({}, [], id="an empty week"),
        pytest.param({"mon": []}, [], id="a week of empty days"),
        pytest.param(
            default_weekly_hours(), [(date(2026, 1, 1), date(2030, 12, 31))], id="closed for years"
        ),
    ],
)
def test_a_calendar_with_no_open_hours_raises_instead_of_looping(weekly_hours, closures):
    with pytest.raises(ValueError, match=r"open interval|No business hours"):
        calendar = office(weekly_hours=weekly_hours, closures=closures)
        calendar.add_business_hours(ny(2026, 3, 3, 10), 1)


def test_naive_or_infinite_arguments_are_refused():
    with pytest.raises(ValueError, match="naive"):
        office().add_business_hours(datetime(2026, 3, 3, 10), 1)
    with pytest.raises(ValueError, match="naive"):
        office().business_hours_between(ny(2026, 3, 3, 10), datetime(2026, 3, 3, 11))
    with pytest.raises(ValueError, match="Cannot add"):
        office().add_business_hours(ny(2026, 3, 3, 10), float("inf"))


def test_a_due_date_is_computed_without_stepping_through_minutes():
    # Routing computes one due date per referral: a thousand must take well under a second.
    calendar, start = office(), ny(2026, 3, 6, 16)
    began = time.perf_counter()
    for minute in range(1000):
        calendar.add_business_hours(start, 16 + minute / 60)
    assert time.perf_counter() - began < 1
