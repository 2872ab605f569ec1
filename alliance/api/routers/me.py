"""``/me``: who the token acts as."""

from __future__ import annotations

from ninja import Router

from .. import schemas
from ..auth import role_of
from ..errors import ERRORS

router = Router(tags=["tokens"])


@router.get("/me", response={200: schemas.MeOut, **ERRORS})
def me(request):
    """Who the token acts as."""
    token = request.auth
    return {
        "username": token.user.username,
        "agency": token.agency.name,
        "role": role_of(request),
        "token_prefix": token.prefix,
        "token_kind": token.kind,
        "scope": token.scope,
        "expires_at": token.expires_at,
    }
