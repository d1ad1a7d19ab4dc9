"""Credit cycles, billing periods and days in an organisation's time zone, as UTC instants.

Every boundary is a local midnight: a day ends at the next midnight, a cycle on the anchor day of
the next month (the 31st becomes the last day of a shorter month). Months are added with
dateutil's ``relativedelta``, which clamps to the month's end the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dateutil.relativedelta import relativedelta

from privacy_service.accounts.models import DEFAULT_TIMEZONE


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def zone(name: str | None) -> ZoneInfo:
    """The organisation's zone; an unknown name (never stored by the forms) falls back to Paris."""
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def timezone_names() -> list[str]:
    return sorted(name for name in available_timezones() if "/" in name and "Etc" not in name)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The instant the local ``day`` begins, in UTC."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


def day_containing(moment: datetime, tz: ZoneInfo) -> Span:
    today = local_date(moment, tz)
    return Span(local_midnight(today, tz), local_midnight(today + timedelta(days=1), tz))


def month_anchor(year: int, month: int, anchor_day: int) -> date:
    """The anchor day in that month, clamped to the month's last day."""
    return date(year, month, 1) + relativedelta(day=anchor_day)


def cycle_containing(moment: datetime, anchor_day: int, tz: ZoneInfo) -> Span:
    """The monthly credit cycle (anchor day to anchor day, local midnights) holding ``moment``."""
    today = local_date(moment, tz)
    start = month_anchor(today.year, today.month, anchor_day)
    if today < start:
        previous = start - relativedelta(months=1)
        start = month_anchor(previous.year, previous.month, anchor_day)
    following = start + relativedelta(months=1)
    end = month_anchor(following.year, following.month, anchor_day)
    return Span(local_midnight(start, tz), local_midnight(end, tz))


def period_after(start: datetime, months: int, anchor_day: int, tz: ZoneInfo) -> Span:
    """A billing period of ``months`` cycles beginning at ``start`` (a cycle start)."""
    first = local_date(start, tz)
    following = first + relativedelta(months=months)
    end = month_anchor(following.year, following.month, anchor_day)
    return Span(start, local_midnight(end, tz))
