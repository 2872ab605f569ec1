"""``/webhooks``: an agency admin's webhook endpoints and their delivery logs."""

from __future__ import annotations

from ninja import Router, Status
from ninja.pagination import paginate

from .. import lookups, schemas
from .. import services as api_services
from ..auth import actor, require_admin, require_write
from ..errors import ERRORS
from ..models import WebhookEndpoint
from ..serializers import Mapped, delivery_out, mapped, webhook_out

router = Router(tags=["webhooks"])


@router.get("/webhooks", response={200: list[schemas.WebhookOut], **ERRORS})
@paginate(Mapped)
def list_webhooks(request):
    require_admin(request)
    endpoints = WebhookEndpoint.objects.filter(agency_id=request.auth.agency_id)
    return mapped(endpoints.order_by("created_at", "pk"), webhook_out)


@router.post("/webhooks", response={201: schemas.WebhookCreated, **ERRORS})
def create_webhook(request, payload: schemas.WebhookIn):
    require_admin(request)
    require_write(request)
    endpoint = api_services.create_webhook_endpoint(
        actor(request), request.auth.agency, url=payload.url, events=payload.events
    )
    return Status(201, webhook_out(endpoint) | {"secret": endpoint.secret})


@router.delete("/webhooks/{webhook_id}", response={204: None, **ERRORS})
def delete_webhook(request, webhook_id: str):
    endpoint = lookups.webhook(request, webhook_id)
    require_write(request)
    api_services.delete_webhook_endpoint(actor(request), endpoint)
    return Status(204, None)


@router.get(
    "/webhooks/{webhook_id}/deliveries", response={200: list[schemas.DeliveryOut], **ERRORS}
)
@paginate(Mapped)
def list_deliveries(request, webhook_id: str):
    """The delivery log of an endpoint, newest first."""
    endpoint = lookups.webhook(request, webhook_id)
    return mapped(endpoint.deliveries.order_by("-created_at", "-pk"), delivery_out)
