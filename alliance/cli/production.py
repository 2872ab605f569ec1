"""`alliance migrate`, `collectstatic`, `createadmin`, `check`, `reseal` and `retention`.

What a production server needs besides `serve` and `worker`, so that nobody runs manage.py there
(docs/deployment.md). Each reads the same environment as the server (DATABASE_URL, SECRET_KEY...).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from alliance.cli import CliError

PASSWORD_VARIABLE = "ALLIANCE_ADMIN_PASSWORD"


def register(subparsers) -> None:
    migrate = subparsers.add_parser(
        "migrate",
        help="create or update the database tables (after installing a new release)",
        description="Apply the database migrations of the installed release to the database "
        "named by DATABASE_URL. Take a backup first (`alliance backup`).",
    )
    group = migrate.add_mutually_exclusive_group()
    group.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit with status 1 when migrations are waiting",
    )
    group.add_argument("--plan", action="store_true", help="list what would be applied")
    migrate.set_defaults(func=run_migrate)

    static = subparsers.add_parser(
        "collectstatic",
        help="copy the static files to ALLIANCE_DATA_DIR/static for the proxy to serve",
        description="Copy stylesheets, scripts and images into ALLIANCE_DATA_DIR/static/, "
        "where nginx or Caddy serves them (otherwise the application serves them itself).",
    )
    static.set_defaults(func=run_collectstatic)

    admin = subparsers.add_parser(
        "createadmin",
        help="create an agency (if new) and an admin of it",
        description="Create the agency named by --agency unless it exists, and an agency admin "
        "in it. Without --agency or --username it asks. The password is never an argument: "
        f"it is asked for, or read from standard input (--password-stdin), or from {PASSWORD_VARIABLE}.",
    )
    admin.add_argument("--agency", help="the agency's name")
    admin.add_argument("--username", help="the admin's login name")
    admin.add_argument("--email", default="", help="the admin's e-mail address")
    admin.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    admin.set_defaults(func=run_createadmin)

    check = subparsers.add_parser(
        "check",
        help="check the configuration (with --deploy: for production)",
        description="Run Django's system checks on the settings the environment gives, and "
        "check that the database answers. With --deploy also the production checks (HTTPS, "
        "secure cookies, HSTS, secret key) and that every migration is applied. Exit status 1 "
        "on any finding at or above --fail-level.",
    )
    check.add_argument("--deploy", action="store_true", help="include the production checks")
    check.add_argument(
        "--fail-level",
        choices=("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"),
        default="WARNING",
        help="the level of finding that fails (default WARNING)",
    )
    check.set_defaults(func=run_check)

    retention = subparsers.add_parser(
        "retention",
        help="erase what the agencies' retention periods and the merge undo window say (daily)",
        description="Erase every client whose episodes ended longer ago than their agency's "
        "retention period (set on the Policies page; no period: nothing is erased), and remove "
        "the name and birth year a client merge keeps for its undo once the undo window has "
        "passed. Each erasure is audited. Run daily by alliance-retention.timer.",
    )
    retention.add_argument(
        "--dry-run", action="store_true", help="change nothing; count what would be erased"
    )
    retention.set_defaults(func=run_retention)

    reseal = subparsers.add_parser(
        "reseal",
        help="seal the stored secrets again under the current key",
        description="Two-factor seeds, webhook signing keys and the research-export key are "
        "stored sealed with a key derived from ALLIANCE_AUDIT_KEY (else SECRET_KEY). After "
        "rotating SECRET_KEY with the old one in SECRET_KEY_FALLBACKS, or after setting "
        "ALLIANCE_AUDIT_KEY, this seals every value under the current key; then the old key "
        "can be dropped. Nothing else changes.",
    )
    reseal.set_defaults(func=run_reseal)


def run_migrate(args: argparse.Namespace) -> int:
    from alliance.cli.web import configure_django

    configure_django()
    from django.core.management import call_command

    if args.check or args.plan:
        from alliance.ops.health import unapplied_migrations

        waiting = unapplied_migrations()
        if args.plan:
            call_command("migrate", plan=True, verbosity=1)
        else:
            print(f"{waiting} migration(s) waiting" if waiting else "Every migration is applied.")
        return 1 if args.check and waiting else 0
    call_command("migrate", interactive=False, verbosity=1)
    call_command("createcachetable", verbosity=1)  # the rate limit's cache without Redis
    return 0


def run_collectstatic(args: argparse.Namespace) -> int:
    from alliance.cli.web import local_environment

    # The settings use ALLIANCE_DATA_DIR/static as STATIC_ROOT only once it exists.
    target = Path(local_environment()["ALLIANCE_DATA_DIR"]) / "static"
    target.mkdir(exist_ok=True)
    from alliance.cli.web import configure_django

    configure_django()
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=1)
    return 0


def run_createadmin(args: argparse.Namespace) -> int:
    interactive = sys.stdin.isatty() and not args.password_stdin
    agency_name = args.agency or _ask("Agency name: ", interactive, "--agency")
    username = args.username or _ask("Admin username: ", interactive, "--username")
    password = _password(args, interactive)

    from alliance.cli.web import setup_django

    setup_django()
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError
    from django.db import transaction

    from alliance.accounts.models import Agency, Role, User
    from alliance.accounts.services import create_member

    if User.objects.filter(username=username).exists():
        raise CliError(f"the username {username!r} is taken")
    try:
        validate_password(password, User(username=username, email=args.email))
    except ValidationError as error:
        raise CliError("the password is refused: " + " ".join(error.messages)) from None
    with transaction.atomic():
        agency, created = Agency.objects.get_or_create(name=agency_name)
        create_member(agency, username, password, Role.ADMIN, email=args.email)
    where = "the new agency" if created else "the existing agency"
    print(f"Created the admin {username} of {where} {agency.name!r}.")
    print("Sign in, then add teams and staff in the admin pages (/admin/).")
    return 0


def _ask(prompt: str, interactive: bool, option: str) -> str:
    if not interactive:
        raise CliError(f"{option} is required without a terminal or with --password-stdin")
    answer = input(prompt).strip()
    if not answer:
        raise CliError(f"{option.lstrip('-')} must not be empty")
    return answer


def _password(args: argparse.Namespace, interactive: bool) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif os.environ.get(PASSWORD_VARIABLE):
        password = os.environ[PASSWORD_VARIABLE]
    elif interactive:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password (again): ") != password:
            raise CliError("the two passwords differ")
    else:
        raise CliError(
            f"no password: use --password-stdin or set {PASSWORD_VARIABLE} "
            "(a password is never a command-line argument)"
        )
    if not password:
        raise CliError("the password must not be empty")
    return password


def run_check(args: argparse.Namespace) -> int:
    from alliance.cli.web import configure_django

    configure_django()
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    try:
        call_command("check", deploy=args.deploy, fail_level=args.fail_level, databases=["default"])
    except SystemCheckError as error:
        print(error, file=sys.stderr)
        return 1
    if args.deploy:
        waiting = _migrations_waiting()
        if waiting:
            print(f"{waiting}.", file=sys.stderr)
            return 1
    return 0


def _migrations_waiting() -> str:
    """What to run first when migrations of the installed code wait ("" when none do)."""
    from alliance.ops.health import unapplied_migrations

    waiting = unapplied_migrations()
    return f"{waiting} migration(s) waiting: run `alliance migrate`" if waiting else ""


def run_reseal(args: argparse.Namespace) -> int:
    from alliance.cli.web import setup_django

    setup_django()
    from django.db import transaction

    from alliance.accounts.sealing import SealedWithAnotherKey, reseal_all

    try:
        with transaction.atomic():  # all or nothing: no value is left under the old key alone
            counts = reseal_all()
    except SealedWithAnotherKey as error:
        raise CliError(str(error)) from None
    for label, count in counts.items():
        print(f"{label}: {count} sealed under the current key")
    return 0


def run_retention(args: argparse.Namespace) -> int:
    # Unattended (a timer): it never migrates by itself, unlike the commands a person runs.
    from alliance.cli.web import configure_django

    configure_django()
    waiting = _migrations_waiting()
    if waiting:
        raise CliError(f"{waiting} first")
    for line in retention_lines(dry_run=args.dry_run):
        print(line)
    return 0


def retention_lines(*, dry_run: bool = False) -> list[str]:
    """Apply (or, dry, count) each agency's retention period and forget the expired merge
    details; one line per agency and one for the merges. Counts only: no client is named."""
    from alliance.accounts.models import Agency
    from alliance.care import services

    lines = []
    for agency in Agency.objects.order_by("name"):
        if not agency.retention_years:
            lines.append(f"{agency.name}: no retention period, nothing erased")
            continue
        if dry_run:
            count = services.retention_due(agency).count()
            done = "would be erased"
        else:
            count = services.apply_retention(agency)
            done = "erased"
        lines.append(
            f"{agency.name}: retention {agency.retention_years} years, "
            f"{count} client{'' if count == 1 else 's'} {done}"
        )
    if dry_run:
        merges, done = services.merges_to_forget().count(), "would have their details removed"
    else:
        merges, done = services.forget_merge_details(), "had their details removed"
    lines.append(f"merges past their undo window: {merges} {done}")
    return lines
