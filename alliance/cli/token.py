"""`alliance token`: create, list and revoke API bearer tokens (the secret is printed once).

Django is set up lazily (as in ``alliance.cli.web``), against ``DATABASE_URL`` or ./var/.
"""

from __future__ import annotations

import argparse

from alliance.cli import CliError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "token",
        help="create, list or revoke REST API tokens",
        description="Manage bearer tokens for the REST API (/api/v1/). Only the sha256 of a "
        "token is stored: `create` prints the token once.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a token and print it once")
    create.add_argument("--user", required=True, metavar="USERNAME", help="the token's owner")
    create.add_argument("--scope", choices=("read", "write"), default="read")
    create.add_argument(
        "--expires-days", type=_days, default=None, metavar="N", help="expire after N days"
    )
    create.add_argument(
        "--integration",
        action="store_true",
        help="an agency integration token (agency-wide; the owner must be an agency admin)",
    )
    create.add_argument("--name", default="", help="a label, e.g. the EHR's name")
    create.set_defaults(func=run_create)
    listing = actions.add_parser("list", help="list tokens (prefixes, never secrets)")
    listing.add_argument("--user", metavar="USERNAME", help="only this user's tokens")
    listing.set_defaults(func=run_list)
    revoke = actions.add_parser("revoke", help="revoke a token by its prefix")
    revoke.add_argument("prefix", help="the 8 characters after 'alc_'")
    revoke.set_defaults(func=run_revoke)


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of days, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("expected 1 day or more")
    return value


def _setup() -> None:
    from alliance.cli.web import setup_django

    setup_django()


def run_create(args: argparse.Namespace) -> int:
    _setup()
    from alliance.accounts.models import User
    from alliance.api.models import TokenKind
    from alliance.api.services import create_token
    from alliance.care.services import ServiceError

    user = User.objects.filter(username=args.user).first()
    if user is None:
        raise CliError(f"no user {args.user!r}")
    try:
        new = create_token(
            user,
            scope=args.scope,
            expires_days=args.expires_days,
            kind=TokenKind.INTEGRATION if args.integration else TokenKind.PERSONAL,
            name=args.name,
        )
    except ServiceError as error:
        raise CliError(str(error)) from None
    print(new.secret)
    expiry = new.token.expires_at.date().isoformat() if new.token.expires_at else "never"
    print(
        f"prefix {new.token.prefix}, scope {new.token.scope}, {new.token.kind}, expires {expiry}."
        " Store it now: it is not shown again.",
        flush=True,
    )
    return 0


def run_list(args: argparse.Namespace) -> int:
    _setup()
    from alliance.api.models import ApiToken

    tokens = ApiToken.objects.select_related("user", "agency").order_by("created_at")
    if args.user:
        tokens = tokens.filter(user__username=args.user)
    print("prefix    user             agency           kind         scope  state     last used")
    for token in tokens:
        state = "revoked" if token.revoked_at else ("active" if token.is_active else "expired")
        used = token.last_used_at.strftime("%Y-%m-%d %H:%M") if token.last_used_at else "-"
        print(
            f"{token.prefix:<9} {token.user.username[:16]:<16} {token.agency.name[:16]:<16} "
            f"{token.kind:<12} {token.scope:<6} {state:<9} {used}"
        )
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    _setup()
    from alliance.api.models import ApiToken
    from alliance.api.services import revoke_token

    prefix = args.prefix.removeprefix("alc_").split("_", 1)[0]
    token = ApiToken.objects.filter(prefix=prefix).first()
    if token is None:
        raise CliError(f"no token with prefix {prefix!r}")
    revoke_token(token)
    print(f"revoked {token.prefix}")
    return 0
