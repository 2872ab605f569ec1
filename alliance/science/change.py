"""Change statistics for any instrument and direction.

Jacobson-Truax reliable change index (RCI) and the Hageman-Arrindell (HA) variant, clinical cutoffs
a/b/c and the change categories of the domain brief (docs/change.md explains the choices).
Pure numpy/pandas so that it works from a notebook on any long (id, time, score) table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

CATEGORIES: tuple[str, ...] = ("recovered", "improved", "unchanged", "deteriorated", "harmed")
JT_CRITICAL_Z = 1.96
HA_CRITICAL_Z = 1.65
METHODS: tuple[str, ...] = ("jt", "ha")
CUTOFF_TYPES: tuple[str, ...] = ("a", "b", "c")
MISSING_GROUP = "(missing)"

Method = Literal["jt", "ha"]
CutoffType = Literal["a", "b", "c"]


class ChangeError(ValueError):
    """Bad input to the change analysis; the message names the column, row, id or option."""


@dataclass(frozen=True)
class ChangeResult:
    """``summary`` is the ``alliance change --json`` object; ``per_case`` one row per used case."""

    summary: dict[str, Any]
    per_case: pd.DataFrame


def rc_threshold(sd_pre: float, reliability: float, z: float = JT_CRITICAL_Z) -> float:
    """Reliable-change threshold in raw points: z * S_diff = z * sqrt(2) * SD_pre * sqrt(1 - r)."""
    _check_reliability(reliability)
    if not math.isfinite(sd_pre) or sd_pre < 0:
        raise ValueError(f"sd_pre must be a finite number >= 0, not {sd_pre!r}")
    return z * math.sqrt(2.0) * standard_error(sd_pre, reliability)


def standard_error(sd: float, reliability: float) -> float:
    """Standard error of measurement SE = SD * sqrt(1 - r)."""
    return sd * math.sqrt(1.0 - reliability)


def categorize(
    pre: npt.ArrayLike,
    post: npt.ArrayLike,
    threshold: float,
    *,
    higher_is_better: bool = True,
    cutoff: float | None = None,
) -> npt.NDArray[np.str_]:
    """Change category of each case, vectorized.

    A case changed reliably when its change in the better direction is strictly greater than
    ``threshold`` (raw points), i.e. ``d * RCI > z``. Without ``cutoff`` only "improved",
    "unchanged" and "deteriorated" occur; with it, "recovered" and "harmed" too.
    """
    pre_values, post_values = _paired_scores(pre, post)
    if not math.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be a finite number >= 0, not {threshold!r}")
    gain = _direction(higher_is_better) * (post_values - pre_values)
    return categorize_reliable(
        pre_values,
        post_values,
        gain > threshold,
        gain < -threshold,
        higher_is_better=higher_is_better,
        cutoff=cutoff,
    )


def categorize_reliable(
    pre: npt.NDArray[np.float64],
    post: npt.NDArray[np.float64],
    reliably_better: npt.NDArray[np.bool_],
    reliably_worse: npt.NDArray[np.bool_],
    *,
    higher_is_better: bool = True,
    cutoff: float | None = None,
) -> npt.NDArray[np.str_]:
    """Categories from already decided reliable improvement/deterioration (JT or HA)."""
    if cutoff is None:
        recovered = np.zeros(pre.shape, dtype=bool)
        harmed = np.zeros(pre.shape, dtype=bool)
    else:
        if not math.isfinite(cutoff):
            raise ValueError(f"cutoff must be a finite number, not {cutoff!r}")
        clinical_pre = is_clinical(pre, cutoff, higher_is_better=higher_is_better)
        clinical_post = is_clinical(post, cutoff, higher_is_better=higher_is_better)
        recovered = reliably_better & clinical_pre & ~clinical_post
        harmed = reliably_worse & ~clinical_pre & clinical_post
    return np.select(
        [recovered, reliably_better, harmed, reliably_worse],
        ["recovered", "improved", "harmed", "deteriorated"],
        default="unchanged",
    )


def is_clinical(
    scores: npt.NDArray[np.float64], cutoff: float, *, higher_is_better: bool = True
) -> npt.NDArray[np.bool_]:
    """Strictly on the dysfunctional side of the cutoff: a score exactly on it counts as functional."""
    return _direction(higher_is_better) * (scores - cutoff) < 0


def _paired_scores(
    pre: npt.ArrayLike, post: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    pre_values = np.asarray(pre, dtype=np.float64)
    post_values = np.asarray(post, dtype=np.float64)
    if pre_values.shape != post_values.shape:
        raise ValueError(
            f"pre and post must have the same shape, not {pre_values.shape} and {post_values.shape}"
        )
    if not (np.isfinite(pre_values).all() and np.isfinite(post_values).all()):
        raise ValueError("pre and post scores must be finite numbers (drop missing cases first)")
    return pre_values, post_values


def _direction(higher_is_better: bool) -> int:
    return 1 if higher_is_better else -1


def _check_reliability(reliability: float) -> None:
    if not (0.0 < reliability < 1.0):
        raise ValueError(f"reliability must be strictly between 0 and 1, not {reliability!r}")


# --- cutoffs -------------------------------------------------------------------------------------


def clinical_cutoff(
    cutoff_type: str,
    *,
    m_clinical: float,
    sd_clinical: float,
    m_functional: float | None = None,
    sd_functional: float | None = None,
    higher_is_better: bool = True,
) -> float:
    """Jacobson-Truax cutoff a, b or c between the clinical and the functional population."""
    # Jacobson & Truax (1991): a lies 2 SD from the clinical mean towards functioning, b 2 SD from
    # the functional mean towards dysfunction (docs/change.md explains the sign of d).
    d = _direction(higher_is_better)
    if cutoff_type == "a":
        return m_clinical + d * 2.0 * sd_clinical
    if m_functional is None or sd_functional is None:
        raise ChangeError(
            f"cutoff {cutoff_type} needs the functional norm (m_functional and sd_functional)"
        )
    if cutoff_type == "b":
        return m_functional - d * 2.0 * sd_functional
    if cutoff_type == "c":
        return (sd_clinical * m_functional + sd_functional * m_clinical) / (
            sd_clinical + sd_functional
        )
    raise ChangeError(f"cutoff must be one of {', '.join(CUTOFF_TYPES)}, not {cutoff_type!r}")


# --- the analysis of a long table ----------------------------------------------------------------


def analyse_change(
    frame: pd.DataFrame,
    *,
    id_column: str,
    time_column: str,
    score_column: str,
    pre: object,
    post: object,
    reliability: float,
    higher_is_better: bool = True,
    method: str = "jt",
    m_functional: float | None = None,
    sd_functional: float | None = None,
    cutoff: str | None = None,
    by: str | None = None,
) -> ChangeResult:
    """Reliable and clinically significant change between two time points of a long table.

    ``frame`` has one row per (id, time) with a score. ``pre``/``post`` are compared with the time
    column as normalised text, so ``1``, ``"1"`` and ``1.0`` are the same time point. Cases missing
    either score are excluded and counted. With ``m_functional``/``sd_functional`` the cutoff
    (default ``c``) gives the recovered and harmed categories. With ``by`` the categories are also
    counted per group; the threshold and cutoff stay those of the whole sample, so a case's
    category does not depend on the grouping.
    """
    _check_options(frame, id_column, time_column, score_column, by, reliability, method)
    cutoff = _check_norms(cutoff, m_functional, sd_functional)
    pre_key, post_key = _time_points(pre, post)
    wide = _paired_table(frame, id_column, time_column, score_column, pre_key, post_key, by)
    used = wide.dropna(subset=["pre", "post"])
    if len(used) < 2:
        raise ChangeError(
            f"need at least 2 cases with scores at both time {pre_key} and time {post_key}, "
            f"found {len(used)}"
        )
    pre_scores = used["pre"].to_numpy(dtype=np.float64)
    post_scores = used["post"].to_numpy(dtype=np.float64)
    sd_pre = float(np.std(pre_scores, ddof=1))
    if sd_pre == 0:
        raise ChangeError("the pre scores of the used cases have no spread (SD 0)")
    stats = (_jacobson_truax if method == "jt" else _hageman_arrindell)(
        pre_scores, post_scores, reliability, higher_is_better
    )
    summary: dict[str, Any] = {
        "method": method,
        "pre": pre_key,
        "post": post_key,
        "reliability": reliability,
        "higher_is_better": higher_is_better,
        "sd_pre": sd_pre,
        **stats.parameters,
    }
    cutoff_value = None
    if cutoff is not None:
        m_clinical = float(np.mean(pre_scores))
        cutoff_value = clinical_cutoff(
            cutoff,
            m_clinical=m_clinical,
            sd_clinical=sd_pre,
            m_functional=m_functional,
            sd_functional=sd_functional,
            higher_is_better=higher_is_better,
        )
        summary.update(
            cutoff=cutoff_value,
            cutoff_type=cutoff,
            m_clinical=m_clinical,
            sd_clinical=sd_pre,
            m_functional=_optional_float(m_functional),
            sd_functional=_optional_float(sd_functional),
        )
    categories = categorize_reliable(
        pre_scores,
        post_scores,
        stats.reliably_better,
        stats.reliably_worse,
        higher_is_better=higher_is_better,
        cutoff=cutoff_value,
    )
    per_case = pd.DataFrame(
        {
            "id": used.index.to_numpy(),
            "pre": pre_scores,
            "post": post_scores,
            "change": post_scores - pre_scores,
            "rci": stats.rci,
            "category": categories,
        }
    )
    if by is not None:
        per_case["group"] = used["group"].to_numpy()
    names = _category_names(cutoff_value is not None)
    summary = {**_counts(wide, per_case, names), **summary}
    if by is not None:
        summary["groups"] = {
            group: {**_counts(wide.loc[wide["group"] == group], cases, names), **_shared(summary)}
            for group, cases in _groups(wide, per_case)
        }
    return ChangeResult(summary=summary, per_case=per_case)


@dataclass(frozen=True)
class _ReliableChange:
    rci: npt.NDArray[np.float64]
    reliably_better: npt.NDArray[np.bool_]
    reliably_worse: npt.NDArray[np.bool_]
    parameters: dict[str, float]


def _jacobson_truax(
    pre: npt.NDArray[np.float64],
    post: npt.NDArray[np.float64],
    reliability: float,
    higher_is_better: bool,
) -> _ReliableChange:
    sd_pre = float(np.std(pre, ddof=1))
    s_diff = math.sqrt(2.0) * standard_error(sd_pre, reliability)
    threshold = rc_threshold(sd_pre, reliability)
    # Compare raw change with the raw threshold, exactly as categorize() does, so that both agree.
    gain = _direction(higher_is_better) * (post - pre)
    return _ReliableChange(
        rci=(post - pre) / s_diff,
        reliably_better=gain > threshold,
        reliably_worse=gain < -threshold,
        parameters={
            "critical_value": JT_CRITICAL_Z,
            "s_diff": s_diff,
            "rc_threshold": threshold,
        },
    )


def _hageman_arrindell(
    pre: npt.NDArray[np.float64],
    post: npt.NDArray[np.float64],
    reliability: float,
    higher_is_better: bool,
) -> _ReliableChange:
    sd_pre = float(np.std(pre, ddof=1))
    sd_post = float(np.std(post, ddof=1))
    # The measurement error belongs to the instrument, so one SE (from the pre SD) serves both.
    se = standard_error(sd_pre, reliability)
    r_pre = (sd_pre**2 - se**2) / sd_pre**2
    r_post = (sd_post**2 - se**2) / sd_post**2 if sd_post > 0 else 0.0
    # With no spread at post the correlation is undefined but its term vanishes anyway.
    r12 = float(np.corrcoef(pre, post)[0, 1]) if sd_post > 0 else 0.0
    cross = 2.0 * sd_pre * sd_post * r12
    # The denominator is the variance of the differences: 0 when every case changed alike.
    variance_of_change = sd_pre**2 + sd_post**2 - cross
    r_dd = (
        (sd_pre**2 * r_pre + sd_post**2 * r_post - cross) / variance_of_change
        if variance_of_change > 1e-12 * (sd_pre**2 + sd_post**2)
        else math.nan
    )
    if not math.isfinite(r_dd) or r_dd <= 0:
        raise ChangeError(
            f"the reliability of the difference scores is {r_dd:.3g} (not positive or undefined): "
            "the Hageman-Arrindell method does not apply to these data; use the jt method"
        )
    s_diff = math.sqrt(2.0 * se**2)
    mean_change = float(np.mean(post) - np.mean(pre))
    rci = ((post - pre) * r_dd + mean_change * (1.0 - r_dd)) / (math.sqrt(r_dd) * s_diff)
    d = _direction(higher_is_better)
    better = d * rci
    # Raw change d*(x2 - x1) at which d*RCI_HA reaches +-1.65: asymmetric unless the mean is unchanged.
    shift = d * mean_change * (1.0 - r_dd)
    scale = HA_CRITICAL_Z * math.sqrt(r_dd) * s_diff
    return _ReliableChange(
        rci=rci,
        reliably_better=better > HA_CRITICAL_Z,
        reliably_worse=better < -HA_CRITICAL_Z,
        parameters={
            "critical_value": HA_CRITICAL_Z,
            "s_diff": s_diff,
            "rc_threshold": (scale - shift) / r_dd,
            "rc_threshold_deterioration": (scale + shift) / r_dd,
            "sd_post": sd_post,
            "mean_pre": float(np.mean(pre)),
            "mean_post": float(np.mean(post)),
            "r_pre": r_pre,
            "r_post": r_post,
            "r12": r12,
            "r_dd": r_dd,
        },
    )


def _counts(wide: pd.DataFrame, per_case: pd.DataFrame, names: tuple[str, ...]) -> dict[str, Any]:
    found = per_case["category"].value_counts()
    return {
        "n_total": len(wide),
        "n_used": len(per_case),
        "n_excluded": len(wide) - len(per_case),
        "categories": {name: int(found.get(name, 0)) for name in names},
    }


def _shared(summary: dict[str, Any]) -> dict[str, Any]:
    """The sample-wide parameters repeated in each group's object."""
    counted = ("n_total", "n_used", "n_excluded", "categories", "groups")
    return {key: value for key, value in summary.items() if key not in counted}


def _groups(wide: pd.DataFrame, per_case: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    return [
        (group, per_case.loc[per_case["group"] == group])
        for group in sorted(wide["group"].unique())
    ]


def _category_names(with_cutoff: bool) -> tuple[str, ...]:
    if with_cutoff:
        return CATEGORIES
    return tuple(name for name in CATEGORIES if name not in ("recovered", "harmed"))


# --- input checks and reshaping ------------------------------------------------------------------


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


def _time_points(pre: object, post: object) -> tuple[str, str]:
    pre_key, post_key = normalise_time(pre), normalise_time(post)
    if pre_key is None or post_key is None:
        raise ChangeError("pre and post time points must not be empty")
    if pre_key == post_key:
        raise ChangeError(f"pre and post are the same time point ({pre_key})")
    return pre_key, post_key


def _check_options(
    frame: pd.DataFrame,
    id_column: str,
    time_column: str,
    score_column: str,
    by: str | None,
    reliability: float,
    method: str,
) -> None:
    named = {"id": id_column, "time": time_column, "score": score_column, "by": by}
    for option, column in named.items():
        if column is not None and column not in frame.columns:
            raise ChangeError(
                f"unknown {option} column {column!r} (columns: {', '.join(map(str, frame.columns))})"
            )
    if not (math.isfinite(reliability) and 0.0 < reliability < 1.0):
        raise ChangeError(f"reliability must be strictly between 0 and 1, not {reliability!r}")
    if method not in METHODS:
        raise ChangeError(f"method must be one of {', '.join(METHODS)}, not {method!r}")


def _check_norms(
    cutoff: str | None, m_functional: float | None, sd_functional: float | None
) -> str | None:
    if (m_functional is None) != (sd_functional is None):
        raise ChangeError("give both m_functional and sd_functional, or neither")
    if sd_functional is not None and not (math.isfinite(sd_functional) and sd_functional > 0):
        raise ChangeError(f"sd_functional must be a positive number, not {sd_functional!r}")
    if m_functional is not None and not math.isfinite(m_functional):
        raise ChangeError(f"m_functional must be a finite number, not {m_functional!r}")
    if cutoff is not None and cutoff not in CUTOFF_TYPES:
        raise ChangeError(f"cutoff must be one of {', '.join(CUTOFF_TYPES)}, not {cutoff!r}")
    if cutoff in ("b", "c") and m_functional is None:
        raise ChangeError(
            f"cutoff {cutoff} needs the functional norm (m_functional and sd_functional)"
        )
    # Jacobson & Truax recommend c when a functional norm is available.
    if cutoff is None and m_functional is not None:
        return "c"
    return cutoff


def _paired_table(
    frame: pd.DataFrame,
    id_column: str,
    time_column: str,
    score_column: str,
    pre_key: str,
    post_key: str,
    by: str | None,
) -> pd.DataFrame:
    """One row per id (all ids of the table) with columns pre, post (NaN when missing), group."""
    ids = _id_keys(frame[id_column])
    times = frame[time_column].map(normalise_time)
    scores = _numeric_scores(frame[score_column])
    wide = pd.DataFrame(index=pd.Index(pd.unique(ids), name="id"))
    for column, key in (("pre", pre_key), ("post", post_key)):
        at_time = times.to_numpy() == key
        if not at_time.any():
            raise ChangeError(
                f"no rows with time {key} in column {time_column!r} "
                f"(time points: {', '.join(sorted(set(times.dropna())))})"
            )
        _refuse_duplicates(ids[at_time], key)
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


def _id_keys(column: pd.Series) -> pd.Index:
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


def _numeric_scores(column: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(column):
        values = column.astype("float64")
        bad = np.zeros(len(column), dtype=bool)
    else:
        stripped = column.astype("string").str.strip()
        text = stripped.where(stripped != "")
        values = pd.to_numeric(text, errors="coerce").astype("float64")
        bad = (values.isna() & text.notna()).to_numpy(dtype=bool)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ChangeError(
            f"row {row + 2}: the score column {column.name!r} must be a number, "
            f"not {column.iloc[row]!r}"
        )
    infinite = np.isinf(values.to_numpy(dtype=np.float64, na_value=np.nan))
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        raise ChangeError(f"row {row + 2}: the score column {column.name!r} is not finite")
    return values


def _refuse_duplicates(ids: pd.Index, key: str) -> None:
    duplicated = ids[ids.duplicated()]
    if len(duplicated):
        raise ChangeError(f"id {duplicated[0]} has several rows at time {key}")


def _optional_float(value: float | None) -> float | None:
    return None if value is None else float(value)
