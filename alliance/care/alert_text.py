"""An alert's reason in the page's language.

The science core writes each reason in English and hands its figures and choices apart
(``Alert.facts``); this says the same sentence through the catalog, with the active language's
numbers and the instrument file's item labels. English pages show the core's own sentence, and so
does every page for an alert stored before facts were kept (or of a code not known here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _

from alliance.science.instruments import get_instrument

from . import svg


def _figure(facts: Mapping[str, Any], name: str, decimals: int | None = None) -> str:
    return svg.figure(facts[name], facts.get("decimals", 1) if decimals is None else decimals)


def _items(facts: Mapping[str, Any], label: Callable[[str, str], str]) -> str:
    return ", ".join(
        _("%(item)s rated %(value)s") % {"item": label(key, english), "value": svg.figure(value, 1)}
        for key, english, value in facts.get("items") or []
    )


def _not_on_track(facts: Mapping[str, Any], label: Callable[[str, str], str]) -> str:
    state = _("Below target") if facts["higher_is_better"] else _("Worse than target")
    if facts["run"] > 1:
        when = _("for %(run)s sessions in a row") % {"run": facts["run"]}
    else:
        when = _("at session %(session)s") % {"session": facts["session"]}
    if facts["last_chance"]:
        advice = _(
            "last-chance conversation: consider changing approach, therapist or level of care"
        )
    else:
        advice = _("time for a checkpoint conversation")
    return _("%(state)s %(when)s (%(scale)s %(score)s, target %(target)s): %(advice)s") % {
        "state": state,
        "when": when,
        "scale": facts["scale"],
        "score": _figure(facts, "score"),
        "target": _figure(facts, "target", 1),
        "advice": advice,
    }


def _deterioration(facts: Mapping[str, Any], label: Callable[[str, str], str]) -> str:
    values = {
        "points": _figure(facts, "change"),
        "rc": svg.figure(facts["rc"]),
        "scale": facts["scale"],
    }
    if facts["higher_is_better"]:
        return (
            _("Reliable deterioration: %(points)s points below intake (reliable change is %(rc)s)")
            % values
        )
    return (
        _(
            "Reliable deterioration: %(points)s points above intake (higher is worse on "
            "%(scale)s) (reliable change is %(rc)s)"
        )
        % values
    )


def _no_change(facts: Mapping[str, Any], label: Callable[[str, str], str]) -> str:
    change = _figure(facts, "change")
    if facts["change"] >= 0 and not change.startswith("+"):
        change = f"+{change}"
    return _(
        "No reliable change by session %(session)s: %(change)s points since intake (reliable "
        "change is %(rc)s): talk with the client about what could be different"
    ) % {"session": facts["session"], "change": change, "rc": svg.figure(facts["rc"])}


def _intake(facts: Mapping[str, Any], label: Callable[[str, str], str]) -> str:
    values = {"score": _figure(facts, "score"), "cutoff": svg.figure(facts["cutoff"])}
    if not facts["higher_is_better"]:
        return (
            _(
                "Intake %(score)s is below the caseness threshold of %(cutoff)s: consider whether "
                "ongoing treatment is indicated, or focus on maintaining what is going well"
            )
            % values
        )
    if facts["above"]:
        return (
            _(
                "Intake %(score)s is above the clinical cutoff of %(cutoff)s: consider whether "
                "ongoing treatment is indicated, or focus on maintaining what is going well"
            )
            % values
        )
    return (
        _(
            "Intake %(score)s is at the clinical cutoff of %(cutoff)s: consider whether ongoing "
            "treatment is indicated, or focus on maintaining what is going well"
        )
        % values
    )


def _alliance_below(facts: Mapping[str, Any], label: Callable[[str, str], str]) -> str:
    text = _("%(scale)s %(score)s is below %(cutoff)s: ask what could be better about today's session") % {
        "scale": facts["scale"],
        "score": _figure(facts, "score"),
        "cutoff": svg.figure(facts["cutoff"]),
    }  # fmt: skip
    if facts.get("items"):
        text += _(" (%(items)s, below %(cutoff)s)") % {
            "items": _items(facts, label),
            "cutoff": svg.figure(facts["item_cutoff"]),
        }
    return text


def _alliance_drop(facts: Mapping[str, Any], label: Callable[[str, str], str]) -> str:
    return _(
        "%(scale)s dropped %(drop)s points since last session (%(previous)s to %(score)s): ask "
        "what was different"
    ) % {
        "scale": facts["scale"],
        "drop": _figure(facts, "drop"),
        "previous": _figure(facts, "previous"),
        "score": _figure(facts, "score"),
    }


def _alliance_low_item(facts: Mapping[str, Any], label: Callable[[str, str], str]) -> str:
    return _("%(items)s (below %(cutoff)s): worth asking about") % {
        "items": _items(facts, label),
        "cutoff": svg.figure(facts["item_cutoff"]),
    }


SENTENCES: dict[str, Callable[[Mapping[str, Any], Callable[[str, str], str]], str]] = {
    "not_on_track": _not_on_track,
    "reliable_deterioration": _deterioration,
    "no_reliable_change": _no_change,
    "intake_not_clinical": _intake,
    "alliance_below_cutoff": _alliance_below,
    "alliance_drop": _alliance_drop,
    "alliance_low_item": _alliance_low_item,
}


def reason_in_language(
    code: str, facts: Mapping[str, Any], english: str, alliance_instrument: str | None = None
) -> str:
    """The reason of an alert with ``code`` and ``facts`` in the active language.

    ``english`` (the science core's sentence) is the answer for English, for missing facts and
    for a code or fact this module does not know. Item labels come from the alliance
    instrument's file in the active language.
    """
    language = translation.get_language() or "en"
    sentence = SENTENCES.get(code)
    if language.startswith("en") or sentence is None or not facts:
        return english

    def label(key: str, fallback: str) -> str:
        if not alliance_instrument:
            return fallback
        try:
            return get_instrument(alliance_instrument, language).item(key).label
        except (KeyError, LookupError, ValueError):
            return fallback

    try:
        return sentence(facts, label)
    except (KeyError, TypeError, ValueError):
        return english


def alert_reason(alert: Any) -> str:
    """A stored ``care.models.Alert``'s reason in the active language."""
    return reason_in_language(
        alert.code, alert.facts or {}, alert.reason, alert.episode.alliance_instrument
    )
