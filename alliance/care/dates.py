"""The one rule for dates and birth years entered anywhere (forms, API, imports).

A date is plausible from 1 January 1900 up to one year after today; a birth year gives an age of
0 to 120 this year and, when the client's age band is known, an age that band can have (a year
of slack on each side, since only the year is known). Each check returns the message to show,
or ``None`` when the value is fine; ``today`` is injected so that callers and tests choose the
clock.
"""

from __future__ import annotations

import datetime

from django.utils.translation import gettext as _

from alliance.science.instruments.age_bands import UnknownAgeBandError, age_band

EARLIEST_DATE = datetime.date(1900, 1, 1)
MAX_AGE = 120


def latest_date(today: datetime.date) -> datetime.date:
    """The last plausible date: one year after ``today`` (28 February for a 29 February)."""
    try:
        return today.replace(year=today.year + 1)
    except ValueError:
        return today.replace(year=today.year + 1, day=28)


def in_range(value: datetime.date, today: datetime.date) -> bool:
    return EARLIEST_DATE <= value <= latest_date(today)


def date_problem(value: datetime.date | None, today: datetime.date) -> str | None:
    """Why ``value`` is not a plausible date, or ``None`` (no date is fine: callers default it)."""
    if value is None or in_range(value, today):
        return None
    return _("The date must be between %(first)s and %(last)s.") % {
        "first": EARLIEST_DATE.isoformat(),
        "last": latest_date(today).isoformat(),
    }


def birth_year_problem(year: int | None, band: str | None, today: datetime.date) -> str | None:
    """Why ``year`` is not a plausible birth year (for ``band`` when given), or ``None``."""
    if year is None:
        return None
    age = today.year - year
    if not 0 <= age <= MAX_AGE:
        return _("The birth year must be between %(first)s and %(last)s.") % {
            "first": today.year - MAX_AGE,
            "last": today.year,
        }
    if not band:
        return None
    try:
        definition = age_band(band)
    except UnknownAgeBandError:
        return None
    oldest = MAX_AGE if definition.max_age is None else definition.max_age + 1
    if not definition.min_age - 1 <= age <= oldest:
        return _("The birth year does not fit the age band.")
    return None
