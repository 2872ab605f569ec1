from django.core.management.base import BaseCommand, CommandError

from alliance.audit.services import EVIDENCE_HINT, verify


class Command(BaseCommand):
    help = "Check the hash chain of the audit trail; report every broken lane."

    def add_arguments(self, parser):
        parser.add_argument("--agency", type=int, action="append", help="agency id (repeatable)")

    def handle(self, *args, **options):
        checked, broken = verify(options["agency"])
        for problem in broken:
            self.stderr.write(str(problem))
        if broken:
            self.stderr.write(EVIDENCE_HINT)
            raise CommandError(f"audit trail broken ({checked} events checked before the breaks)")
        self.stdout.write(f"audit trail intact: {checked} events checked")
