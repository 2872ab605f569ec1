"""The rows a token may reach, through ``alliance.care.visibility``: anything else is a 404."""

from __future__ import annotations

from django.http import Http404
from django.utils.translation import gettext as _

from alliance.care.feedback import instrument_for
from alliance.care.models import Administration, Client, Episode, Session
from alliance.care.visibility import visible_clients, visible_episodes
from alliance.science.instruments import Instrument, UnknownInstrumentError

from .auth import ApiError, actor, require_admin
from .models import WebhookEndpoint


def _one(queryset, public_id: str):
    found = queryset.filter(public_id=public_id).first()
    if found is None:
        raise Http404
    return found


def clients(request):
    return visible_clients(actor(request)).select_related("therapist", "team")


def client(request, public_id: str) -> Client:
    return _one(clients(request), public_id)


def episodes(request):
    return visible_episodes(actor(request)).select_related("client")


def episode(request, public_id: str) -> Episode:
    return _one(episodes(request), public_id)


def _of_visible_episodes(model, request):
    return model.objects.filter(
        agency_id=request.auth.agency_id,
        episode__in=visible_episodes(actor(request)).values("pk"),
    )


def sessions(request):
    return _of_visible_episodes(Session, request).select_related("episode")


def session(request, public_id: str) -> Session:
    return _one(sessions(request), public_id)


def administrations(request):
    return _of_visible_episodes(Administration, request).select_related("episode", "session")


def administration(request, public_id: str) -> Administration:
    return _one(administrations(request), public_id)


def webhook(request, public_id: str) -> WebhookEndpoint:
    """An endpoint of the token's agency (agency admins only)."""
    require_admin(request)
    return _one(WebhookEndpoint.objects.filter(agency_id=request.auth.agency_id), public_id)


def instrument(code: str) -> Instrument:
    try:
        return instrument_for(code)
    except UnknownInstrumentError:
        raise ApiError(
            422, "unknown_instrument", _("unknown instrument %(code)s") % {"code": repr(code)}
        ) from None
