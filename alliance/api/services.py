"""Token and webhook-endpoint actions. Each is one transaction and writes an AuditEvent."""

from __future__ import annotations

import datetime
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from alliance.accounts import permissions
from alliance.accounts.models import Agency, Role
from alliance.accounts.permissions import active_membership, is_admin
from alliance.audit.services import record
from alliance.care.services import ServiceError

from . import webhooks
from .models import ApiToken, Scope, TokenKind, WebhookEndpoint, WebhookEvent

TOKEN_LEAD = "alc"
PREFIX_BYTES = 4  # 8 hex characters, shown in listings and used to revoke
SECRET_BYTES = 32  # 256 bits


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _audit(agency: Agency, actor, action: str, target_type: str, target_id: str, **detail) -> None:
    record(actor, agency, action, (target_type, target_id), None, detail)


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once, never stored


@transaction.atomic
def create_token(
    user,
    *,
    scope: str = Scope.READ,
    expires_days: int | None = None,
    kind: str = TokenKind.PERSONAL,
    name: str = "",
    actor=None,
    form_key: str = "",
) -> NewToken:
    """A new bearer token ``alc_<prefix>_<secret>``; only its sha256 is stored.

    With ``form_key`` (the web form's one-time key) a resubmitted form creates nothing: the token
    that form created is answered with an empty ``secret`` (the secret was shown once already).
    """
    if scope not in Scope.values:
        raise ServiceError(
            _("unknown scope %(scope)s (expected read or write)") % {"scope": repr(scope)}
        )
    if kind not in TokenKind.values:
        raise ServiceError(_("unknown token kind %(kind)s") % {"kind": repr(kind)})
    membership = active_membership(user)
    if membership is None:
        raise ServiceError(_("the user does not belong to an agency"))
    if kind == TokenKind.INTEGRATION and not is_admin(user):
        raise ServiceError(_("only an agency admin can own an integration token"))
    if expires_days is not None and expires_days < 1:
        raise ServiceError(_("expiry must be at least one day"))
    if scope not in allowed_scopes(user, kind):
        raise ServiceError(
            _("scope %(scope)s is not allowed for this token") % {"scope": repr(scope)}
        )
    if form_key:
        # Serialise submissions of one user (the membership row), then look for the form's token.
        type(membership).objects.select_for_update().filter(pk=membership.pk).first()
        earlier = ApiToken.objects.filter(
            agency=membership.agency, user=user, form_key=form_key
        ).first()
        if earlier is not None:
            return NewToken(earlier, "")
    prefix = secrets.token_hex(PREFIX_BYTES)
    while ApiToken.objects.filter(prefix=prefix).exists():  # pragma: no cover - 1 in 4e9
        prefix = secrets.token_hex(PREFIX_BYTES)
    raw = f"{TOKEN_LEAD}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    token = ApiToken.objects.create(
        agency=membership.agency,
        user=user,
        kind=kind,
        name=name,
        prefix=prefix,
        digest=digest(raw),
        scope=scope,
        form_key=form_key,
        expires_at=(
            timezone.now() + datetime.timedelta(days=expires_days) if expires_days else None
        ),
    )
    _audit(
        membership.agency,
        actor or user,
        "api_token.created",
        "apitoken",
        prefix,
        scope=scope,
        kind=kind,
        user=user.public_id,
    )
    return NewToken(token, raw)


def allowed_scopes(user, kind: str) -> list[str]:
    """The scopes a user may give a token of ``kind``: never more than their role may do.

    A token acts as its user, whose role is checked again on every request (``token_acts_for``,
    the routers' role checks and the client visibility rules), so a scope only narrows a role:
    ``write`` lets a token do the writes its user's role allows, nothing beyond. An integration
    token is an admin's; anyone else gets no scope for it.
    """
    role = permissions.role_of(user)
    if not role or (kind == TokenKind.INTEGRATION and role != Role.ADMIN):
        return []
    return list(Scope.values)


@transaction.atomic
def revoke_token(token: ApiToken, *, actor=None) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        _audit(token.agency, actor, "api_token.revoked", "apitoken", token.prefix)
    return token


def token_acts_for(token: ApiToken):
    """The user a token acts as, or None when it no longer may (left, deactivated, demoted)."""
    user = token.user
    membership = active_membership(user)
    if membership is None or membership.agency_id != token.agency_id:
        return None
    if token.kind == TokenKind.INTEGRATION and not is_admin(user):
        return None
    return user


def find_token(raw: str) -> ApiToken | None:
    """The active token for a presented secret (compared by digest), or None."""
    if not raw.startswith(f"{TOKEN_LEAD}_") or len(raw) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user__membership", "agency")
        .filter(digest=digest(raw))
        .first()
    )
    if token is None or not token.is_active:
        return None
    return token


def touch(token: ApiToken, now: datetime.datetime | None = None) -> None:
    """Record use; written at most once a minute per token."""
    now = now or timezone.now()
    if token.last_used_at is None or now - token.last_used_at > datetime.timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


@transaction.atomic
def create_webhook_endpoint(
    actor, agency: Agency, *, url: str, events: Sequence[str] | None = None
) -> WebhookEndpoint:
    events = list(dict.fromkeys(events or WebhookEvent.values))
    unknown = [event for event in events if event not in WebhookEvent.values]
    if unknown:
        raise ServiceError(_("unknown event(s): %(events)s") % {"events": ", ".join(unknown)})
    try:
        webhooks.check_url(url)
    except webhooks.BlockedAddress as error:
        raise ServiceError(str(error)) from None
    endpoint = WebhookEndpoint.objects.create(
        agency=agency, url=url, events=events, secret=webhooks.new_secret()
    )
    _audit(agency, actor, "webhook.created", "webhookendpoint", endpoint.public_id, events=events)
    return endpoint


@transaction.atomic
def delete_webhook_endpoint(actor, endpoint: WebhookEndpoint) -> None:
    _audit(endpoint.agency, actor, "webhook.deleted", "webhookendpoint", endpoint.public_id)
    endpoint.delete()
