"""The versioned REST API: ``/api/v1/`` (OpenAPI at ``/api/v1/openapi.json``, docs at ``/docs``).

Views are thin, one router per resource in ``routers/``: reads go through ``lookups`` (that is,
``alliance.care.visibility``: 404 for anything outside the token user's reach, including other
agencies), writes through ``alliance.care.services``; ``errors`` answers every failure as JSON.
"""

from __future__ import annotations

from ninja import NinjaAPI
from ninja.openapi.docs import Swagger

from . import errors
from .auth import TokenAuth
from .parsing import StrictParser
from .routers import administrations, clients, episodes, imports, me, reports, sessions, webhooks

DESCRIPTION = """Alliance REST API, version 1.

Authenticate with `Authorization: Bearer <token>` (create one with `alliance token create`).
Tokens have the scope `read` or `write`; every request is limited per token (default 600 per
minute: 429 with `Retry-After` beyond). Errors are JSON `{"code", "message"}`; lists are paginated
with `limit` and `offset` and answer `{"items", "count"}`. See docs/api.md.
"""


class AllianceApi(NinjaAPI):
    def get_openapi_operation_id(self, operation) -> str:
        # Published with v1 (clients generate code from them) when every view lived in this
        # module: kept whichever router module a view lives in now.
        return f"alliance_api_api_{operation.view_func.__name__}"


api = AllianceApi(
    title="Alliance API",
    version="1",
    description=DESCRIPTION,
    auth=TokenAuth(),
    urls_namespace="api-v1",
    docs_url="/docs",
    # Swagger UI from ninja's static files; no validator badge fetched from validator.swagger.io.
    docs=Swagger(settings={"validatorUrl": None}),
    openapi_url="/openapi.json",
    parser=StrictParser(),
)
errors.register(api)
for resource in (me, clients, episodes, sessions, administrations, reports, imports, webhooks):
    api.add_router("/", resource.router)
