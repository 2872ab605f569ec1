"""Reading a long (id, time, score) table: checks, time points, the paired and the long view."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from alliance.science.change.base import MISSING_GROUP, ChangeError


def normalise_time(value: object) -> str | None:
    """Time point as comparable text: 1, 1.0 and "1" give "1"; text is stripped and case-folded."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):  # type: ignore[call-overload]
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return text.casefold()
    if math.isfinite(number) and number.is_integer():
        return str(int(number))
    return repr(number)


def time_points(pre: object, post: object) -> tuple[str, str]:
    pre_key, post_key = normalise_time(pre), normalise_time(post)
    if pre_key is None or post_key is None:
        raise ChangeError("pre and post time points must not be empty")
    if pre_key == post_key:
        raise ChangeError(f"pre and post are the same time point ({pre_key})")
    return pre_key, post_key


def paired_table(
    frame: pd.DataFrame,
    id_column: str,
    time_column: str,
    score_column: str,
    pre_key: str,
    post_key: str,
    by: str | None,
) -> pd.DataFrame:
    """One row per id (all ids of the table) with columns pre, post (NaN when missing), group."""
    ids = id_keys(frame[id_column])
    times = frame[time_column].map(normalise_time)
    scores = numeric_scores(frame[score_column])
    wide = pd.DataFrame(index=pd.Index(pd.unique(ids), name="id"))
    for column, key in (("pre", pre_key), ("post", post_key)):
        at_time = times.to_numpy() == key
        if not at_time.any():
            raise ChangeError(
                f"no rows with time {key} in column {time_column!r} "
                f"(time points: {', '.join(sorted(set(times.dropna())))})"
            )
        refuse_duplicates(ids[at_time], key)
        wide[column] = pd.Series(scores.to_numpy()[at_time], index=ids[at_time])
    if by is not None:
        groups = frame[by].map(normalise_group)
        wide["group"] = groups.groupby(ids.to_numpy(), sort=False).first().fillna(MISSING_GROUP)
    return wide


def normalise_group(value: object) -> str | None:
    """Group labels as text; numbers as in time points so 1 and 1.0 are one group."""
    key = normalise_time(value)
    if key is None:
        return None
    return str(value).strip() if isinstance(value, str) and not _is_number(value) else key


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def id_keys(column: pd.Series) -> pd.Index:
    missing = column.isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise ChangeError(f"row {row + 2}: the id column {column.name!r} is empty")
    # Ids compare as text so that "7" from a CSV and 7 from a notebook name the same case.
    return pd.Index([_id_text(value) for value in column])


def _id_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _as_numbers(column: pd.Series, problem: str) -> pd.Series:
    """The column as floats; text that is not a number stops with ``problem`` and the row."""
    if pd.api.types.is_numeric_dtype(column):
        return column.astype("float64")
    stripped = column.astype("string").str.strip()
    text = stripped.where(stripped != "")
    values = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = (values.isna() & text.notna()).to_numpy(dtype=bool)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ChangeError(f"row {row + 2}: {problem}, not {column.iloc[row]!r}")
    return values


def numeric_scores(column: pd.Series) -> pd.Series:
    values = _as_numbers(column, f"the score column {column.name!r} must be a number")
    infinite = np.isinf(values.to_numpy(dtype=np.float64, na_value=np.nan))
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        raise ChangeError(f"row {row + 2}: the score column {column.name!r} is not finite")
    return values


def refuse_duplicates(ids: pd.Index, key: str) -> None:
    duplicated = ids[ids.duplicated()]
    if len(duplicated):
        raise ChangeError(f"id {duplicated[0]} has several rows at time {key}")


def growth_table(
    frame: pd.DataFrame,
    id_column: str,
    time_column: str,
    score_column: str,
    by: str | None,
    min_scores: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All time points, for the growth model: (per id, long rows of the used ids).

    Per id (every id of the table): ``n_scores``, ``pre`` and ``post`` (its first and last
    non-missing score in time order), ``group``. The long rows (id, time, score) are those of the
    ids with at least ``min_scores`` scores. Time must be numeric: the model is linear in it.
    """
    ids = id_keys(frame[id_column])
    scores = numeric_scores(frame[score_column])
    times = numeric_times(frame[time_column])
    long = pd.DataFrame(
        {"id": ids.to_numpy(), "time": times.to_numpy(), "score": scores.to_numpy()}
    )
    duplicated = long.duplicated(subset=["id", "time"]) & long["time"].notna()
    if duplicated.any():
        row = long.loc[duplicated].iloc[0]
        raise ChangeError(f"id {row['id']} has several rows at time {normalise_time(row['time'])}")
    scored = long.dropna(subset=["time", "score"]).sort_values(["id", "time"], kind="stable")
    per_id = scored.groupby("id", sort=False)["score"].agg(
        n_scores="size", pre="first", post="last"
    )
    wide = pd.DataFrame(per_id.reindex(pd.Index(pd.unique(ids), name="id")))
    wide["n_scores"] = wide["n_scores"].fillna(0).astype(int)
    if by is not None:
        groups = frame[by].map(normalise_group)
        wide["group"] = groups.groupby(ids.to_numpy(), sort=False).first().fillna(MISSING_GROUP)
    used = wide.index[wide["n_scores"] >= min_scores]
    return wide, scored.loc[scored["id"].isin(used)]


def numeric_times(column: pd.Series) -> pd.Series:
    return _as_numbers(column, f"the growth model needs numeric time points in {column.name!r}")
