"""Synthetic administrations for demos, tests and benchmarks.

``simulate(episodes, therapists, seed)`` returns a DataFrame in the administrations table format
(``alliance.science.table``): one row per administered ORS/CORS (start of session), SRS/CSRS (end
of session) and collateral ORS/CORS (a parent rating a child or adolescent). The numbers are made
up but follow the shape of published PCOMS data so that the statistics have something realistic to
chew on. Everything is vectorized with numpy (no Python loop per row or per episode) and the
result depends only on the arguments and the seed.

Data-generating process (all defaults live in ``SimulationParameters``; docs/effectiveness.md has
the same list):

* Therapists ``T0001``... are grouped in teams of ``therapists_per_team`` (``team01``...).
  Caseloads are unequal: each therapist's share of episodes is Gamma(``caseload_shape``).
* Each episode belongs to its own client (``C000001`` with episode ``E000001``...).
  Age band: ``age_band_shares`` (75% adult, 15% adolescent, 10% child). Children rate the CORS and
  CSRS; adolescents and adults the ORS and SRS.
* Intake: a true baseline ~ N(``intake_mean[band]``, sqrt(``intake_sd``^2 - ``session_noise_sd``^2))
  and an observed intake = baseline + session noise, so the observed intakes have SD ``intake_sd``
  (adult mean 19, SD 7: about 20% start at or above the cutoff 25) and later scores regress to the
  mean as in real data. Scores are clipped to 0-40.
* Recovery is log-shaped toward a ceiling: the expected score at session s is
  ``baseline + slope * log(s)`` with ``slope = gain_rate * (ceiling[band] - baseline)`` (so lower
  intakes gain more) ``+ therapist effect + client effect``; therapist effects on the slope
  ~ N(0, ``therapist_slope_sd``), client effects ~ N(0, ``client_slope_sd``). Observed score =
  expected + N(0, ``session_noise_sd``), clipped to 0-40. With the defaults therapists explain about
  5% of the variance of the final score after controlling for intake.
* Alliance: each client has a latent alliance level ~ N(``alliance_mean``, ``alliance_client_sd``)
  that is correlated (``alliance_slope_correlation``) with the client's slope effect; each session's
  SRS = level + N(0, ``alliance_session_sd``), capped at 40. With the defaults the mean SRS is about
  36.6, its SD about 2.9, ~38% of sessions fall below the alliance cutoff 36 (~19% are at 40), and
  the correlation of early SRS (sessions 1-2) with the change score is about .26.
* Episode length: min(Geometric(``length_p``), ``max_sessions``) sessions: 1 to 20, many short
  (mean about 4.8, ~20% single-session episodes).
* Dates: episodes start uniformly over ``years`` years from ``start``; sessions are ~weekly
  (``session_gap_days`` apart, ``long_gap_share`` of gaps twice as long, +-``gap_jitter_days``).
  Sessions after the end of the observation window are not observed.
* Endings: an episode whose last observed session falls in the final ``open_window_days`` days of
  the window is still open (ending empty; about 10% of episodes). A closed episode ends
  ``unilateral`` with probability logistic(``dropout_logit`` - ``dropout_progress_weight`` * slope
  z-score - ``dropout_alliance_weight`` * alliance z-score), otherwise ``planned``: poor progress and
  a weak alliance make drop-out more likely (about 23% of closed episodes are unilateral).
* Collateral raters: ``parent_share[band]`` of child and adolescent episodes also have a parent
  rating the outcome scale each session: the client's expected score + ``parent_offset`` + noise.
* Items: every total is split into four items of 0.0-10.0 with one decimal whose sum is the total
  (item profiles vary around total/4).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from alliance.science.instruments.age_bands import age_band

# The bands simulated (of instruments.age_bands; young children's forms have no ETR model yet).
AGE_BAND_ORDER: tuple[str, ...] = ("child", "adolescent", "adult")
OUTCOME_INSTRUMENT = {band: age_band(band).outcome_form for band in AGE_BAND_ORDER}
ALLIANCE_INSTRUMENT = {band: age_band(band).alliance_form for band in AGE_BAND_ORDER}
N_ITEMS = 4
TENTHS_PER_ITEM = 100  # an item is 0.0-10.0 in steps of 0.1
COLUMNS: tuple[str, ...] = (
    "client_id",
    "episode_id",
    "therapist_id",
    "team_id",
    "session_number",
    "session_date",
    "instrument",
    "rater",
    "total",
    "item_1",
    "item_2",
    "item_3",
    "item_4",
    "age_band",
    "ending",
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class SimulationParameters:
    """Every knob of the data-generating process (see the module docstring)."""

    age_band_shares: dict[str, float] = field(
        default_factory=lambda: {"child": 0.10, "adolescent": 0.15, "adult": 0.75}
    )
    intake_mean: dict[str, float] = field(
        default_factory=lambda: {"child": 24.0, "adolescent": 21.0, "adult": 19.0}
    )
    intake_sd: float = 7.0
    ceiling: dict[str, float] = field(
        default_factory=lambda: {"child": 38.0, "adolescent": 36.0, "adult": 34.0}
    )
    gain_rate: float = 0.2
    client_slope_sd: float = 1.5
    therapist_slope_sd: float = 0.75
    session_noise_sd: float = 3.0
    alliance_mean: float = 37.0
    alliance_client_sd: float = 3.0
    alliance_session_sd: float = 1.5
    alliance_slope_correlation: float = 0.65
    length_p: float = 0.2
    max_sessions: int = 20
    years: float = 3.0
    start: str = "2023-01-02"
    session_gap_days: int = 7
    long_gap_share: float = 0.25
    gap_jitter_days: int = 2
    open_window_days: int = 75
    dropout_logit: float = -1.45
    dropout_progress_weight: float = 0.6
    dropout_alliance_weight: float = 0.5
    parent_share: dict[str, float] = field(
        default_factory=lambda: {"child": 0.5, "adolescent": 0.25, "adult": 0.0}
    )
    parent_offset: float = -2.0
    parent_noise_sd: float = 3.0
    therapists_per_team: int = 10
    caseload_shape: float = 2.0
    # Therapist alliance ability (Baldwin, Wampold & Imel 2007): a therapist-level shift of every
    # SRS of the caseload, ~ N(0, therapist_alliance_sd), that also moves the outcome from the
    # second session on by alliance_outcome_between points per SRS point. The client's own
    # alliance deviation moves it by alliance_outcome_within points per SRS point. All 0 by
    # default, so the default data are what they were (no extra random draws are made).
    therapist_alliance_sd: float = 0.0
    alliance_outcome_between: float = 0.0
    alliance_outcome_within: float = 0.0


@dataclass(frozen=True)
class _Episodes:
    """Per-episode latent values (arrays of length n_episodes)."""

    therapist: IntArray
    band: IntArray
    baseline: FloatArray
    slope: FloatArray
    slope_z: FloatArray
    alliance: FloatArray
    alliance_z: FloatArray
    alliance_shift: FloatArray
    length: IntArray
    start_day: IntArray
    has_parent: npt.NDArray[np.bool_]


def simulate(
    episodes: int,
    therapists: int,
    seed: int = 0,
    parameters: SimulationParameters | None = None,
) -> pd.DataFrame:
    """Simulate ``episodes`` episodes spread over ``therapists`` therapists (deterministic per seed)."""
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be a whole number of 1 or more, not {episodes!r}")
    if isinstance(therapists, bool) or not isinstance(therapists, int) or therapists < 1:
        raise ValueError(f"therapists must be a whole number of 1 or more, not {therapists!r}")
    params = parameters or SimulationParameters()
    rng = np.random.default_rng(seed)
    latent = _draw_episodes(rng, episodes, therapists, params)
    sessions = _draw_sessions(rng, latent, params)
    return _administrations_frame(rng, latent, sessions, params)


def _draw_episodes(
    rng: np.random.Generator, n: int, therapists: int, params: SimulationParameters
) -> _Episodes:
    caseload = rng.gamma(params.caseload_shape, size=therapists)
    therapist = rng.choice(therapists, size=n, p=caseload / caseload.sum()).astype(np.int64)
    shares = np.array([params.age_band_shares[b] for b in AGE_BAND_ORDER], dtype=float)
    band = rng.choice(len(AGE_BAND_ORDER), size=n, p=shares / shares.sum()).astype(np.int64)
    mean = np.array([params.intake_mean[b] for b in AGE_BAND_ORDER])[band]
    # The observed intake adds session noise to the true baseline; keep its total SD at intake_sd.
    baseline_sd = np.sqrt(max(params.intake_sd**2 - params.session_noise_sd**2, 0.0))
    baseline = rng.normal(mean, baseline_sd)
    ceiling = np.array([params.ceiling[b] for b in AGE_BAND_ORDER])[band]
    therapist_effect = rng.normal(0.0, params.therapist_slope_sd, size=therapists)[therapist]
    client_effect = rng.normal(0.0, params.client_slope_sd, size=n)
    expected_gain = np.maximum(params.gain_rate * (ceiling - baseline), 0.0)
    slope = expected_gain + therapist_effect + client_effect
    slope_sd = np.hypot(params.therapist_slope_sd, params.client_slope_sd) or 1.0
    slope_z = (therapist_effect + client_effect) / slope_sd
    rho = params.alliance_slope_correlation
    alliance_z = rho * slope_z + np.sqrt(1.0 - rho**2) * rng.standard_normal(n)
    client_alliance = params.alliance_client_sd * alliance_z  # the client's deviation, SRS points
    alliance = params.alliance_mean + client_alliance
    alliance_shift = params.alliance_outcome_within * client_alliance
    if params.therapist_alliance_sd > 0:
        ability = rng.normal(0.0, params.therapist_alliance_sd, size=therapists)[therapist]
        alliance = alliance + ability
        # Drop-out follows the whole alliance, the therapist's part included.
        alliance_z = alliance_z + ability / (params.alliance_client_sd or 1.0)
        alliance_shift = alliance_shift + params.alliance_outcome_between * ability
    length = np.minimum(rng.geometric(params.length_p, size=n), params.max_sessions)
    window_days = int(round(params.years * 365.25))
    start_day = rng.integers(0, window_days, size=n)
    parent_share = np.array([params.parent_share.get(b, 0.0) for b in AGE_BAND_ORDER])[band]
    has_parent = rng.random(n) < parent_share
    return _Episodes(
        therapist=therapist,
        band=band,
        baseline=baseline,
        slope=slope,
        slope_z=slope_z,
        alliance=alliance,
        alliance_z=alliance_z,
        alliance_shift=alliance_shift,
        length=length.astype(np.int64),
        start_day=start_day.astype(np.int64),
        has_parent=has_parent,
    )


@dataclass(frozen=True)
class _Sessions:
    """One entry per observed session: its episode, number and day offset; plus episode endings."""

    episode: IntArray
    number: IntArray
    day: IntArray
    ending: npt.NDArray[np.object_]


def _draw_sessions(
    rng: np.random.Generator, latent: _Episodes, params: SimulationParameters
) -> _Sessions:
    n = len(latent.length)
    episode = np.repeat(np.arange(n), latent.length)
    first_row = np.cumsum(latent.length) - latent.length
    number = np.arange(len(episode)) - np.repeat(first_row, latent.length) + 1
    gap = np.where(
        rng.random(len(episode)) < params.long_gap_share,
        2 * params.session_gap_days,
        params.session_gap_days,
    ) + rng.integers(-params.gap_jitter_days, params.gap_jitter_days + 1, size=len(episode))
    gap[number == 1] = 0
    # Cumulative gaps within each episode: global cumsum minus the value at the episode's start.
    cumulative = np.cumsum(gap)
    offset = np.repeat(cumulative[first_row], latent.length)
    day = np.repeat(latent.start_day, latent.length) + cumulative - offset
    window_days = int(round(params.years * 365.25))
    observed = day < window_days
    episode, number, day = episode[observed], number[observed], day[observed]
    last_day = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last_day, episode, day)
    is_open = last_day >= window_days - params.open_window_days
    logit = (
        params.dropout_logit
        - params.dropout_progress_weight * latent.slope_z
        - params.dropout_alliance_weight * latent.alliance_z
    )
    unilateral = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    ending = np.where(unilateral, "unilateral", "planned").astype(object)
    ending[is_open] = None
    return _Sessions(episode=episode, number=number, day=day, ending=ending)


def _administrations_frame(
    rng: np.random.Generator,
    latent: _Episodes,
    sessions: _Sessions,
    params: SimulationParameters,
) -> pd.DataFrame:
    ep, number = sessions.episode, sessions.number
    expected = latent.baseline[ep] + latent.slope[ep] * np.log(number)
    expected = expected + np.where(number >= 2, latent.alliance_shift[ep], 0.0)
    outcome = expected + rng.normal(0.0, params.session_noise_sd, size=len(ep))
    alliance = latent.alliance[ep] + rng.normal(0.0, params.alliance_session_sd, size=len(ep))
    parent_rows = np.flatnonzero(latent.has_parent[ep])
    parent = (
        expected[parent_rows]
        + params.parent_offset
        + rng.normal(0.0, params.parent_noise_sd, size=len(parent_rows))
    )
    all_rows = np.concatenate([np.arange(len(ep)), np.arange(len(ep)), parent_rows])
    kind = np.concatenate(
        [
            np.zeros(len(ep), np.int8),
            np.ones(len(ep), np.int8),
            np.full(len(parent_rows), 2, np.int8),
        ]
    )
    totals = np.concatenate([outcome, alliance, parent])
    items = _split_into_items(rng, totals)
    row_episode = ep[all_rows]
    order = np.lexsort((kind, number[all_rows], row_episode))
    row_episode, kind, items = row_episode[order], kind[order], items[order]
    session_rows = all_rows[order]
    return _assemble(latent, sessions, params, row_episode, session_rows, kind, items)


def _split_into_items(rng: np.random.Generator, totals: FloatArray) -> IntArray:
    """Four items in tenths (0-100 each) summing to the total in tenths, clipped to 0-400."""
    tenths = np.clip(np.rint(totals * 10.0), 0, N_ITEMS * TENTHS_PER_ITEM)
    # Each item may deviate from total/4 by at most the slack that keeps every item within 0-100.
    slack = np.minimum(tenths, N_ITEMS * TENTHS_PER_ITEM - tenths) / N_ITEMS
    noise = rng.uniform(-0.5, 0.5, size=(len(tenths), N_ITEMS))
    noise -= noise.mean(axis=1, keepdims=True)
    shares = tenths[:, None] / N_ITEMS + 0.6 * slack[:, None] * noise
    # Rounding the running sum (not each item) keeps the sum exact and each item within 0-100.
    running = np.floor(np.cumsum(shares, axis=1) + 0.5)
    running[:, -1] = tenths
    items = np.diff(running, axis=1, prepend=0.0)
    return items.astype(np.int64)


def _assemble(
    latent: _Episodes,
    sessions: _Sessions,
    params: SimulationParameters,
    row_episode: IntArray,
    session_rows: IntArray,
    kind: npt.NDArray[np.int8],
    items: IntArray,
) -> pd.DataFrame:
    n = len(latent.length)
    width = max(6, len(str(n)))
    therapists = int(latent.therapist.max()) + 1 if n else 1
    client_ids = [f"C{i + 1:0{width}d}" for i in range(n)]
    episode_ids = [f"E{i + 1:0{width}d}" for i in range(n)]
    therapist_ids = [f"T{i + 1:04d}" for i in range(therapists)]
    n_teams = (therapists - 1) // params.therapists_per_team + 1
    team_ids = [f"team{i + 1:02d}" for i in range(n_teams)]
    band = latent.band[row_episode]
    instrument_index = np.where(kind == 1, 2 + (band == 0), (band == 0).astype(np.int64))
    start = np.datetime64(params.start, "D")
    columns: dict[str, object] = {
        "client_id": _codes(row_episode, client_ids),
        "episode_id": _codes(row_episode, episode_ids),
        "therapist_id": _codes(latent.therapist[row_episode], therapist_ids),
        "team_id": _codes(latent.therapist[row_episode] // params.therapists_per_team, team_ids),
        "session_number": sessions.number[session_rows].astype(np.int64),
        "session_date": pd.to_datetime(start + sessions.day[session_rows]),
        "instrument": _codes(instrument_index, ["ors", "cors", "srs", "csrs"]),
        "rater": _codes((kind == 2).astype(np.int64), ["client", "parent"]),
        "total": items.sum(axis=1) / 10.0,
    }
    for i in range(N_ITEMS):
        columns[f"item_{i + 1}"] = items[:, i] / 10.0
    columns["age_band"] = _codes(band, list(AGE_BAND_ORDER))
    columns["ending"] = pd.array(sessions.ending[row_episode], dtype="string")
    return pd.DataFrame(columns, columns=list(COLUMNS))


def _codes(codes: npt.NDArray[np.integer], labels: list[str]) -> pd.Series:
    """Text column built from integer codes (fast for a million rows)."""
    categorical = pd.Categorical.from_codes(codes, categories=pd.Index(labels))
    return pd.Series(categorical).astype("string")
