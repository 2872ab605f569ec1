"""API tokens in the app: create (the secret shown once), list with last use, revoke.

Anyone signed in manages their own personal tokens; an agency admin also creates the agency's
integration tokens and may revoke any token of the agency (someone left, a leak). A token of
another agency, or another person's token for a non-admin, is a 404.

The secret is never in a URL: the create form posts, the new token's secret waits in the
server-side session for exactly one display on the page the post redirects to.
"""

from __future__ import annotations

import secrets
import time

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_safe

from alliance.accounts.models import Role
from alliance.accounts.permissions import require_role, role_required
from alliance.accounts.sealing import seal, unseal
from alliance.api.models import ApiToken, Scope, TokenKind
from alliance.api.services import allowed_scopes, create_token, revoke_token
from alliance.care.services import ServiceError

# One display of a new secret: the session key it waits under, sealed (a copy of the session
# table shows no token), and for how long it waits for the redirect that shows it.
NEW_SECRET = "agency.new_api_token"
NEW_SECRET_WAITS_SECONDS = 600
# Lifetimes offered in the form (days); the command line may also create tokens without expiry.
EXPIRY_DAYS = (7, 30, 90, 365)
DEFAULT_EXPIRY = 90
KIND_LABELS = {
    TokenKind.PERSONAL: gettext_lazy("My own token (acts as me)"),
    TokenKind.INTEGRATION: gettext_lazy("Agency integration (acts for the agency, admin reach)"),
}
SCOPE_LABELS = {
    Scope.READ: gettext_lazy("Read only"),
    Scope.WRITE: gettext_lazy("Read and write"),
}


def _kinds(user) -> list[str]:
    return [kind for kind in TokenKind.values if allowed_scopes(user, kind)]


def _tokens_for(user):
    """The tokens a user manages: their own; an admin, every token of the agency."""
    membership = require_role(user)
    tokens = ApiToken.objects.filter(agency=membership.agency).select_related("user")
    if membership.role != Role.ADMIN:
        tokens = tokens.filter(user=user)
    return tokens


@require_safe
@role_required()
def token_list(request: HttpRequest) -> HttpResponse:
    tokens = list(_tokens_for(request.user).order_by("revoked_at", "-created_at"))
    return render(
        request,
        "agency/tokens.html",
        {
            "active": [token for token in tokens if token.is_active],
            "inactive": [token for token in tokens if not token.is_active][:50],
        },
    )


def _form_context(request: HttpRequest, values: dict, error: str = "") -> dict:
    kinds = _kinds(request.user)
    return {
        "values": values,
        "error": error,
        "kinds": [(kind, KIND_LABELS[TokenKind(kind)]) for kind in kinds],
        "scopes": [(scope, SCOPE_LABELS[Scope(scope)]) for scope in Scope.values],
        "expiry_days": EXPIRY_DAYS,
    }


@require_http_methods(["GET", "POST"])
@role_required()
def token_new(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        values = {
            "kind": TokenKind.PERSONAL,
            "scope": Scope.READ,
            "expires_days": str(DEFAULT_EXPIRY),
            "form_key": secrets.token_urlsafe(16),
        }
        return render(request, "agency/token_new.html", _form_context(request, values))
    values = {
        key: request.POST.get(key, "").strip()
        for key in ("name", "kind", "scope", "expires_days", "form_key")
    }
    error = ""
    if not values["name"]:
        error = _("Give the token a name, e.g. the system that will use it.")
    elif len(values["name"]) > 100:
        error = _("The name is too long (100 characters at most).")
    elif values["kind"] not in _kinds(request.user):
        error = _("Choose what kind of token this is.")
    elif values["scope"] not in allowed_scopes(request.user, values["kind"]):
        error = _("Choose what the token may do.")
    elif values["expires_days"] not in {str(days) for days in EXPIRY_DAYS}:
        error = _("Choose when the token expires.")
    elif not values["form_key"] or len(values["form_key"]) > 64:
        error = _("The form has expired: please fill it in again.")
        values["form_key"] = secrets.token_urlsafe(16)
    if not error:
        try:
            new = create_token(
                request.user,
                scope=values["scope"],
                expires_days=int(values["expires_days"]),
                kind=values["kind"],
                name=values["name"],
                actor=request.user,
                form_key=values["form_key"],
            )
        except ServiceError as failure:
            error = str(failure)
        else:
            if not new.secret:  # the same form again: nothing new, the secret was shown
                messages.info(request, _("This token was already created."))
                return redirect("agency:tokens")
            request.session[NEW_SECRET] = {
                "prefix": new.token.prefix,
                "sealed": seal(new.secret),
                "until": int(time.time()) + NEW_SECRET_WAITS_SECONDS,
            }
            return redirect("agency:token_created")
    return render(
        request, "agency/token_new.html", _form_context(request, values, error), status=400
    )


@require_safe
@role_required()
def token_created(request: HttpRequest) -> HttpResponse:
    """The new token's secret, once: taken out of the session as it is shown."""
    shown = request.session.pop(NEW_SECRET, None)
    if not shown or "sealed" not in shown:
        return redirect("agency:tokens")
    if time.time() > shown["until"]:
        messages.warning(
            request,
            _("The new token is no longer shown (after 10 minutes): revoke it and create another."),
        )
        return redirect("agency:tokens")
    token = _tokens_for(request.user).filter(prefix=shown["prefix"]).first()
    if token is None:
        return redirect("agency:tokens")
    secret = unseal(shown["sealed"])
    response = render(request, "agency/token_created.html", {"token": token, "secret": secret})
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@role_required()
def token_revoke(request: HttpRequest, prefix: str) -> HttpResponse:
    token = _tokens_for(request.user).filter(prefix=prefix).first()
    if token is None:
        raise Http404("No such token")
    if request.method == "POST":
        if request.POST.get("confirm") != "yes":
            return render(
                request,
                "agency/token_revoke.html",
                {"token": token, "error": _("Tick the box to confirm.")},
                status=400,
            )
        if token.revoked_at is None:
            revoke_token(token, actor=request.user)  # audited (api_token.revoked)
            messages.success(request, _("The token is revoked: the API refuses it from now on."))
        return redirect("agency:tokens")
    return render(request, "agency/token_revoke.html", {"token": token})


urlpatterns = [
    path("tokens/", token_list, name="tokens"),
    path("tokens/new/", token_new, name="token_new"),
    path("tokens/created/", token_created, name="token_created"),
    path("tokens/<str:prefix>/revoke/", token_revoke, name="token_revoke"),
]
