"""Validation: per-row checks of an administrations table, set-based with pandas.

Returns a clean frame (typed columns, items as a dict, the total computed from the items when
only they are given) and records every problem as (row, column, message); nothing is written.
"""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
from django.utils import timezone
from django.utils.translation import gettext as _

from alliance.accounts.models import Agency, Membership, Team
from alliance.care.dates import EARLIEST_DATE, latest_date
from alliance.care.feedback import instrument_for
from alliance.care.models import AgeBand, Ending, Rater
from alliance.science.instruments import UnknownInstrumentError

from .read import PROBLEM_COLUMN, item_columns, text
from .report import Errors


def validate(
    agency: Agency, frame: pd.DataFrame, errors: Errors, today: datetime.date | None = None
) -> pd.DataFrame:
    """Per-row checks; returns a clean frame (typed columns, items dict, computed total)."""
    frame = frame.reset_index(drop=True)
    clean = pd.DataFrame(index=frame.index)
    for column in ("client_id", "episode_id", "therapist_id", "instrument", "rater"):
        clean[column] = text(frame, column)
        errors.add_mask(clean[column] == "", column, _("is empty"))
    clean["instrument"] = clean["instrument"].str.lower()
    clean["rater"] = clean["rater"].str.lower()
    clean["name"] = text(frame, "client_name")
    clean["rater_relationship"] = text(frame, "rater_relationship").str.slice(0, 100)
    for column, limit in (("client_id", 40), ("episode_id", 100), ("name", 200)):
        errors.add_mask(
            clean[column].str.len() > limit, column, _("longer than %(limit)s") % {"limit": limit}
        )
    if not agency.allow_client_names:
        # The agency's name policy holds for imports as for every other way in.
        errors.add_mask(
            clean["name"] != "", "client_name", _("must be empty: this agency keeps codes only")
        )

    numbers = pd.to_numeric(text(frame, "session_number"), errors="coerce")
    bad = numbers.isna() | (numbers < 1) | (numbers % 1 != 0) | (numbers > 10000)
    errors.add_mask(
        bad & (clean["episode_id"] != ""), "session_number", _("is not a whole number from 1")
    )
    clean["session_number"] = numbers.where(~bad, 0).astype("int64")

    dates = pd.to_datetime(text(frame, "session_date"), format="%Y-%m-%d", errors="coerce")
    errors.add_mask(dates.isna(), "session_date", _("is not a date (YYYY-MM-DD)"))
    first, last = EARLIEST_DATE, latest_date(today or timezone.localdate())
    outside = dates.notna() & ((dates < pd.Timestamp(first)) | (dates > pd.Timestamp(last)))
    errors.add_mask(
        outside,
        "session_date",
        _("is not between %(first)s and %(last)s") % {"first": first, "last": last},
    )
    clean["session_date"] = dates.dt.date

    raters = clean["rater"]
    errors.add_mask(
        (raters != "") & ~raters.isin(Rater.values),
        "rater",
        _("is not one of %(values)s") % {"values": ", ".join(Rater.values)},
    )

    members = dict(
        Membership.objects.filter(agency=agency, user__is_active=True).values_list(
            "user__username", "user_id"
        )
    )
    clean["therapist"] = clean["therapist_id"].map(members)
    errors.add_mask(
        (clean["therapist_id"] != "") & clean["therapist"].isna(),
        "therapist_id",
        _("is not the username of a member of this agency"),
    )

    teams = dict(Team.objects.filter(agency=agency).values_list("name", "pk"))
    team_names = text(frame, "team_id")
    clean["team"] = team_names.map(teams)
    errors.add_mask(
        (team_names != "") & clean["team"].isna(), "team_id", _("is not a team of this agency")
    )

    age_bands = text(frame, "age_band").str.lower()
    errors.add_mask(
        (age_bands != "") & ~age_bands.isin(AgeBand.values),
        "age_band",
        _("is not one of %(values)s") % {"values": ", ".join(AgeBand.values)},
    )
    clean["age_band"] = age_bands.where(age_bands != "", AgeBand["ADULT"])
    endings = text(frame, "ending").str.lower()
    errors.add_mask(
        (endings != "") & ~endings.isin(Ending.values),
        "ending",
        _("is not planned, unilateral or empty"),
    )
    clean["ending"] = endings

    if PROBLEM_COLUMN in frame.columns:
        for index, problem in enumerate(frame[PROBLEM_COLUMN].fillna("")):
            if problem:
                column, _sep, message = problem.partition(": ")
                errors.add(index, column, message)
    _validate_scores(frame, clean, errors)
    _validate_episodes(clean, errors)
    return clean


def _validate_scores(frame: pd.DataFrame, clean: pd.DataFrame, errors: Errors) -> None:
    totals = pd.to_numeric(text(frame, "total"), errors="coerce")
    given_total = text(frame, "total") != ""
    errors.add_mask(given_total & totals.isna(), "total", _("is not a number"))
    columns = item_columns(frame)
    item_values = {c: pd.to_numeric(text(frame, c), errors="coerce") for c in columns}
    for column in columns:
        errors.add_mask(
            (text(frame, column) != "") & item_values[column].isna(),
            column,
            _("is not a number"),
        )
    clean["total"] = np.nan
    clean["items"] = pd.Series([{} for _row in range(len(clean))], index=clean.index, dtype=object)
    clean["total_only"] = True
    for code, rows in clean.groupby("instrument", sort=False).groups.items():
        if code == "":
            continue
        try:
            instrument = instrument_for(code)
        except UnknownInstrumentError:
            for index in rows:
                errors.add(
                    int(index),
                    "instrument",
                    _("unknown instrument %(code)s") % {"code": repr(code)},
                )
            continue
        keys = instrument.item_keys
        present = list(columns[: len(keys)])
        values = (
            np.column_stack([item_values[c].loc[rows].to_numpy(dtype=float) for c in present])
            if present
            else np.empty((len(rows), 0))
        )
        filled = ~np.isnan(values)
        n_filled = filled.sum(axis=1) if present else np.zeros(len(rows), dtype=int)
        total = totals.loc[rows].to_numpy(dtype=float)
        for position, item in enumerate(instrument.items[: len(present)]):
            column = present[position]
            column_values = values[:, position]
            out = filled[:, position] & ((column_values < item.min) | (column_values > item.max))
            for index in np.asarray(rows)[out]:
                errors.add(
                    int(index),
                    column,
                    _("must be between %(low)s and %(high)s")
                    % {"low": f"{item.min:g}", "high": f"{item.max:g}"},
                )
        partial = (n_filled > 0) & (n_filled < len(keys))
        for index in np.asarray(rows)[partial]:
            errors.add(
                int(index), "item_1", _("give all %(count)s items or none") % {"count": len(keys)}
            )
        complete = n_filled == len(keys)
        item_sum = np.round(np.nansum(values, axis=1), instrument.decimals) if present else total
        mismatch = complete & ~np.isnan(total) & (np.abs(item_sum - total) > 0.05 + 1e-9)
        for index in np.asarray(rows)[mismatch]:
            errors.add(int(index), "total", _("does not equal the sum of the items"))
        total = np.where(complete & np.isnan(total), item_sum, total)
        missing = np.isnan(total)
        for index in np.asarray(rows)[missing & ~partial]:
            errors.add(int(index), "total", _("give the total or the items"))
        out = ~missing & ((total < instrument.total_min) | (total > instrument.total_max))
        for index in np.asarray(rows)[out]:
            errors.add(
                int(index),
                "total",
                _("must be between %(low)s and %(high)s")
                % {"low": f"{instrument.total_min:g}", "high": f"{instrument.total_max:g}"},
            )
        clean.loc[rows, "total"] = total
        clean.loc[rows, "total_only"] = ~complete
        if present:
            item_lists = values.tolist()
            clean.loc[rows, "items"] = pd.Series(
                [
                    dict(zip(keys, row, strict=False)) if ok else {}
                    for row, ok in zip(item_lists, complete, strict=True)
                ],
                index=rows,
                dtype=object,
            )


def _validate_episodes(clean: pd.DataFrame, errors: Errors) -> None:
    keys = ["episode_id", "session_number", "instrument", "rater"]
    duplicate = clean.duplicated(keys, keep="first") & (clean["episode_id"] != "")
    errors.add_mask(
        duplicate,
        "episode_id",
        _("repeats an earlier row (same episode, session, instrument and rater)"),
    )
    grouped = clean[clean["episode_id"] != ""].groupby("episode_id", sort=False)
    for column in ("client_id", "therapist_id"):
        varies = grouped[column].transform("nunique") > 1
        errors.add_mask(
            varies.reindex(clean.index, fill_value=False),
            column,
            _("differs between rows of the same episode"),
        )
    dates = clean.groupby(["episode_id", "session_number"])["session_date"].transform("nunique")
    errors.add_mask(dates > 1, "session_date", _("differs within the same session"))
    kinds = clean["instrument"].map(kind)
    outcome = clean[kinds.isin(["outcome", "symptom"])]
    several = outcome.groupby("episode_id")["instrument"].transform("nunique") > 1
    errors.add_mask(
        several.reindex(clean.index, fill_value=False),
        "instrument",
        _("an episode uses one outcome instrument"),
    )
    has_outcome = set(outcome["episode_id"])
    no_outcome = (clean["episode_id"] != "") & ~clean["episode_id"].isin(has_outcome)
    errors.add_mask(
        no_outcome & (kinds != ""),
        "instrument",
        _("the episode has no outcome instrument (e.g. ORS)"),
    )


def kind(code: str) -> str:
    """The instrument's kind (outcome, alliance, ...), or "" for an unknown code."""
    try:
        return instrument_for(code).kind
    except UnknownInstrumentError:
        return ""
