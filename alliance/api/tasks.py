from .webhooks import deliver_webhook  # noqa: F401 (deliveries queued before the move name this path)
