"""Background work of the API app, run by Django's tasks framework (settings ``TASKS``)."""

from __future__ import annotations

from django.tasks import task


@task
def deliver_webhook(delivery_id: int) -> str | None:
    """One attempt of one webhook delivery; returns its status afterwards."""
    from .webhooks import attempt

    delivery = attempt(delivery_id)
    return delivery.status if delivery else None
