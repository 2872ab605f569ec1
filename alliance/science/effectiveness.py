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
from functools import cached_property
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from alliance.science.change import categorize
from alliance.science.instruments import get_instrument
from alliance.science.table import EPISODE_COLUMNS

Z_95 = 1.959963984540054
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
    if definition.reliable_change is None:
        raise EffectivenessError(f"instrument {instrument!r} has no reliable_change")
    rows = _index_rows(frame)
    if episodes is None:
        episodes, position = _episode_table(rows, definition.code, rater)
    else:
        position = _positions(rows, episodes, definition.code, rater)
    if episodes.empty:
        raise EffectivenessError(f"no {definition.code} scores rated by {rater!r} in the table")
    labels = _group_labels(rows, episodes, position, by)
    target_model = model if model is not None else _default_model(definition.code)
    flags = _episode_flags(episodes, definition, target_model)
    ref = _reference(reference, flags, definition, rater)
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
    rows = _index_rows(frame)
    total = rows.column("total").astype(float)
    session = rows.column("session_number").astype(np.int64)
    picked, starts, ends = _score_runs(rows, definition.code, rater, total, session)
    used = (ends - starts + 1) >= 2
    intake, final = total[picked[starts[used]]], total[picked[ends[used]]]
    category = categorize(
        intake,
        final,
        float(definition.reliable_change),
        higher_is_better=bool(definition.higher_is_better),
    )
    sd_intake = float(np.std(intake, ddof=1)) if len(intake) > 1 else math.nan
    change_mean = float(np.mean(final - intake)) if len(intake) else math.nan
    improved = int(np.isin(category, ("recovered", "improved")).sum())
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


# ----- intervals ----------------------------------------------------------------------------
def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion; (nan, nan) when n is 0."""
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, not {successes} of {n}")
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    denominator = 1.0 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def fisher_interval(r: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """Fisher-z interval for a Pearson correlation; (nan, nan) when n <= 3 or r is undefined."""
    if n <= 3 or not math.isfinite(r) or abs(r) >= 1:
        return (math.nan, math.nan)
    centre = math.atanh(r)
    half = z / math.sqrt(n - 3)
    return (math.tanh(centre - half), math.tanh(centre + half))


def effect_size_interval(
    mean_change: float, sd_change: float, sd_intake: float, n: int, z: float = Z_95
) -> tuple[float, float, float]:
    """Pre-post ES = mean change / SD of intake and its delta-method interval.

    Var(ES) ~ SD_change^2 / (n SD_intake^2) + ES^2 / (2 (n - 1)): the sampling error of the mean
    change plus that of the SD in the denominator (Becker 1988's form for the standardized mean
    change, where SD_change^2 = 2 SD^2 (1 - r)).
    """
    if n < 2 or not sd_intake > 0:
        return (math.nan, math.nan, math.nan)
    es = mean_change / sd_intake
    se = math.sqrt(sd_change**2 / (n * sd_intake**2) + es**2 / (2 * (n - 1)))
    return (es, es - z * se, es + z * se)


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
    residual = flags["change"] - (ref.intercept + ref.slope * flags["intake"])
    saes = (ref.mean_change + residual) / ref.sd_intake
    return saes.where(flags["used"] & flags["clinical_intake"])


# ----- per-episode flags --------------------------------------------------------------------
def _group_labels(
    rows: _Rows, episodes: pd.DataFrame, position: npt.NDArray[np.int64], by: str | None
) -> pd.Series:
    if by is None:
        return pd.Series("overall", index=episodes.index, dtype="string")
    if by in PERIODS:
        return episodes["first_date"].dt.to_period(PERIODS[by]).astype("string")
    if by in episodes.columns and by not in {"intake", "final", "change", "n_scores"}:
        labels = episodes[by]
    elif by in rows.frame.columns:
        values = _first_per_episode(rows, position, by, len(episodes))
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


def _episode_flags(
    episodes: pd.DataFrame, definition: Any, model: TargetModel | None
) -> pd.DataFrame:
    flags = episodes.copy()
    flags["used"] = flags["n_scores"] >= 2
    flags["cutoff"] = _cutoffs(flags, definition)
    higher = bool(definition.higher_is_better)
    direction = 1.0 if higher else -1.0
    flags["clinical_intake"] = direction * (flags["intake"] - flags["cutoff"]) < 0
    category = _categories(flags, float(definition.reliable_change), higher)
    flags["improved"] = np.isin(category, ("recovered", "improved")) & flags["used"]
    flags["deteriorated"] = np.isin(category, ("deteriorated", "harmed")) & flags["used"]
    flags["recovered"] = (category == "recovered") & flags["used"]
    flags["closed"] = flags["ending"].notna() if "ending" in flags else False
    flags["unilateral"] = (
        (flags["ending"] == "unilateral").fillna(False) if "ending" in flags else False
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
    flags["colour"] = np.select(
        [~flags["used"].to_numpy(), reached, final >= direction * negative],
        ["grey", "green", "orange"],
        default="red",
    )
    return flags


def _cutoffs(episodes: pd.DataFrame, definition: Any) -> pd.Series:
    """Each episode's clinical cutoff from its age band (the instrument default without one)."""
    default = definition.clinical_cutoff(None)
    if "age_band" not in episodes:
        return pd.Series(np.nan if default is None else default, index=episodes.index, dtype=float)
    bands = episodes["age_band"].astype("string")
    mapping = {str(band): definition.clinical_cutoff(str(band)) for band in bands.dropna().unique()}
    cutoffs = bands.map(mapping).astype("Float64").astype(float)
    return cutoffs.where(bands.notna(), np.nan if default is None else default)


def _categories(flags: pd.DataFrame, threshold: float, higher: bool) -> npt.NDArray[np.str_]:
    """Jacobson-Truax categories per episode, one ``categorize`` call per distinct cutoff."""
    result = np.full(len(flags), "unchanged", dtype=object)
    pre, post = flags["intake"].to_numpy(float), flags["final"].to_numpy(float)
    cutoffs = flags["cutoff"].to_numpy(float)
    for cutoff in pd.unique(cutoffs):
        rows = np.isnan(cutoffs) if np.isnan(cutoff) else cutoffs == cutoff
        result[rows] = categorize(
            pre[rows],
            post[rows],
            threshold,
            higher_is_better=higher,
            cutoff=None if np.isnan(cutoff) else float(cutoff),
        )
    return result.astype(str)


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
@dataclass(frozen=True)
class _Rows:
    """The administrations with their episodes factorized once.

    Comparing and grouping text columns of a million rows is what costs time in pandas, so every
    later step works on these integer codes and object arrays instead.
    """

    frame: pd.DataFrame
    episode: npt.NDArray[np.int64]  # episode code of each row (-1 when missing)
    episode_ids: npt.NDArray[np.object_]

    @cached_property
    def rater(self) -> _Coded:
        return _coded(self.frame["rater"])

    @cached_property
    def first_row(self) -> npt.NDArray[np.int64]:
        """The first row of each episode code (rows without an episode excluded)."""
        first = np.full(len(self.episode_ids), len(self.episode), dtype=np.int64)
        with_episode = np.flatnonzero(self.episode >= 0)
        np.minimum.at(first, self.episode[with_episode], with_episode)
        return first

    def column(self, name: str) -> npt.NDArray[Any]:
        return self.frame[name].to_numpy()


@dataclass(frozen=True)
class _Coded:
    """A text column as integer codes (-1 when missing) into an object array of its values."""

    codes: npt.NDArray[np.intp]
    values: npt.NDArray[np.object_]

    def code_of(self, value: str) -> int:
        """The code of ``value`` (-2, matching no row, when it does not occur)."""
        found = np.flatnonzero(self.values == value)
        return int(found[0]) if len(found) else -2


def _coded(column: pd.Series) -> _Coded:
    # A categorical already holds the codes; anything else is factorized once (missing -> -1).
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = np.asarray(column.cat.codes.to_numpy(), dtype=np.intp)
        return _Coded(codes, np.asarray(column.cat.categories, dtype=object))
    codes, uniques = pd.factorize(_objects(column))
    return _Coded(np.asarray(codes, dtype=np.intp), np.asarray(uniques, dtype=object))


def _objects(column: pd.Series) -> npt.NDArray[np.object_]:
    """Text column as an object array with None for missing values.

    Comparing such arrays with a string is elementwise and cheap, and None compares unequal
    (pandas' NA would make ``==`` ambiguous); pd.isna on strings is the slow part otherwise.
    """
    values: npt.NDArray[np.object_] = column.to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]
    return values


def _index_rows(frame: pd.DataFrame) -> _Rows:
    # All rows, not only the analysed instruments': episode columns (ending, age band...) count
    # from any row of the episode, as in table.episode_outcomes.
    ids = frame["episode_id"]
    # A categorical column already holds the codes; object arrays factorize faster than strings.
    source = ids if isinstance(ids.dtype, pd.CategoricalDtype) else ids.to_numpy(dtype=object)
    episode, episode_ids = pd.factorize(source)
    return _Rows(
        frame=frame,
        episode=episode.astype(np.int64),
        episode_ids=np.asarray(episode_ids, dtype=object),
    )


def episode_table(
    frame: pd.DataFrame, instrument: str = "ors", rater: str = "client"
) -> pd.DataFrame:
    """``alliance.science.table.episode_outcomes`` computed on integer codes (about 4x faster).

    Same columns and values; the rows come in order of first appearance, not sorted by id. Pass
    it to ``effectiveness(frame, ..., episodes=table)`` to spare building it again there.
    """
    return _episode_table(_index_rows(frame), instrument, rater)[0]


def _positions(
    rows: _Rows, episodes: pd.DataFrame, instrument: str, rater: str
) -> npt.NDArray[np.int64]:
    """For each episode code of ``rows``, its position in a given episode table (-1: absent).

    Cheap checks that the table was made from these rows: every episode of the table is among
    them, and the table counts as many scores as the rows hold.
    """
    position = np.asarray(
        # The table's index holds the ids as text, as _episode_table makes it.
        pd.Index(episodes.index).get_indexer(pd.Index(rows.episode_ids, dtype="string")),
        dtype=np.int64,
    )
    scored = _scored(rows, instrument, rater, rows.column("total").astype(float))
    if (
        not episodes.index.is_unique
        or int((position >= 0).sum()) != len(episodes)
        or int(episodes["n_scores"].sum()) != int(scored.sum())
    ):
        raise EffectivenessError(
            f"episodes is not the {instrument} ({rater}) episode table of this administrations table"
        )
    return position


def _equals(column: pd.Series, value: str) -> npt.NDArray[np.bool_]:
    """Rows whose text value equals ``value``; on a categorical, one integer comparison."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        categories = column.cat.categories
        if value not in categories:
            return np.zeros(len(column), dtype=bool)
        return np.asarray(column.cat.codes.to_numpy() == categories.get_loc(value))
    return np.asarray(_objects(column) == value, dtype=bool)


def _scored(
    rows: _Rows, instrument: str, rater: str, total: npt.NDArray[np.float64]
) -> npt.NDArray[np.bool_]:
    """Rows of ``instrument`` rated by ``rater`` with a total, in an episode."""
    return (
        _equals(rows.frame["instrument"], instrument)
        & _equals(rows.frame["rater"], rater)
        & ~np.isnan(total)
        & (rows.episode >= 0)
    )


def _score_runs(
    rows: _Rows,
    instrument: str,
    rater: str,
    total: npt.NDArray[np.float64],
    session: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The scored rows ordered by episode then session, and where each episode's run starts/ends.

    Returns (picked row positions, run starts, run ends) with ends inclusive, indexing ``picked``.
    """
    picked = np.flatnonzero(_scored(rows, instrument, rater, total))
    # One int64 key (episode, session); a stable sort keeps the table's order for ties. Exports
    # are usually already in this order, and checking that is much cheaper than sorting.
    key = rows.episode[picked] * (int(session.max(initial=0)) + 1) + session[picked]
    if len(key) > 1 and bool(np.any(key[1:] < key[:-1])):
        picked = picked[np.argsort(key, kind="stable")]
    code = rows.episode[picked]
    if not len(code):
        return picked, code, code
    starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    ends = np.r_[starts[1:], len(code)] - 1
    return picked, starts, ends


def _episode_table(
    rows: _Rows, instrument: str, rater: str, episode_columns: bool = True
) -> tuple[pd.DataFrame, npt.NDArray[np.int64]]:
    """Per-episode intake and final, as ``alliance.science.table.episode_outcomes`` defines them.

    Same columns and values (tested against it); computed on integer codes so that a million rows
    take a fraction of a second. Also returns, for each episode code of ``rows``, the position of
    the episode in the result (-1 when it has no score).
    """
    total = rows.column("total").astype(float)
    session = rows.column("session_number").astype(np.int64)
    picked, starts, ends = _score_runs(rows, instrument, rater, total, session)
    code = rows.episode[picked]
    first, last = picked[starts], picked[ends]
    position = np.full(len(rows.episode_ids), -1, dtype=np.int64)
    position[code[starts]] = np.arange(len(starts))
    dates = rows.column("session_date")
    result = pd.DataFrame(
        {
            "client_id": rows.column("client_id")[first],
            "therapist_id": rows.column("therapist_id")[first],
            "intake": total[first],
            "final": total[last],
            "n_scores": (ends - starts + 1).astype(np.int64),
            "first_session": session[first],
            "last_session": session[last],
            "first_date": dates[first],
            "last_date": dates[last],
        },
        index=pd.Index(rows.episode_ids[code[starts]], name="episode_id", dtype="string"),
    )
    for name in ("client_id", "therapist_id"):
        result[name] = result[name].astype("string")
    result["change"] = result["final"] - result["intake"]
    result["days"] = (result["last_date"] - result["first_date"]).dt.days
    for name in EPISODE_COLUMNS if episode_columns else ():
        if name in rows.frame.columns:
            values = _first_per_episode(rows, position, name, len(result))
            result[name] = pd.array(values, dtype="string")
    return result, position


def _first_per_episode(
    rows: _Rows, position: npt.NDArray[np.int64], name: str, n_episodes: int
) -> npt.NDArray[np.object_]:
    """First non-missing value of column ``name`` among each episode's rows (None if none)."""
    column = _coded(rows.frame[name])
    codes = column.codes
    analysed = np.flatnonzero(position >= 0)  # episode codes that have a row in the result
    first = rows.first_row[analysed]
    result = np.full(n_episodes, None, dtype=object)
    found = codes[first] >= 0
    result[position[analysed[found]]] = column.values[codes[first[found]]]
    # Episodes whose first row lacks the value (e.g. an ending given on the last row only): the
    # first row that has it, searched among those episodes' rows alone.
    missing = np.zeros(len(position), dtype=bool)
    missing[analysed[~found]] = True
    if missing.any():
        in_missing = missing[np.maximum(rows.episode, 0)] & (rows.episode >= 0)
        candidates = np.flatnonzero(in_missing & (codes >= 0))
        if len(candidates):
            episode_codes, first_index = np.unique(rows.episode[candidates], return_index=True)
            result[position[episode_codes]] = column.values[codes[candidates[first_index]]]
    return result


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
    episodes, _ = _episode_table(_index_rows(reference), definition.code, rater)
    return fit_reference(_episode_flags(episodes, definition, None))


def _alliance_rows(
    rows: _Rows, position: npt.NDArray[np.int64], code: str | None, rater: str
) -> pd.DataFrame:
    """Alliance scores of the analysed episodes: episode position, total, early/first, below."""
    columns = ["episode", "total", "early", "first", "below"]
    if code is None:
        return pd.DataFrame(columns=columns)
    total = rows.column("total").astype(float)
    mask = (
        _equals(rows.frame["instrument"], code)
        & (rows.rater.codes == rows.rater.code_of(rater))
        & ~np.isnan(total)
        & (rows.episode >= 0)
    )
    episode = position[rows.episode[mask]]
    known = episode >= 0
    episode = episode[known]
    session = rows.column("session_number").astype(np.int64)[mask][known]
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
    rows: _Rows, position: npt.NDArray[np.int64], code: str, rater: str
) -> pd.DataFrame:
    """One row per (episode position, collateral rater) of the outcome instrument."""
    raters = rows.rater
    mask = _equals(rows.frame["instrument"], code) & (raters.codes >= 0)
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
    episode_stats: dict[Any, Any] = _episode_aggregates(flags, clients, codes).to_dict("index")
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
) -> pd.DataFrame:
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
        "intake_used": flags["intake"].where(used).to_numpy(float),
        "change_used": flags["change"].where(used).to_numpy(float),
        "saes": flags["saes"].to_numpy(float),
        "sessions_closed": flags["n_scores"].where(finished).to_numpy(float),
        "days_closed": flags["days"].where(finished).to_numpy(float),
    }
    data = pd.DataFrame({**{k: v.astype(np.int64) for k, v in counts.items()}, **values})
    grouped = data.groupby(codes, sort=True)
    sums = grouped[list(counts)].sum()
    moments = grouped[list(values)].agg(["count", "mean", "std"])
    # Flatten ("saes", "mean") to "saes_mean".
    moments.columns = pd.Index(["_".join(pair) for pair in moments.columns.to_flat_index()])
    n_clients = pd.Series(clients).groupby(codes).nunique().rename("clients")
    return pd.concat([sums, moments, n_clients], axis=1)


def _has_endings(flags: pd.DataFrame) -> bool:
    return "ending" in flags and bool(flags["ending"].notna().any())


def _age_band_aggregates(
    flags: pd.DataFrame, clients: npt.NDArray[np.integer], codes: npt.NDArray[np.integer]
) -> dict[int, dict[str, Any]]:
    if "age_band" not in flags:
        return {}
    bands = flags["age_band"].astype("string").fillna("(missing)").to_numpy(dtype=object)
    data = pd.DataFrame(
        {
            "group": codes,
            "band": bands,
            "client": clients,
            "intake": flags["intake"].to_numpy(float),
        }
    )
    agg = data.groupby(["group", "band"], sort=True).agg(
        clients=("client", "nunique"), episodes=("intake", "size"), intake_mean=("intake", "mean")
    )
    result: dict[int, dict[str, Any]] = {}
    rows: dict[Any, Any] = agg.to_dict("index")
    for (group, band), row in rows.items():
        result.setdefault(int(group), {})[str(band)] = {
            "n_clients": int(row["clients"]),
            "n_episodes": int(row["episodes"]),
            "intake_mean": float(row["intake_mean"]),
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
        "sessions": _mean_interval(row, "sessions_closed"),
        "days": _mean_interval(row, "days_closed"),
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


def _mean_interval(row: Mapping[str, Any], column: str) -> dict[str, Any]:
    n = int(row[f"{column}_count"])
    mean, sd = float(row[f"{column}_mean"]), float(row[f"{column}_std"])
    if n < 2:
        return {"value": mean if n else math.nan, "low": math.nan, "high": math.nan, "n": n}
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return {"value": mean, "low": mean - half, "high": mean + half, "n": n}


def _json_safe(value: Any) -> Any:
    """Plain Python types with NaN/NA -> None, so that json.dumps(strict) accepts the result."""
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
