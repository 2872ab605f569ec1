"""Records every successful read through the REST API (token requests) in the audit trail."""

from __future__ import annotations

from alliance.accounts.network import client_ip

from .services import record

NOT_CLINICAL = ("/openapi.json", "/docs", "/me")


class ApiReadAuditMiddleware:
    """One event per successful GET under /api/ made with a token: who read which resource."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.method == "GET"
            and response.status_code == 200
            and request.path.startswith("/api/")
            and not request.path.endswith(NOT_CLINICAL)
        ):
            token = getattr(request, "auth", None)
            user = getattr(token, "user", None)
            agency_id = getattr(token, "agency_id", None)
            if user is not None and agency_id is not None:
                parts = [p for p in request.path.split("/") if p][2:]  # after api/v1
                kind = parts[0] if parts else "api"
                ident = parts[1] if len(parts) > 1 else ""
                detail = {"path": request.path}
                if request.GET:
                    detail["query"] = request.GET.urlencode()[:500]
                record(
                    user, agency_id, f"api.read.{kind}", (kind, ident), client_ip(request), detail
                )
        return response
