"""Session colours, alliance flags and episode alerts, each with a reason a therapist can read out.

Outcome colour (OpenFIT rules, domain brief section 4), for higher-is-better scales:

    only one score so far          grey
    score >= target                green
    target > score >= negative     orange
    score < negative               red

``target`` and ``negative`` come from the expected-treatment-response model for the client's
intake (the first score) at that session. For lower-is-better scales (PHQ-9, GAD-7) the rules are
mirrored: every comparison is made on ``direction * score`` (direction -1), so a score at or below
the target is green and a score above the negative line is red.

Alliance colour: total below the alliance cutoff -> red; a drop of at least ``drop_threshold``
since the previous alliance score -> red; no alliance score at that session -> grey; else green.
A low item (below ``item_cutoff``) adds an orange alert naming the item but leaves the colour;
when the total is below the cutoff too, the low items are named in that one red alert instead
(one conversation, one alert).

Safety: an instrument file may name a safety item (``[safety]``, PHQ-9 item 9); an answer above
its threshold raises a red ``safety_item`` alert at that session, whatever the total, carrying the
file's wording for the risk conversation. Such an alert is history from then on: a later score
does not make it go away (only a person acknowledging it does, outside the science core).

Alerts describe the episode as it stands now: outcome alerts refer to the latest outcome score,
alliance alerts to the latest alliance score. For the history, evaluate the episode up to each
session.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, Protocol

import numpy as np

from alliance.science.instruments import Instrument, get_instrument
from alliance.science.instruments.model import direction, in_clinical_range, is_reliable_change

Colour = Literal["grey", "green", "orange", "red"]
Severity = Literal["red", "orange", "info"]
COLOURS: tuple[Colour, ...] = ("grey", "green", "orange", "red")

# Model targets are fitted floats; a score of 25.0 against a target of 25.000000000001 is on target.
TOLERANCE = 1e-9


class ModelLike(Protocol):
    def predict(self, intake: float, sessions: Any) -> Any: ...


@dataclass(frozen=True)
class AllianceScore:
    session_number: int
    total: float
    items: Mapping[str, float] = field(default_factory=dict)
    # Items filled from a total (total / n) say nothing about a single item, so they are not flagged.
    total_only: bool = False


@dataclass(frozen=True)
class SafetyResponse:
    """One completed form by session, for the safety rule (any instrument, any rater)."""

    session_number: int
    instrument: Instrument | str
    items: Mapping[str, float] = field(default_factory=dict)


SAFETY_CODE = "safety_item"


@dataclass(frozen=True)
class Alert:
    """``reason`` is the English sentence; ``facts`` are its figures and choices as plain values
    (numbers unrounded, with the ``decimals`` to show), so a web layer can say the same sentence
    in another language."""

    code: str
    session_number: int
    severity: Severity
    reason: str
    facts: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class EpisodeSignals:
    colours: dict[int, Colour]
    alliance_colours: dict[int, Colour]
    alerts: list[Alert]

    @property
    def latest_colour(self) -> Colour:
        return self.colours[max(self.colours)] if self.colours else "grey"

    @property
    def latest_alliance_colour(self) -> Colour:
        return (
            self.alliance_colours[max(self.alliance_colours)] if self.alliance_colours else "grey"
        )


@dataclass(frozen=True)
class SignalConfig:
    """Every threshold the signals use; None switches a rule off.

    Defaults are the adult ORS/SRS values. Build one from instrument definitions with
    ``for_instruments`` and override any field there or with ``dataclasses.replace``.
    """

    outcome_name: str = "ORS"
    alliance_name: str = "SRS"
    higher_is_better: bool = True
    decimals: int = 1
    # The alliance scale's own precision (an SRS of 35.5 stays 35.5 beside a whole-number PHQ-9).
    alliance_decimals: int = 1
    clinical_cutoff: float | None = 25.0
    reliable_change: float | None = 5.0
    # PCOMS manual (L): checkpoint conversation at sessions 3-6, "last chance" at 6-9.
    off_track_from_session: int = 3
    last_chance_from_session: int = 6
    no_change_by_session: int | None = 6
    alliance_cutoff: float | None = 36.0
    item_cutoff: float | None = 9.0
    drop_threshold: float | None = 1.0
    item_labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("off_track_from_session", "last_chance_from_session", "no_change_by_session"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(
                    f"SignalConfig.{name} must be a whole session number, got {value!r}"
                )
            if value is not None and value < 1:
                raise ValueError(f"SignalConfig.{name} must be 1 or more, got {value}")
        for name in ("reliable_change", "drop_threshold"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"SignalConfig.{name} must be above 0, got {value!r}")

    @classmethod
    def for_instruments(
        cls,
        outcome: Instrument | str = "ors",
        alliance: Instrument | str | None = "srs",
        age_band: str | None = None,
        **overrides: Any,
    ) -> SignalConfig:
        """Thresholds from the instrument definitions, for ``age_band`` (adult when None)."""
        outcome = _instrument(outcome)
        alliance = _instrument(alliance) if alliance is not None else None
        if outcome.kind == "alliance":
            raise ValueError(f"{outcome.display_name} is an alliance scale, not an outcome scale")
        if alliance is not None and alliance.kind != "alliance":
            raise ValueError(f"{alliance.display_name} is not an alliance scale")
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown SignalConfig field(s): {', '.join(sorted(unknown))}")
        config = cls(
            outcome_name=outcome.display_name,
            alliance_name=alliance.display_name if alliance else "alliance",
            higher_is_better=outcome.higher_is_better,
            decimals=outcome.decimals,
            alliance_decimals=alliance.decimals if alliance else 1,
            clinical_cutoff=outcome.clinical_cutoff(age_band),
            reliable_change=outcome.reliable_change,
            alliance_cutoff=alliance.alliance_cutoff if alliance else None,
            item_cutoff=alliance.item_cutoff if alliance else None,
            drop_threshold=alliance.drop_threshold if alliance else None,
            item_labels={item.key: item.label for item in alliance.items} if alliance else {},
        )
        return replace(config, **overrides)

    @property
    def direction(self) -> int:
        return direction(self.higher_is_better)

    def points(self, value: float) -> str:
        return f"{value:.{self.decimals}f}"

    def alliance_points(self, value: float) -> str:
        return f"{value:.{self.alliance_decimals}f}"


# ---------------------------------------------------------------------------------------------
# Colours


def outcome_colour(
    score: float, target: float, negative: float, n_scores: int, *, higher_is_better: bool = True
) -> Colour:
    """The session colour of an outcome score (see the module docstring for the rules).

    Grey also when the model gives no target (NaN): no colour is better than a made-up one.
    """
    if n_scores <= 1 or math.isnan(target) or math.isnan(negative):
        return "grey"
    better = direction(higher_is_better)
    if better * (score - target) >= -TOLERANCE:
        return "green"
    if better * (score - negative) >= -TOLERANCE:
        return "orange"
    return "red"


def alliance_colour(
    total: float | None, previous: float | None, config: SignalConfig | None = None
) -> Colour:
    """Red below the cutoff or after a drop of at least the threshold; grey without a score."""
    config = config or SignalConfig()
    if total is None:
        return "grey"
    if _below_cutoff(total, config) or _dropped(total, previous, config):
        return "red"
    return "green"


# ---------------------------------------------------------------------------------------------
# The episode


def evaluate_episode(
    outcome: Iterable[tuple[int, float]],
    alliance: Iterable[AllianceScore] = (),
    *,
    model: ModelLike,
    instrument: Instrument | str = "ors",
    alliance_instrument: Instrument | str | None = "srs",
    age_band: str | None = None,
    config: SignalConfig | None = None,
    safety: Iterable[SafetyResponse] = (),
) -> EpisodeSignals:
    """Colours per session and the current alerts of one episode.

    ``outcome``: ``(session_number, total)`` pairs; the first (lowest session) is the intake.
    ``safety``: every form of the episode that may carry a safety item (see ``safety_alerts``).
    ``model.predict(intake, sessions)`` is called with sessions counted from the intake (the intake
    session is 1), as the ETR contract defines them. ``config`` wins over the instruments.
    """
    if config is None:
        config = SignalConfig.for_instruments(instrument, alliance_instrument, age_band)
    scores = _sorted_outcome(outcome)
    alliance_scores = _sorted_alliance(alliance)
    targets, negatives = _trajectory(model, scores)
    colours = _outcome_colours(scores, targets, negatives, config)
    alliance_colours = _alliance_colours(alliance_scores, [s for s, _ in scores], config)
    alerts = [
        *safety_alerts(safety),
        *_outcome_alerts(scores, colours, targets, config),
        *_alliance_alerts(alliance_scores, config),
    ]
    return EpisodeSignals(colours=colours, alliance_colours=alliance_colours, alerts=alerts)


def _sorted_outcome(outcome: Iterable[tuple[int, float]]) -> list[tuple[int, float]]:
    scores = [
        (_session(s, "outcome"), _total(t, f"outcome total at session {s}")) for s, t in outcome
    ]
    scores.sort()
    _check_unique([s for s, _ in scores], "outcome")
    return scores


def _sorted_alliance(alliance: Iterable[AllianceScore]) -> list[AllianceScore]:
    scores = []
    for score in alliance:
        _session(score.session_number, "alliance")
        _total(score.total, f"alliance total at session {score.session_number}")
        scores.append(score)
    scores.sort(key=lambda score: score.session_number)
    _check_unique([score.session_number for score in scores], "alliance")
    return scores


def _session(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{what} session numbers must be whole numbers from 1, got {value!r}")
    return int(value)


def _total(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{what} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return number


def _check_unique(sessions: Sequence[int], what: str) -> None:
    repeated = sorted({s for s in sessions if sessions.count(s) > 1})
    if repeated:
        raise ValueError(f"more than one {what} score for session {repeated[0]}")


def _trajectory(model: ModelLike, scores: list[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    if len(scores) < 2:
        # Nothing to compare yet: the model is not asked.
        return np.full(len(scores), np.nan), np.full(len(scores), np.nan)
    first_session, intake = scores[0]
    sessions = np.array([s - first_session + 1 for s, _ in scores])
    trajectory = model.predict(intake, sessions)
    targets = np.asarray(trajectory.target, dtype=float).reshape(-1)
    negatives = np.asarray(trajectory.negative, dtype=float).reshape(-1)
    if targets.shape != sessions.shape or negatives.shape != sessions.shape:
        raise ValueError(
            f"model.predict returned {targets.size} targets and {negatives.size} negative "
            f"scores for {sessions.size} sessions"
        )
    return targets, negatives


def _outcome_colours(
    scores: list[tuple[int, float]],
    targets: np.ndarray,
    negatives: np.ndarray,
    config: SignalConfig,
) -> dict[int, Colour]:
    return {
        session: outcome_colour(
            score,
            float(targets[i]),
            float(negatives[i]),
            n_scores=i + 1,
            higher_is_better=config.higher_is_better,
        )
        for i, (session, score) in enumerate(scores)
    }


def _alliance_colours(
    scores: list[AllianceScore], outcome_sessions: list[int], config: SignalConfig
) -> dict[int, Colour]:
    colours: dict[int, Colour] = dict.fromkeys(outcome_sessions, "grey")
    previous: float | None = None
    for score in scores:
        colours[score.session_number] = alliance_colour(score.total, previous, config)
        previous = score.total
    return dict(sorted(colours.items()))


# ---------------------------------------------------------------------------------------------
# Alerts


def _outcome_alerts(
    scores: list[tuple[int, float]],
    colours: dict[int, Colour],
    targets: np.ndarray,
    config: SignalConfig,
) -> list[Alert]:
    if not scores:
        return []
    alerts = [_intake_alert(scores[0], config)]
    if len(scores) >= 2:
        alerts += [
            _off_track_alert(scores, colours, float(targets[-1]), config),
            _deterioration_alert(scores, config),
            _no_change_alert(scores, config),
        ]
    return [alert for alert in alerts if alert is not None]


def _off_track_alert(
    scores: list[tuple[int, float]], colours: dict[int, Colour], target: float, config: SignalConfig
) -> Alert | None:
    session, score = scores[-1]
    colour = colours[session]
    if session < config.off_track_from_session or colour not in ("orange", "red"):
        return None
    run = _sessions_below_target(scores, colours)
    below = "Below target" if config.higher_is_better else "Worse than target"
    when = f"for the {ordinal(run)} session in a row" if run > 1 else f"at session {session}"
    numbers = f"({config.outcome_name} {config.points(score)}, target {target:.1f})"
    if session >= config.last_chance_from_session:
        advice = "last-chance conversation: consider changing approach, therapist or level of care"
    else:
        advice = "time for a checkpoint conversation"
    return Alert(
        code="not_on_track",
        session_number=session,
        severity="red" if colour == "red" else "orange",
        reason=f"{below} {when} {numbers}: {advice}",
        facts={
            "higher_is_better": config.higher_is_better,
            "run": run,
            "session": session,
            "scale": config.outcome_name,
            "score": score,
            "target": target,
            "decimals": config.decimals,
            "last_chance": session >= config.last_chance_from_session,
        },
    )


def _sessions_below_target(scores: list[tuple[int, float]], colours: dict[int, Colour]) -> int:
    run = 0
    for session, _ in reversed(scores):
        if colours[session] not in ("orange", "red"):
            break
        run += 1
    return run


def _deterioration_alert(scores: list[tuple[int, float]], config: SignalConfig) -> Alert | None:
    rc = config.reliable_change
    (_, intake), (session, latest) = scores[0], scores[-1]
    worsening = -config.direction * (latest - intake)
    if rc is None or not is_reliable_change(worsening, rc):
        return None
    if config.higher_is_better:
        how = f"{config.points(worsening)} points below intake"
    else:
        how = f"{config.points(worsening)} points above intake (higher is worse on {config.outcome_name})"
    return Alert(
        code="reliable_deterioration",
        session_number=session,
        severity="red",
        reason=f"Reliable deterioration: {how} (reliable change is {rc:g})",
        facts={
            "higher_is_better": config.higher_is_better,
            "change": worsening,
            "rc": rc,
            "scale": config.outcome_name,
            "decimals": config.decimals,
        },
    )


def _no_change_alert(scores: list[tuple[int, float]], config: SignalConfig) -> Alert | None:
    rc, by_session = config.reliable_change, config.no_change_by_session
    (_, intake), (session, latest) = scores[0], scores[-1]
    if rc is None or by_session is None or session < by_session:
        return None
    change = latest - intake
    if is_reliable_change(abs(change), rc):
        return None  # reliably better, or reliably worse (its own alert)
    return Alert(
        code="no_reliable_change",
        session_number=session,
        severity="orange",
        reason=(
            f"No reliable change by session {session}: {change:+.{config.decimals}f} points since "
            f"intake (reliable change is {rc:g}): talk with the client about what could be different"
        ),
        facts={"session": session, "change": change, "rc": rc, "decimals": config.decimals},
    )


def _intake_alert(intake_score: tuple[int, float], config: SignalConfig) -> Alert | None:
    cutoff = config.clinical_cutoff
    session, intake = intake_score
    if cutoff is None:
        return None
    clinical = bool(in_clinical_range(intake, cutoff, config.higher_is_better))
    if clinical:
        return None
    if config.higher_is_better:
        position = "above" if intake > cutoff else "at"
        where = f"{position} the clinical cutoff of {cutoff:g}"
    else:
        where = f"below the caseness threshold of {cutoff:g}"
    return Alert(
        code="intake_not_clinical",
        session_number=session,
        severity="info",
        reason=(
            f"Intake {config.points(intake)} is {where}: consider whether ongoing treatment is "
            "indicated, or focus on maintaining what is going well"
        ),
        facts={
            "higher_is_better": config.higher_is_better,
            "above": intake > cutoff,
            "score": intake,
            "cutoff": cutoff,
            "decimals": config.decimals,
        },
    )


def safety_alerts(responses: Iterable[SafetyResponse]) -> list[Alert]:
    """A red ``safety_item`` alert for each session where a safety item was answered above its
    threshold (PHQ-9 item 9 above 0), with the instrument file's wording for the conversation.

    Instruments without a ``[safety]`` rule, and forms without that item (a total on its own),
    raise nothing. One alert per session: the first form that raises it names it.
    """
    alerts: dict[int, Alert] = {}
    for response in responses:
        session = _session(response.session_number, "safety")
        instrument = _instrument(response.instrument)
        rule = instrument.safety
        if rule is None or session in alerts:
            continue
        value = response.items.get(rule.item)
        if value is None or not rule.raised_by(value):
            continue
        item = instrument.item(rule.item)
        answer = _answer_text(item, float(value))
        reason = f"{instrument.display_name}, {item.label}: {answer}. {rule.message}"
        alerts[session] = Alert(SAFETY_CODE, session, "red", reason)
    return [alerts[session] for session in sorted(alerts)]


def _answer_text(item: Any, value: float) -> str:
    index = round((value - item.min) / item.step)
    if item.choices and 0 <= index < len(item.choices):
        return f"{item.choices[index]} ({value:g})"
    return f"{value:g}"


# What needs attention first, for any list of alerts: safety, then red, then orange outcome
# alerts, then the alliance, then information.
PRIORITY_SAFETY, PRIORITY_RED, PRIORITY_ORANGE, PRIORITY_ALLIANCE, PRIORITY_INFO = range(5)


def alert_priority(code: str, severity: str) -> int:
    """The rank of an alert in an ordered list (0 first): see the PRIORITY_* constants."""
    if code == SAFETY_CODE:
        return PRIORITY_SAFETY
    if code.startswith("alliance_"):
        return PRIORITY_ALLIANCE
    return {"red": PRIORITY_RED, "orange": PRIORITY_ORANGE}.get(severity, PRIORITY_INFO)


def _alliance_alerts(scores: list[AllianceScore], config: SignalConfig) -> list[Alert]:
    if not scores:
        return []
    latest = scores[-1]
    previous = scores[-2].total if len(scores) >= 2 else None
    name, session = config.alliance_name, latest.session_number
    alerts: list[Alert] = []
    low_items = _low_items(latest, config)
    facts: dict[str, Any] = {
        "scale": name,
        "score": latest.total,
        "decimals": config.alliance_decimals,
        "cutoff": config.alliance_cutoff,
        "item_cutoff": config.item_cutoff,
        "items": _low_item_values(latest, config),
    }
    if _below_cutoff(latest.total, config):
        reason = (
            f"{name} {config.alliance_points(latest.total)} is below {config.alliance_cutoff:g}: "
            "ask what could be better about today's session"
        )
        if low_items:
            # The item rule says the same thing about the same session: one alert, not two.
            reason += f" ({low_items}, below {config.item_cutoff:g})"
            low_items = ""
        alerts.append(Alert("alliance_below_cutoff", session, "red", reason, facts))
        facts = {**facts, "items": []}
    if previous is not None and _dropped(latest.total, previous, config):
        reason = (
            f"{name} dropped {config.alliance_points(previous - latest.total)} points since last session "
            f"({config.alliance_points(previous)} to {config.alliance_points(latest.total)}): ask what was different"
        )
        drop = {"previous": previous, "drop": previous - latest.total}
        alerts.append(Alert("alliance_drop", session, "red", reason, {**facts, **drop}))
    if low_items:
        reason = f"{low_items} (below {config.item_cutoff:g}): worth asking about"
        alerts.append(Alert("alliance_low_item", session, "orange", reason, facts))
    return alerts


def _low_items(score: AllianceScore, config: SignalConfig) -> str:
    """The items below the item cutoff, read out ("Goals and Topics rated 7.2, ..."), or ""."""
    cutoff = config.item_cutoff
    if cutoff is None or score.total_only:
        return ""
    return ", ".join(
        f"{config.item_labels.get(key, key)} rated {value:.1f}"
        for key, value in score.items.items()
        if value < cutoff - TOLERANCE
    )


def _low_item_values(score: AllianceScore, config: SignalConfig) -> list[list[Any]]:
    """[key, English label, value] of each item below the item cutoff (as ``_low_items``)."""
    cutoff = config.item_cutoff
    if cutoff is None or score.total_only:
        return []
    return [
        [key, config.item_labels.get(key, key), value]
        for key, value in score.items.items()
        if value < cutoff - TOLERANCE
    ]


def _below_cutoff(total: float, config: SignalConfig) -> bool:
    return config.alliance_cutoff is not None and total < config.alliance_cutoff - TOLERANCE


def _dropped(total: float, previous: float | None, config: SignalConfig) -> bool:
    threshold = config.drop_threshold
    return (
        previous is not None and threshold is not None and previous - total >= threshold - TOLERANCE
    )


def _instrument(instrument: Instrument | str) -> Instrument:
    return get_instrument(instrument) if isinstance(instrument, str) else instrument


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 102nd, 111th."""
    if n % 100 in (11, 12, 13):
        return f"{n}th"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
