"""Business-hours arithmetic over a partner organization's calendar.

Every referral deadline is counted in the receiving organization's business hours. This module
is pure (no database, except `BusinessCalendar.for_organization` reading the closures once), so
routing can build one calendar per organization and compute many due dates with it.

Weekly hours are wall-clock times in the organization's zone: an opening at 09:00 stays 09:00
local across daylight-saving changes. Each boundary of an interval is the *earliest instant at
which the local clock reads that time or later*, which gives one answer for the two odd cases:

- in a gap (spring forward: 02:30 never happens) it is the moment of the change, 03:00 new time;
- in an overlap (fall back: 01:30 happens twice) it is the first occurrence.

So in New York, hours of 00:00-03:00 are two real hours on 2026-03-08 and four on 2026-11-01.
Public holidays and closures close whole days of the organization's zone.

Results are aware datetimes in UTC, the form deadlines are stored and compared in (show them
with `.astimezone(calendar.zone)`). Not local: a local time in a fall-back hour never compares
equal to a datetime of another zone (PEP 495), a trap for a deadline engine.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

if TYPE_CHECKING:
    from .models import PartnerOrganization

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# The longest run of days without any opening searched before a calendar is declared closed:
# past that, a deadline is meaningless and routing must hear about it instead of spinning.
MAX_CLOSED_DAYS = 3 * 366
# The longest stretch one computation walks, so that an absurd `hours` cannot hang a request.
MAX_SPAN_DAYS = 50 * 366

# Minutes after local midnight, end exclusive; an end of 1440 is "24:00", the next midnight.
Interval = tuple[int, int]
Week = tuple[tuple[Interval, ...], ...]

_HHMM = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d|24:00")
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


def zone_for(name: str) -> ZoneInfo:
    """The IANA zone called `name`; ValueError if there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # ZoneInfo raises ValueError for names that look like paths, KeyError for unknown ones.
        raise ValueError(
            f"“{name}” is not an IANA time zone name such as America/New_York."
        ) from None


def parse_weekly_hours(value: object) -> Week:
    """Seven tuples of open intervals, Monday first, from the stored form
    `{"mon": [["09:00", "17:00"]], ...}`. A missing weekday is closed all day.

    Raises ValueError saying what is wrong: not that shape, a time that is not HH:MM (24:00 is
    allowed as an end), an interval that does not start before it ends, overlapping intervals,
    or no open interval in the whole week."""
    if not isinstance(value, dict):
        raise ValueError('Weekly hours must map weekdays (mon..sun) to ["HH:MM", "HH:MM"] lists.')
    unknown = sorted(str(key) for key in value if key not in WEEKDAYS)
    if unknown:
        raise ValueError(
            f"Unknown weekday {', '.join(unknown)}: use mon, tue, wed, thu, fri, sat, sun."
        )
    week = []
    for day in WEEKDAYS:
        intervals = value.get(day, [])
        if not isinstance(intervals, list):
            raise ValueError(f'{day}: expected a list of ["HH:MM", "HH:MM"] intervals.')
        parsed = [_parse_interval(day, interval) for interval in intervals]
        parsed.sort()
        for (_, end), (start, _) in pairwise(parsed):
            if start < end:
                raise ValueError(f"{day}: intervals overlap at {_hhmm(start)}-{_hhmm(end)}.")
        week.append(tuple(parsed))
    if not any(week):
        raise ValueError("Weekly hours must have at least one open interval in the week.")
    return tuple(week)


def _parse_interval(day: str, interval: object) -> Interval:
    if not (
        isinstance(interval, list | tuple)
        and len(interval) == 2
        and all(isinstance(part, str) and _HHMM.fullmatch(part) for part in interval)
    ):
        raise ValueError(f'{day}: {interval!r} is not a pair of "HH:MM" times.')
    start, end = (int(part[:2]) * 60 + int(part[3:]) for part in interval)
    if start >= end:
        raise ValueError(f"{day}: {interval[0]}-{interval[1]} must start before it ends.")
    return start, end


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@functools.cache
def _supported_countries() -> dict[str, list[str]]:
    # Built by importing every country module (about 0.1 s): once per process is enough.
    return holidays.list_supported_countries()


def check_holiday_country(country: str) -> None:
    """ValueError unless `country` is blank (no public holidays) or a code of `holidays`."""
    if country and country not in _supported_countries():
        raise ValueError(f"“{country}” is not a country code of the holidays package, e.g. US.")


def check_holiday_subdivision(country: str, subdivision: str) -> None:
    """ValueError unless `subdivision` is blank (the whole country) or one of `country`'s."""
    if not subdivision:
        return
    if not country:
        raise ValueError("A holiday subdivision needs a holiday country.")
    if subdivision not in _supported_countries().get(country, [subdivision]):
        raise ValueError(f"“{subdivision}” is not a subdivision of {country}, e.g. OR for US.")


@functools.lru_cache(maxsize=512)
def _public_holidays(country: str, subdivision: str, year: int) -> frozenset[date]:
    # Building a year of holidays costs milliseconds; routing asks for the same few years of
    # the same few regions all day long.
    return frozenset(holidays.country_holidays(country, subdiv=subdivision or None, years=year))


def _earliest_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The earliest UTC instant at which the clock in `zone` reads naive `wall` or later."""
    # fold=0 is the first occurrence of an ambiguous time, which is what we want.
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    # `wall` is in a gap. fold=0 read it with the offset from before the jump and landed
    # after the jump, fold=1 lands before it: bisect for the change itself, to the second (the
    # resolution of the tz database). Gaps are two days a year, so this is off the hot path.
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    high = int(instant.timestamp())
    after = instant.astimezone(zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _utc(moment: datetime) -> datetime:
    if moment.utcoffset() is None:
        raise ValueError(f"{moment!r} is naive: business hours need an aware datetime.")
    # Aware datetimes sharing a tzinfo compare and subtract as wall times, wrong across a
    # daylight-saving change: all arithmetic here is done in UTC.
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """When one organization is open: weekly wall-clock hours in its zone, minus public
    holidays of its country and subdivision, minus its closures (inclusive date ranges)."""

    zone: ZoneInfo
    week: Week
    holiday_country: str = ""
    holiday_subdivision: str = ""
    closures: tuple[tuple[date, date], ...] = ()

    def __post_init__(self) -> None:
        if len(self.week) != 7 or not any(self.week):
            raise ValueError("A business calendar needs at least one open interval in the week.")

    @classmethod
    def build(
        cls,
        *,
        time_zone: str,
        weekly_hours: dict[str, list[list[str]]],
        holiday_country: str = "",
        holiday_subdivision: str = "",
        closures: Iterable[tuple[date, date]] = (),
    ) -> BusinessCalendar:
        """A calendar from plain values, in the stored form; ValueError on bad values."""
        check_holiday_country(holiday_country)
        check_holiday_subdivision(holiday_country, holiday_subdivision)
        return cls(
            zone=zone_for(time_zone),
            week=parse_weekly_hours(weekly_hours),
            holiday_country=holiday_country,
            holiday_subdivision=holiday_subdivision,
            closures=tuple(closures),
        )

    @classmethod
    def for_organization(cls, organization: PartnerOrganization) -> BusinessCalendar:
        """The calendar of a PartnerOrganization. Reads its closures with one query, or none
        when they were prefetched (`prefetch_related("closures")`)."""
        return cls.build(
            time_zone=organization.time_zone,
            weekly_hours=organization.weekly_hours,
            holiday_country=organization.holiday_country,
            holiday_subdivision=organization.holiday_subdivision,
            closures=[(c.starts_on, c.ends_on) for c in organization.closures.all()],
        )

    # Public arithmetic ------------------------------------------------------------------------

    def add_business_hours(self, start: datetime, hours: float) -> datetime:
        """The moment (UTC) at which `hours` business hours after `start` have elapsed.
        Outside hours the clock starts at the next opening (so 0 hours gives
        `next_opening(start)`); a count that runs out exactly at a closing gives the closing,
        not the next opening. Negative `hours` count backwards the same way."""
        if not math.isfinite(hours):
            raise ValueError(f"Cannot add {hours} business hours.")
        start = _utc(start)
        remaining = timedelta(hours=abs(hours))
        forward = hours >= 0
        for opens, closes in self._intervals(start, forward=forward):
            if forward:
                opens = max(opens, start)
                if remaining <= closes - opens:
                    return opens + remaining
            else:
                closes = min(closes, start)
                if remaining <= closes - opens:
                    return closes - remaining
            remaining -= closes - opens
        raise AssertionError("unreachable: _intervals raises when it runs out")

    def business_hours_between(self, start: datetime, end: datetime) -> float:
        """Business hours elapsed from `start` to `end`; negative if `end` is before `start`."""
        start, end = _utc(start), _utc(end)
        if end < start:
            return -self.business_hours_between(end, start)
        total = timedelta(0)
        # Walking exactly the days in between bounds the loop by the arguments themselves.
        day = self._local_date(start) - _DAY
        last = self._local_date(end) + _DAY
        while day <= last:
            for opens, closes in self._day_intervals(day):
                overlap = min(closes, end) - max(opens, start)
                if overlap > timedelta(0):
                    total += overlap
            day += _DAY
        return total / _HOUR

    def is_open(self, moment: datetime) -> bool:
        """Whether `moment` is within business hours (an opening is open, a closing is not)."""
        moment = _utc(moment)
        local = self._local_date(moment)
        return any(
            opens <= moment < closes
            for day in (local - _DAY, local, local + _DAY)
            for opens, closes in self._day_intervals(day)
        )

    def next_opening(self, moment: datetime) -> datetime:
        """`moment` itself if open, else the next opening; in UTC."""
        moment = _utc(moment)
        opens, _ = next(self._intervals(moment, forward=True))
        return max(opens, moment)

    # Days and intervals -----------------------------------------------------------------------

    def _local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def is_closed_day(self, day: date) -> bool:
        """Whether the whole local `day` is closed by a public holiday or a closure."""
        if any(starts_on <= day <= ends_on for starts_on, ends_on in self.closures):
            return True
        return bool(self.holiday_country) and day in _public_holidays(
            self.holiday_country, self.holiday_subdivision, day.year
        )

    def _day_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open intervals of local `day` as UTC instants, in order; an interval that a
        daylight-saving gap swallows whole is dropped."""
        if self.is_closed_day(day):
            return []
        midnight = datetime.combine(day, time())
        intervals = []
        for start, end in self.week[day.weekday()]:
            opens = _earliest_instant(midnight + timedelta(minutes=start), self.zone)
            closes = _earliest_instant(midnight + timedelta(minutes=end), self.zone)
            if opens < closes:
                intervals.append((opens, closes))
        return intervals

    def _intervals(self, moment: datetime, *, forward: bool) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals that end after `moment` (forward) or begin before it (backward),
        nearest first. ValueError after MAX_CLOSED_DAYS without any, or MAX_SPAN_DAYS in all."""
        step = _DAY if forward else -_DAY
        # Boundaries are monotonic in wall time, so day N's hours never reach past day N+1's;
        # starting one day back covers a moment whose local date a fall-back made odd.
        day = self._local_date(moment) - step
        idle = 0
        for _ in range(MAX_SPAN_DAYS):
            intervals = self._day_intervals(day)
            found = False
            for opens, closes in intervals if forward else reversed(intervals):
                if (closes > moment) if forward else (opens < moment):
                    found = True
                    yield opens, closes
            idle = 0 if found else idle + 1
            if idle > MAX_CLOSED_DAYS:
                raise ValueError(
                    f"No business hours within {MAX_CLOSED_DAYS} days of "
                    f"{self._local_date(moment)}: check the weekly hours and closures."
                )
            day += step
        raise ValueError(f"Business hours past {MAX_SPAN_DAYS} days are not computed.")
