from django.core.management.base import BaseCommand

from alliance.accounts.models import Agency
from alliance.care.services import apply_retention


class Command(BaseCommand):
    help = "Erase clients whose episodes ended longer ago than their agency's retention period."

    def handle(self, *args, **options):
        total = 0
        for agency in Agency.objects.filter(retention_years__isnull=False):
            erased = apply_retention(agency)
            total += erased
            self.stdout.write(f"agency {agency.pk}: {erased} clients erased")
        self.stdout.write(f"{total} clients erased")
