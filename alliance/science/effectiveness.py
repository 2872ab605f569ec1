"""Aggregate effectiveness over episodes (domain brief section 5), overall and by group.

``effectiveness(frame, by="therapist_id")`` takes an administrations table and returns a plain,
JSON-serialisable dict (NaN becomes None) with an ``overall`` entry and one entry per group. Every
field is documented in docs/effectiveness.md. Everything is computed with vectorized pandas
group-bys over episodes (no Python loop per episode), so a million administrations take about a
second.

Conventions: proportions are 0-1 with Wilson 95% intervals; means get t-based 95% intervals; the
pre-post effect size gets a delta-method interval; correlations a Fisher-z interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from alliance.science.change.base import combine
from alliance.science.instruments import get_instrument
from alliance.science.instruments.model import in_clinical_range, is_reliable_change
from alliance.science.intervals import (
    Z_95,
    effect_size_interval,
    fisher_interval,
    mean_interval,
    wilson_interval,
)
from alliance.science.table import (
    CodedRows,
    episode_outcomes,
    episode_outcomes_of,
    first_per_episode,
    index_rows,
    score_runs,
    scored_rows,
    text_equals,
)

# Defined once elsewhere and still importable from here, where the web app, the benchmarks and
# docs/effectiveness.md look for them: the per-episode table and the interval helpers.
episode_table = episode_outcomes
__all__ = [
    "EffectivenessError",
    "Reference",
    "TargetModel",
    "Z_95",
    "effect_size_interval",
    "effectiveness",
    "episode_table",
    "fisher_interval",
    "fit_reference",
    "pre_post",
    "wilson_interval",
]

PERIODS = {"quarter": "Q", "month": "M", "year": "Y"}
# The alliance scale given at the end of the same sessions as each outcome scale.
ALLIANCE_FOR_OUTCOME = {"ors": "srs", "cors": "csrs", "ycors": "ycsrs"}
EARLY_ALLIANCE_SESSIONS = 2

FloatArray = npt.NDArray[np.float64]


class EffectivenessError(ValueError):
    """Bad input to ``effectiveness``: the message names what is wrong."""


class TargetModel(Protocol):
    """What ``effectiveness`` needs from an ETR model (``alliance.science.etr.EtrModel`` fits)."""

    def target_scores(self, intakes: npt.ArrayLike, sessions: npt.ArrayLike) -> FloatArray: ...

    def negative_scores(self, intakes: npt.ArrayLike, sessions: npt.ArrayLike) -> FloatArray: ...


@dataclass(frozen=True)
class Reference:
    """Severity-adjustment reference: change = intercept + slope * intake over clinical-range
    intakes of a reference sample, its mean change, SD of intake and size.

    ``es`` (mean_change / sd_intake) is the reference effect size that relative ES subtracts.
    """

    intercept: float
    slope: float
    mean_change: float
    sd_intake: float
    n: int

    @property
    def es(self) -> float:
        return self.mean_change / self.sd_intake

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "es": self.es}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reference:
        try:
            reference = cls(
                intercept=float(data["intercept"]),
                slope=float(data["slope"]),
                mean_change=float(data["mean_change"]),
                sd_intake=float(data["sd_intake"]),
                n=int(data["n"]),
            )
        except KeyError as error:
            raise EffectivenessError(f"reference parameters lack {error.args[0]!r}") from error
        if not reference.sd_intake > 0:
            raise EffectivenessError("reference sd_intake must be greater than 0")
        return reference


# Below this many used episodes every estimate of a summary carries a visible warning
# ("small_sample"): intervals are wide and one client moves a percentage by 10 points or more.
SMALL_SAMPLE = 10

# The summary fields that need the instrument's reliable-change index (None without one).
NEEDS_RELIABLE_CHANGE = ("reliable_improvement", "reliable_deterioration", "clinically_significant")


def effectiveness(
    frame: pd.DataFrame,
    by: str | None = None,
    instrument: str = "ors",
    rater: str = "client",
    model: TargetModel | None = None,
    reference: pd.DataFrame | Reference | Mapping[str, Any] | None = None,
    *,
    alliance_instrument: str | None = None,
    episodes: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Effectiveness of the episodes in ``frame`` overall and per value of ``by``.

    ``by``: any episode-level column (therapist_id, team_id, age_band, ...) or a period of the
    first session date (``quarter``, ``month``, ``year``). ``model``: an ETR model for the target
    (default ``alliance.science.etr.default_model(instrument)``). ``reference``: the sample the
    severity adjustment is fitted on: None (``frame`` itself), an administrations table, a
    ``Reference`` or its dict. ``episodes``: ``episode_table(frame, instrument, rater)`` when the
    caller has already built it (e.g. for a distribution of change), so it is not built twice; it
    must come from this ``frame``, ``instrument`` and ``rater``.
    """
    definition = get_instrument(instrument)
    alliance_code = alliance_instrument or ALLIANCE_FOR_OUTCOME.get(definition.code)
    rows = index_rows(frame)
    if episodes is None:
        episodes, position = episode_outcomes_of(rows, definition.code, rater)
    else:
        position = _positions(rows, episodes, definition.code, rater)
    if episodes.empty:
        raise EffectivenessError(f"no {definition.code} scores rated by {rater!r} in the table")
    labels = _group_labels(rows, episodes, position, by)
    target_model = model if model is not None else _default_model(definition.code)
    flags = _episode_flags(episodes, definition, target_model)
    ref, reference_note = _reference_or_note(reference, flags, definition, rater)
    flags["saes"] = _severity_adjusted(flags, ref)
    alliance = _alliance_rows(rows, position, alliance_code, rater)
    collateral = _collateral_rows(rows, position, definition.code, rater)
    clients = pd.factorize(flags["client_id"])[0]
    overall = _summaries(
        flags, alliance, collateral, ref, clients, np.zeros(len(flags), np.int64), ["overall"]
    )
    groups: dict[str, dict[str, Any]] = {}
    if by is not None:
        codes, uniques = pd.factorize(labels, sort=True)
        groups = _summaries(
            flags, alliance, collateral, ref, clients, codes, [str(u) for u in uniques]
        )
    if definition.reliable_change is None:
        for summary in (overall["overall"], *groups.values()):
            summary.update(dict.fromkeys(NEEDS_RELIABLE_CHANGE))
    if reference is None:
        # Against the sample itself the overall relative ES is 0 by construction: no comparison
        # group, so it is not shown. Groups are still compared with the whole sample.
        overall["overall"]["relative_es"] = None
    return _json_safe(
        {
            "instrument": definition.code,
            "rater": rater,
            "by": by,
            "reliable_change": definition.reliable_change,
            "cutoffs": {
                band.name: band.clinical_cutoff
                for band in definition.age_bands
                if band.clinical_cutoff is not None
            },
            "alliance_instrument": alliance_code,
            "alliance_cutoff": _alliance_cutoff(alliance_code),
            "model": _model_description(target_model),
            "reference": ref.to_dict(),
            "reference_note": reference_note,
            "overall": overall["overall"],
            "groups": groups,
        }
    )


def pre_post(frame: pd.DataFrame, instrument: str = "ors", rater: str = "client") -> dict[str, Any]:
    """Only the pre-post numbers (no alliance, target or grouping): the benchmark's core.

    Same definitions as ``effectiveness``: used episodes have >= 2 scores; ES = mean change / SD
    of intake; reliable improvement = change beyond the instrument's reliable-change points.
    """
    definition = get_instrument(instrument)
    if definition.reliable_change is None:
        raise EffectivenessError(f"instrument {instrument!r} has no reliable_change")
    rows = index_rows(frame)
    total = rows.column("total").astype(float, copy=False)
    session = rows.column("session_number").astype(np.int64, copy=False)
    picked, starts, ends = score_runs(rows, definition.code, rater, total, session)
    used = (ends - starts + 1) >= 2
    intake, final = total[picked[starts[used]]], total[picked[ends[used]]]
    gain = definition.direction * (final - intake)
    sd_intake = float(np.std(intake, ddof=1)) if len(intake) > 1 else math.nan
    change_mean = float(np.mean(final - intake)) if len(intake) else math.nan
    improved = int(is_reliable_change(gain, float(definition.reliable_change)).sum())
    n_used = len(intake)
    return _json_safe(
        {
            "n_used": n_used,
            "change_mean": change_mean,
            "intake_sd": sd_intake,
            "es": change_mean / sd_intake if sd_intake > 0 else math.nan,
            "reliable_improvement": _proportion(improved, n_used),
        }
    )


# ----- severity adjustment ------------------------------------------------------------------
def fit_reference(episodes: pd.DataFrame) -> Reference:
    """Regress change on intake over used episodes with a clinical-range intake.

    ``episodes`` needs ``intake``, ``change``, ``used`` and ``clinical_intake`` columns (as made by
    the flags step of ``effectiveness``).
    """
    sample = episodes.loc[episodes["used"] & episodes["clinical_intake"]]
    if len(sample) < 3:
        raise EffectivenessError(
            f"the reference sample has {len(sample)} used episode(s) with a clinical-range intake; "
            "severity adjustment needs at least 3"
        )
    intake = sample["intake"].to_numpy(dtype=float)
    change = sample["change"].to_numpy(dtype=float)
    sd_intake = float(np.std(intake, ddof=1))
    if not sd_intake > 0:
        raise EffectivenessError("the reference intakes do not vary; cannot adjust for severity")
    slope, intercept = np.polyfit(intake, change, 1)
    return Reference(
        intercept=float(intercept),
        slope=float(slope),
        mean_change=float(change.mean()),
        sd_intake=sd_intake,
        n=len(sample),
    )


def _severity_adjusted(flags: pd.DataFrame, ref: Reference) -> pd.Series:
    """Per-episode SAES for used clinical-range episodes (NaN otherwise)."""
    change, intake = flags["change"].to_numpy(float), flags["intake"].to_numpy(float)
    saes = (ref.mean_change + (change - (ref.intercept + ref.slope * intake))) / ref.sd_intake
    keep = flags["used"].to_numpy(bool) & flags["clinical_intake"].to_numpy(bool)
    return pd.Series(np.where(keep, saes, np.nan), index=flags.index)


# ----- per-episode flags --------------------------------------------------------------------
def _group_labels(
    rows: CodedRows, episodes: pd.DataFrame, position: npt.NDArray[np.int64], by: str | None
) -> pd.Series:
    if by is None:
        return pd.Series("overall", index=episodes.index, dtype="string")
    if by in PERIODS:
        return _periods(episodes["first_date"], PERIODS[by])
    if by in episodes.columns and by not in {"intake", "final", "change", "n_scores"}:
        labels = episodes[by]
    elif by in rows.frame.columns:
        values = first_per_episode(rows, position, by, len(episodes))
        labels = pd.Series(values, index=episodes.index)
    else:
        choices = sorted(
            {c for c in rows.frame.columns if c not in {"total", "session_number", "session_date"}}
            | set(PERIODS)
        )
        raise EffectivenessError(
            f"unknown grouping column {by!r} (choose from: {', '.join(choices)})"
        )
    return labels.astype("string").fillna("(missing)")


def _periods(dates: pd.Series, period: str) -> pd.Series:
    """``dates.dt.to_period(period).astype("string")``, each distinct date converted once (a
    few thousand dates for 100,000 episodes)."""
    values = dates.to_numpy()
    if values.dtype.kind != "M" or bool(np.isnat(values).any()):
        return dates.dt.to_period(period).astype("string")
    distinct, inverse = np.unique(values, return_inverse=True)
    labels = pd.Series(distinct).dt.to_period(period).astype("string").array
    return pd.Series(labels.take(inverse), index=dates.index, name=dates.name)


def _episode_flags(
    episodes: pd.DataFrame, definition: Any, model: TargetModel | None
) -> pd.DataFrame:
    flags = episodes.copy()
    flags["used"] = flags["n_scores"] >= 2
    flags["cutoff"] = _cutoffs(flags, definition)
    higher = bool(definition.higher_is_better)
    direction = float(definition.direction)
    cutoffs = flags["cutoff"].to_numpy(float)
    flags["clinical_intake"] = in_clinical_range(flags["intake"].to_numpy(float), cutoffs, higher)
    # Without a reliable-change index (YCORS) no episode is categorised; the summaries then say
    # None for the fields in NEEDS_RELIABLE_CHANGE rather than a misleading 0%.
    if definition.reliable_change is None:
        category = np.full(len(flags), "unchanged", dtype=object)
    else:
        category = _categories(flags, float(definition.reliable_change), direction, cutoffs)
    flags["improved"] = np.isin(category, ("recovered", "improved")) & flags["used"]
    flags["deteriorated"] = np.isin(category, ("deteriorated", "harmed")) & flags["used"]
    flags["recovered"] = (category == "recovered") & flags["used"]
    flags["closed"] = flags["ending"].notna() if "ending" in flags else False
    # A numpy bool column (the text comparison gives a pyarrow one, slow to read back).
    flags["unilateral"] = (
        (flags["ending"] == "unilateral").fillna(False).to_numpy(bool)
        if "ending" in flags
        else False
    )
    if model is None:
        flags["reached_target"] = np.nan
        flags["colour"] = None
        return flags
    sessions = (flags["last_session"] - flags["first_session"] + 1).to_numpy()
    target = np.asarray(model.target_scores(flags["intake"].to_numpy(), sessions), dtype=float)
    negative = np.asarray(model.negative_scores(flags["intake"].to_numpy(), sessions), dtype=float)
    final = direction * flags["final"].to_numpy()
    reached = flags["used"].to_numpy() & (final >= direction * target)
    flags["reached_target"] = reached
    colour = np.select(
        [~flags["used"].to_numpy(), reached, final >= direction * negative],
        ["grey", "green", "orange"],
        default="red",
    )
    # Kept as Python strings (object), not converted to a text column and back for the counts.
    flags["colour"] = pd.Series(colour.astype(object), index=flags.index, dtype=object)
    return flags


def _cutoffs(episodes: pd.DataFrame, definition: Any) -> pd.Series:
    """Each episode's clinical cutoff from its age band (the instrument default without one)."""
    default = definition.clinical_cutoff(None)
    if "age_band" not in episodes:
        return pd.Series(np.nan if default is None else default, index=episodes.index, dtype=float)
    # Each distinct band looked up once, then spread over the episodes by its code; code -1 (no
    # band) picks the appended instrument default.
    codes, bands = pd.factorize(episodes["age_band"].astype("string"))
    by_band = [definition.clinical_cutoff(str(band)) for band in bands]
    lookup = np.array([np.nan if c is None else c for c in [*by_band, default]], dtype=float)
    return pd.Series(lookup[codes], index=episodes.index, dtype=float)


def _categories(
    flags: pd.DataFrame, threshold: float, direction: float, cutoffs: npt.NDArray[np.float64]
) -> npt.NDArray[np.str_]:
    """Per-episode change categories by the instrument's own rules (``is_reliable_change``,
    ``in_clinical_range``): recovered = reliably better, clinical at intake and not at the end."""
    pre, post = flags["intake"].to_numpy(float), flags["final"].to_numpy(float)
    gain = direction * (post - pre)
    higher = direction > 0
    clinical_pre = in_clinical_range(pre, cutoffs, higher)
    clinical_post = in_clinical_range(post, cutoffs, higher)
    better = is_reliable_change(gain, threshold)
    worse = is_reliable_change(-gain, threshold)
    return combine(better, worse, clinical_pre, ~clinical_post)


def _default_model(instrument: str) -> TargetModel | None:
    from alliance.science.etr import EtrError, default_model

    try:
        return default_model(instrument)
    except EtrError:
        return None  # no shipped model for this instrument: target fields become None


def _model_description(model: TargetModel | None) -> dict[str, Any] | None:
    if model is None:
        return None
    return {
        "name": getattr(model, "name", type(model).__name__),
        "provisional": getattr(model, "provisional", None),
    }


def _alliance_cutoff(code: str | None) -> float | None:
    if code is None:
        return None
    return get_instrument(code).alliance_cutoff


# ----- administrations joined to episodes ---------------------------------------------------
def _positions(
    rows: CodedRows, episodes: pd.DataFrame, instrument: str, rater: str
) -> npt.NDArray[np.int64]:
    """For each episode code of ``rows``, its position in a given episode table (-1: absent).

    Cheap checks that the table was made from these rows: every episode of the table is among
    them, and the table counts as many scores as the rows hold.
    """
    total = rows.column("total").astype(float, copy=False)
    scored = scored_rows(rows, instrument, rater, total)
    position = _positions_in_run_order(rows, episodes, instrument, rater, total)
    if position is None:
        position = np.asarray(
            # The table's index holds the ids as text, as episode_outcomes_of makes it.
            pd.Index(episodes.index).get_indexer(pd.Index(rows.episode_ids, dtype="string")),
            dtype=np.int64,
        )
    if (
        not episodes.index.is_unique
        or int((position >= 0).sum()) != len(episodes)
        or int(episodes["n_scores"].sum()) != int(scored.sum())
    ):
        raise EffectivenessError(
            f"episodes is not the {instrument} ({rater}) episode table of this administrations table"
        )
    return position


def _positions_in_run_order(
    rows: CodedRows,
    episodes: pd.DataFrame,
    instrument: str,
    rater: str,
    total: npt.NDArray[np.float64],
) -> npt.NDArray[np.int64] | None:
    """The positions ``episode_outcomes_of`` gives when the table holds exactly its episodes in
    its order (the usual case: the table was made from these rows); None otherwise.

    Comparing the ids once is cheaper than looking every id up as text."""
    session = rows.column("session_number").astype(np.int64)
    picked, starts, _ = score_runs(rows, instrument, rater, total, session)
    code = rows.episode[picked][starts]
    if len(code) != len(episodes):
        return None
    ids = episodes.index.to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]
    if not np.array_equal(ids, rows.episode_ids[code]):
        return None
    position = np.full(len(rows.episode_ids), -1, dtype=np.int64)
    position[code] = np.arange(len(code))
    return position


def _reference_or_note(
    reference: pd.DataFrame | Reference | Mapping[str, Any] | None,
    flags: pd.DataFrame,
    definition: Any,
    rater: str,
) -> tuple[Reference, str | None]:
    """The severity-adjustment reference, or (when fitted on too little of the sample itself) an
    empty one and the reason: SAES is then "not enough data", and the other indices still stand."""
    try:
        return _reference(reference, flags, definition, rater), None
    except EffectivenessError as error:
        if reference is not None:
            raise
        return Reference(math.nan, math.nan, math.nan, math.nan, 0), str(error)


def _reference(
    reference: pd.DataFrame | Reference | Mapping[str, Any] | None,
    flags: pd.DataFrame,
    definition: Any,
    rater: str,
) -> Reference:
    if isinstance(reference, Reference):
        return reference
    if isinstance(reference, Mapping):
        return Reference.from_dict(reference)
    if reference is None:
        return fit_reference(flags)
    episodes, _ = episode_outcomes_of(index_rows(reference), definition.code, rater)
    return fit_reference(_episode_flags(episodes, definition, None))


def _alliance_rows(
    rows: CodedRows, position: npt.NDArray[np.int64], code: str | None, rater: str
) -> pd.DataFrame:
    """Alliance scores of the analysed episodes: episode position, total, early/first, below."""
    columns = ["episode", "total", "early", "first", "below"]
    if code is None:
        return pd.DataFrame(columns=columns)
    total = rows.column("total").astype(float, copy=False)
    mask = (
        text_equals(rows.frame["instrument"], code)
        & (rows.rater.codes == rows.rater.code_of(rater))
        & ~np.isnan(total)
        & (rows.episode >= 0)
    )
    episode = position[rows.episode[mask]]
    known = episode >= 0
    episode = episode[known]
    session = rows.column("session_number").astype(np.int64, copy=False)[mask][known]
    total = total[mask][known]
    first_session = np.full(len(position), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_session, episode, session)
    index = session - first_session[episode]
    cutoff = _alliance_cutoff(code)
    return pd.DataFrame(
        {
            "episode": episode,
            "total": total,
            "early": index < EARLY_ALLIANCE_SESSIONS,
            "first": index == 0,
            "below": total < cutoff if cutoff is not None else np.zeros(len(total), bool),
        }
    )


def _collateral_rows(
    rows: CodedRows, position: npt.NDArray[np.int64], code: str, rater: str
) -> pd.DataFrame:
    """One row per (episode position, collateral rater) of the outcome instrument."""
    raters = rows.rater
    mask = text_equals(rows.frame["instrument"], code) & (raters.codes >= 0)
    mask &= (raters.codes != raters.code_of(rater)) & (rows.episode >= 0)
    episode = position[rows.episode[mask]]
    known = episode >= 0
    pairs = pd.DataFrame(
        {"episode": episode[known], "rater": raters.values[raters.codes[mask][known]]}
    )
    return pairs.drop_duplicates()


# ----- summaries ----------------------------------------------------------------------------
def _summaries(
    flags: pd.DataFrame,
    alliance: pd.DataFrame,
    collateral: pd.DataFrame,
    ref: Reference,
    clients: npt.NDArray[np.integer],
    codes: npt.NDArray[np.integer],
    labels: list[str],
) -> dict[str, dict[str, Any]]:
    """The summary dict of every group (``codes``: each episode's group, indexing ``labels``;
    ``clients``: each episode's client as a code)."""
    episode_stats = _episode_aggregates(flags, clients, codes)
    alliance_stats = _alliance_aggregates(flags, alliance, codes, len(labels))
    by_band = _age_band_aggregates(flags, clients, codes)
    raters = _collateral_counts(collateral, codes)
    result: dict[str, dict[str, Any]] = {}
    for code, row in episode_stats.items():
        summary = _episode_summary(row, ref)
        summary["by_age_band"] = by_band.get(int(code), {})
        summary["collateral_raters"] = raters.get(int(code), {})
        summary["alliance"] = alliance_stats.get(int(code))
        result[labels[int(code)]] = summary
    return result


def _episode_aggregates(
    flags: pd.DataFrame, clients: npt.NDArray[np.integer], codes: npt.NDArray[np.integer]
) -> dict[int, dict[str, Any]]:
    """Per group (by code, in code order; groups without an episode left out): the counts, the
    count, mean and SD of each value, and the number of distinct clients."""
    used = flags["used"].to_numpy(bool)
    closed = flags["closed"].to_numpy(bool)
    unilateral = flags["unilateral"].to_numpy(bool)
    colour = flags["colour"].to_numpy(dtype=object)
    has_colour = pd.notna(colour)
    green = colour == "green"
    reached = flags["reached_target"].to_numpy(dtype=float) == 1.0
    clinical = flags["clinical_intake"].to_numpy(bool)
    # Open episodes are not finished; their sessions and days would bias the means down.
    finished = closed if _has_endings(flags) else np.ones(len(flags), bool)
    counts = {
        "episode": np.ones(len(flags), bool),
        "used": used,
        "improved": flags["improved"].to_numpy(bool),
        "deteriorated": flags["deteriorated"].to_numpy(bool),
        "csc_base": used & clinical,
        "recovered": flags["recovered"].to_numpy(bool) & clinical,
        "target_base": used & has_colour,
        "reached": reached & has_colour,
        "closed": closed,
        "dropout": closed & unilateral & ~reached,
        "has_colour": has_colour,
        "green": green,
        "orange": colour == "orange",
        "red": colour == "red",
        "grey": colour == "grey",
        "closed_green": closed & green,
        "closed_not_green": closed & has_colour & ~green,
        "unilateral_green": closed & unilateral & green,
        "unilateral_not_green": closed & unilateral & has_colour & ~green,
    }
    values = {
        "intake_used": _where(flags["intake"], used),
        "change_used": _where(flags["change"], used),
        "saes": flags["saes"].to_numpy(float),
        "sessions_closed": _where(flags["n_scores"], finished),
        "days_closed": _where(flags["days"], finished),
    }
    # Codes from 0 (a missing label's code -1 is a group of its own, as in a pandas group-by).
    shift = min(int(codes.min()), 0) if len(codes) else 0
    codes = np.asarray(codes, dtype=np.int64) - shift
    size = int(codes.max()) + 1 if len(codes) else 0
    groups = np.flatnonzero(np.bincount(codes, minlength=size))
    # Counts are exact integers whichever way they are summed: numpy's bincount.
    stats: dict[int, dict[str, Any]] = {int(g): {} for g in groups}
    for name, flag in counts.items():
        totals = np.bincount(codes[flag], minlength=size)[groups]
        for g, total in zip(groups.tolist(), totals.tolist(), strict=True):
            stats[g][name] = total
    # Means and SDs by pandas' grouped mean and std, as before (their summation order, hence
    # the last bits of the figures, is pandas'); counts of known values by bincount.
    grouped = pd.DataFrame(values).groupby(codes, sort=True)
    means, sds = grouped.mean(), grouped.std()
    for name, column in values.items():
        known = np.bincount(codes[~np.isnan(column)], minlength=size)[groups]
        triples = zip(
            groups.tolist(),
            known.tolist(),
            means[name].to_numpy(float).tolist(),
            sds[name].to_numpy(float).tolist(),
            strict=True,
        )
        for g, n, mean, sd in triples:
            stats[g].update({f"{name}_count": n, f"{name}_mean": mean, f"{name}_std": sd})
    # Distinct clients per group: distinct (group, client) pairs, counted per group.
    client_codes = np.asarray(clients, dtype=np.int64) + 1  # a missing client (-1) counts too
    base = int(client_codes.max(initial=0)) + 1
    n_clients = np.bincount(pd.unique(codes * base + client_codes) // base, minlength=size)
    for g in groups.tolist():
        stats[g]["clients"] = int(n_clients[g])
    return {g + shift: row for g, row in stats.items()}


def _where(column: pd.Series, keep: npt.NDArray[np.bool_]) -> FloatArray:
    """``column.where(keep).to_numpy(float)`` in numpy: pandas' ``where`` on the episode table
    rebuilds the hash table of its text index each time (~10 ms for 100,000 episodes)."""
    return np.where(keep, column.to_numpy(float), np.nan)


def _has_endings(flags: pd.DataFrame) -> bool:
    return "ending" in flags and bool(flags["ending"].notna().any())


def _age_band_aggregates(
    flags: pd.DataFrame, clients: npt.NDArray[np.integer], codes: npt.NDArray[np.integer]
) -> dict[int, dict[str, Any]]:
    if "age_band" not in flags:
        return {}
    # Bands as codes in sorted order, so the groups come out in the same (sorted) order.
    band_codes, bands = pd.factorize(
        flags["age_band"].astype("string").fillna("(missing)"), sort=True
    )
    # One key per (group, band), in (group, band) order; counts and distinct clients by numpy,
    # the mean intake by pandas' grouped mean (its summation, as before).
    n_bands = max(len(bands), 1)
    shift = min(int(codes.min()), 0) if len(codes) else 0  # as in _episode_aggregates
    key = (np.asarray(codes, dtype=np.int64) - shift) * n_bands + band_codes.astype(np.int64)
    intake = pd.Series(flags["intake"].to_numpy(float)).groupby(key, sort=True)
    means = intake.mean()
    keys = means.index.to_numpy(dtype=np.int64)
    size = int(keys.max()) + 1 if len(keys) else 0
    episodes = np.bincount(key, minlength=size)
    client_codes = np.asarray(clients, dtype=np.int64) + 1  # a missing client (-1) counts too
    base = int(client_codes.max(initial=0)) + 1
    n_clients = np.bincount(pd.unique(key * base + client_codes) // base, minlength=size)
    result: dict[int, dict[str, Any]] = {}
    for k, mean in zip(keys.tolist(), means.to_numpy(float).tolist(), strict=True):
        group, band = divmod(k, n_bands)
        result.setdefault(group + shift, {})[str(bands[band])] = {
            "n_clients": int(n_clients[k]),
            "n_episodes": int(episodes[k]),
            "intake_mean": float(mean),
        }
    return result


def _collateral_counts(
    collateral: pd.DataFrame, codes: npt.NDArray[np.integer]
) -> dict[int, dict[str, int]]:
    if collateral.empty:
        return {}
    counts = (
        pd.DataFrame(
            {"group": codes[collateral["episode"].to_numpy(int)], "rater": collateral["rater"]}
        )
        .groupby(["group", "rater"], sort=True)
        .size()
    )
    result: dict[int, dict[str, int]] = {}
    pairs: dict[Any, int] = counts.to_dict()
    for (group, rater), n in pairs.items():
        result.setdefault(int(group), {})[str(rater)] = int(n)
    return result


def _alliance_aggregates(
    flags: pd.DataFrame,
    alliance: pd.DataFrame,
    codes: npt.NDArray[np.integer],
    n_groups: int,
) -> dict[int, dict[str, Any]]:
    if alliance.empty:
        return {}
    episode = alliance["episode"].to_numpy(int)
    total = alliance["total"].to_numpy(float)
    group = codes[episode]
    n = np.bincount(group, minlength=n_groups)
    sums = np.bincount(group, weights=total, minlength=n_groups)
    squares = np.bincount(group, weights=total**2, minlength=n_groups)
    below = np.bincount(group, weights=alliance["below"].to_numpy(float), minlength=n_groups)
    first = alliance["first"].to_numpy(bool)
    intake_n = np.bincount(group[first], minlength=n_groups)
    intake_sum = np.bincount(group[first], weights=total[first], minlength=n_groups)
    r, r_n = _early_alliance_correlation(flags, alliance, codes, n_groups)
    result: dict[int, dict[str, Any]] = {}
    for g in np.flatnonzero(n):
        mean = sums[g] / n[g]
        variance = (squares[g] - n[g] * mean**2) / (n[g] - 1) if n[g] > 1 else math.nan
        low, high = fisher_interval(r[g], int(r_n[g]))
        result[int(g)] = {
            "n_sessions": int(n[g]),
            "mean": mean,
            "sd": math.sqrt(max(variance, 0.0)) if math.isfinite(variance) else math.nan,
            "intake_mean": intake_sum[g] / intake_n[g] if intake_n[g] else math.nan,
            "below_cutoff": _proportion(int(below[g]), int(n[g])),
            "early_outcome_r": {"value": r[g], "low": low, "high": high, "n": int(r_n[g])},
        }
    return result


def _early_alliance_correlation(
    flags: pd.DataFrame,
    alliance: pd.DataFrame,
    codes: npt.NDArray[np.integer],
    n_groups: int,
) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """Per group Pearson r of early alliance (mean of the first two SRS) with change, and its n.

    Computed from per-group sums of centred values, so no loop over episodes or groups.
    """
    early = alliance.loc[alliance["early"].to_numpy(bool)]
    episode = early["episode"].to_numpy(int)
    count = np.bincount(episode, minlength=len(flags))
    total = np.bincount(episode, weights=early["total"].to_numpy(float), minlength=len(flags))
    paired = (count > 0) & flags["used"].to_numpy(bool)
    x = total[paired] / count[paired]
    y = flags["change"].to_numpy(float)[paired]
    group = codes[paired]
    x, y = x - x.mean() if len(x) else x, y - y.mean() if len(y) else y
    n = np.bincount(group, minlength=n_groups)
    sx, sy = (np.bincount(group, weights=v, minlength=n_groups) for v in (x, y))
    sxx, syy, sxy = (
        np.bincount(group, weights=v, minlength=n_groups) for v in (x * x, y * y, x * y)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        covariance = n * sxy - sx * sy
        r = covariance / np.sqrt((n * sxx - sx**2) * (n * syy - sy**2))
    r = np.where(n >= 3, r, np.nan)
    return r, n.astype(np.int64)


def _episode_summary(row: Mapping[str, Any], ref: Reference) -> dict[str, Any]:
    n_used = int(row["used"])
    es, es_low, es_high = effect_size_interval(
        row["change_used_mean"], row["change_used_std"], row["intake_used_std"], n_used
    )
    saes = _mean_interval(row, "saes")
    has_target = int(row["has_colour"]) > 0
    return {
        "n_episodes": int(row["episode"]),
        "n_clients": int(row["clients"]),
        "n_used": n_used,
        "intake_mean": row["intake_used_mean"],
        "intake_sd": row["intake_used_std"],
        "change_mean": row["change_used_mean"],
        "change_sd": row["change_used_std"],
        "es": {"value": es, "low": es_low, "high": es_high, "n": n_used},
        "saes": saes,
        "relative_es": saes["value"] - ref.es,
        "reliable_improvement": _proportion(int(row["improved"]), n_used),
        "reliable_deterioration": _proportion(int(row["deteriorated"]), n_used),
        "clinically_significant": _proportion(int(row["recovered"]), int(row["csc_base"])),
        "reached_target": (
            _proportion(int(row["reached"]), int(row["target_base"])) if has_target else None
        ),
        "dropout": _proportion(int(row["dropout"]), int(row["closed"])) if has_target else None,
        "last_colour": (
            {c: int(row[c]) for c in ("green", "orange", "red", "grey")} if has_target else None
        ),
        "last_green": (
            _proportion(int(row["green"]), int(row["has_colour"])) if has_target else None
        ),
        "unilateral_by_last_colour": (
            {
                "green": _proportion(int(row["unilateral_green"]), int(row["closed_green"])),
                "not_green": _proportion(
                    int(row["unilateral_not_green"]), int(row["closed_not_green"])
                ),
            }
            if has_target
            else None
        ),
        "n_closed": int(row["closed"]),
        # A closed episode has at least one session and zero or more days: the t interval of a
        # small, skewed sample can reach below that, which would show an impossible count.
        "sessions": _mean_interval(row, "sessions_closed", floor=1.0),
        "days": _mean_interval(row, "days_closed", floor=0.0),
        "small_sample": n_used < SMALL_SAMPLE,
    }


def _proportion(count: int, n: int) -> dict[str, Any]:
    low, high = wilson_interval(count, n)
    return {
        "count": count,
        "n": n,
        "proportion": count / n if n else math.nan,
        "low": low,
        "high": high,
    }


def _mean_interval(
    row: Mapping[str, Any], column: str, floor: float | None = None
) -> dict[str, Any]:
    n = int(row[f"{column}_count"])
    mean, sd = float(row[f"{column}_mean"]), float(row[f"{column}_std"])
    low, high = mean_interval(mean, sd, n)
    if floor is not None and math.isfinite(low):
        low = max(low, floor)
    return {"value": mean if n else math.nan, "low": low, "high": high, "n": n}


def _json_safe(value: Any) -> Any:
    """Plain Python types with NaN/NA -> None, so that json.dumps(strict) accepts the result."""
    # The exact built-in types first: a by-therapist result has tens of thousands of values.
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is dict:
        return {str(k): _json_safe(v) for k, v in value.items()}
    if kind is int or kind is bool or kind is str or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if value is None or value is pd.NA:
        return None
    return value
