"""``manage.py webhooks_retry``: attempt webhook deliveries that are due (run every minute).

Needed with task backends that cannot defer work (the default immediate backend); harmless
with the others.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from alliance.api.webhooks import retry_due_deliveries


class Command(BaseCommand):
    help = "Retry due webhook deliveries (exponential backoff, then give up)."

    def handle(self, *args, **options) -> None:
        attempted = retry_due_deliveries()
        self.stdout.write(f"{attempted} delivery attempt(s).")
