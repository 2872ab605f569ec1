"""Model rows as the API's JSON bodies (the schemas in ``schemas.py`` document them)."""

from __future__ import annotations

from collections.abc import Mapping

from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination

from alliance.care.feedback import EpisodeFeedback
from alliance.care.models import Administration, Client, Episode, Session

from .errors import jsonable
from .models import WebhookDelivery, WebhookEndpoint


def _fields(row, names: tuple[str, ...]) -> dict:
    return {name: getattr(row, name) for name in names}


def client_out(client: Client) -> dict:
    return {
        "id": client.public_id,
        "display_code": client.display_code,
        "name": client.name,
        "birth_year": client.birth_year,
        "age_band": client.age_band,
        "therapist": client.therapist.username,
        "team": client.team.name if client.team is not None else None,
        "language": client.language,
        "created_at": client.created_at,
    }


EPISODE_FIELDS = (
    "start_date",
    "end_date",
    "ending",
    "outcome_instrument",
    "alliance_instrument",
    "session_count",
    "last_session_date",
    "intake_total",
    "last_outcome_total",
    "zone",
    "last_alliance_total",
    "alliance_flag",
)


def episode_out(episode: Episode) -> dict:
    return {
        "id": episode.public_id,
        "client": episode.client.public_id,
        **_fields(episode, EPISODE_FIELDS),
    }


def session_out(session: Session) -> dict:
    return {
        "id": session.public_id,
        "episode": session.episode.public_id,
        "number": session.number,
        "date": session.date,
        "attendance": session.attendance,
        "kind": session.kind,
    }


def administration_out(administration: Administration) -> dict:
    return {
        "id": administration.public_id,
        "episode": administration.episode.public_id,
        "session": administration.session.public_id,
        "session_number": administration.session.number,
        "instrument": administration.instrument,
        "rater": administration.rater,
        "items": administration.items or {},
        "total": administration.total,
        "total_only": administration.total_only,
        "entry_mode": administration.entry_mode,
        "created_at": administration.created_at,
        "updated_at": administration.updated_at,
    }


def _colours(colours: Mapping[int, str]) -> list[dict]:
    return [{"session_number": n, "colour": c} for n, c in sorted(colours.items())]


def signals_out(episode: Episode, feedback: EpisodeFeedback, etr: dict | None) -> dict:
    signals = feedback.signals
    return {
        "episode": episode.public_id,
        "outcome": [[number, total] for number, total in feedback.outcome],
        "colours": _colours(signals.colours),
        "alliance_colours": _colours(signals.alliance_colours),
        "latest_colour": signals.latest_colour,
        "latest_alliance_colour": signals.latest_alliance_colour,
        "alerts": [
            {
                "code": a.code,
                "session_number": a.session_number,
                "severity": a.severity,
                "reason": str(a.reason),
            }
            for a in signals.alerts
        ],
        "etr": etr,
    }


def report_out(instrument: str, report) -> dict:
    return {
        "instrument": instrument,
        "by": report.by,
        "model": None
        if report.model is None
        else {
            "name": report.model.name,
            "provenance": report.model.provenance,
            "provisional": report.model.provisional,
        },
        "n_administrations": report.n_administrations,
        "result": jsonable(report.result) if report.result else None,
        "labels": {str(k): str(v) for k, v in report.labels.items()},
        "error": str(report.error) or None,
    }


def webhook_out(endpoint: WebhookEndpoint) -> dict:
    return {
        "id": endpoint.public_id,
        "url": endpoint.url,
        "events": endpoint.events,
        "active": endpoint.active,
        "created_at": endpoint.created_at,
    }


DELIVERY_FIELDS = (
    "event",
    "status",
    "attempts",
    "next_attempt_at",
    "last_status_code",
    "last_error",
    "created_at",
    "delivered_at",
)


def delivery_out(delivery: WebhookDelivery) -> dict:
    return _fields(delivery, DELIVERY_FIELDS) | {"id": delivery.public_id}


# Far beyond any list, and far below the database's 64-bit limit (an offset beyond it was a 500).
MAX_OFFSET = 1_000_000_000


class Mapped(LimitOffsetPagination):
    """Limit/offset pagination (default 50, at most 500) that serialises the page it returns."""

    class Input(Schema):
        limit: int = Field(50, ge=1, le=500, description="page size (default 50, at most 500)")
        offset: int = Field(
            0, ge=0, le=MAX_OFFSET, description=f"rows to skip (at most {MAX_OFFSET})"
        )

    def __init__(self, **kwargs):
        super().__init__(max_limit=500, **kwargs)

    def paginate_queryset(self, queryset, pagination, request, **params):
        page = super().paginate_queryset(queryset, pagination, request, **params)
        mapper = getattr(queryset, "api_mapper", None)
        if mapper is not None:
            page["items"] = [mapper(row) for row in page["items"]]
        return page


def mapped(queryset, mapper):
    """Mark a queryset to be serialised row by row with ``mapper`` once ``Mapped`` pages it."""
    queryset.api_mapper = mapper
    return queryset
