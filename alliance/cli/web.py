"""`alliance demo`, `alliance serve` and `alliance worker`: the web app with a local SQLite database under ./var/.

Django is configured lazily here so that the science subcommands never need a database.
`alliance serve` writes no access log of its own: alliance.ops.middleware logs each request
with its id and without the query string (gunicorn's access log would print both in full).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
from pathlib import Path
from typing import NoReturn

from alliance.cli import CliError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def register(subparsers) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="create a demo agency with ~60 simulated clients and serve it",
        description="Create the database (SQLite under ./var/ unless DATABASE_URL is set), a demo "
        "agency with two teams, a supervisor, four therapists and about 60 simulated clients; print "
        "the logins; then serve at http://127.0.0.1:8000.",
    )
    demo.add_argument("--no-serve", action="store_true", help="only prepare the data")
    demo.add_argument("--port", type=_port, default=DEFAULT_PORT, help="port (default 8000)")
    demo.add_argument(
        "--reset", action="store_true", help="remove the demo data and create it again"
    )
    demo.set_defaults(func=run_demo)

    serve = subparsers.add_parser("serve", help="serve existing data with gunicorn")
    serve.add_argument(
        "--bind",
        default=f"{DEFAULT_HOST}:{DEFAULT_PORT}",
        help="host:port (default 127.0.0.1:8000)",
    )
    serve.add_argument(
        "--workers", type=_positive, default=2, help="gunicorn worker processes (default 2)"
    )
    serve.set_defaults(func=run_serve)

    worker = subparsers.add_parser(
        "worker",
        help="run background tasks queued in the database (ALLIANCE_TASKS=database)",
        description="Run the tasks that requests queue: episode summaries and alerts after a "
        "rating, form-link messages, webhook deliveries, ETR refits. Needs ALLIANCE_TASKS=database "
        "(with the default 'immediate' the tasks run inside the request and no worker is needed).",
    )
    worker.add_argument(
        "--interval", type=float, default=1.0, help="seconds between polls of the queue (1.0)"
    )
    worker.add_argument(
        "--batch", action="store_true", help="run what is queued, then exit (for cron or tests)"
    )
    worker.set_defaults(func=run_worker)


def _port(text: str) -> int:
    value = _positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"port must be between 1 and 65535, not {text}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, not {text}")
    return value


def local_environment() -> dict[str, str]:
    """Settings for a run without an environment file: data and a generated SECRET_KEY under
    ./var/, DEBUG off. Cookies stay Secure (the settings' default): only the demo, served over
    plain HTTP on the loopback interface, turns that off."""
    data_dir = Path(os.environ.get("ALLIANCE_DATA_DIR", Path.cwd() / "var")).resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CliError(f"cannot create the data directory {data_dir}: {error.strerror}") from None
    env = {"ALLIANCE_DATA_DIR": str(data_dir), "DEBUG": os.environ.get("DEBUG", "0")}
    if not os.environ.get("SECRET_KEY"):
        env["SECRET_KEY"] = _secret_key(data_dir / "secret_key")
    return env


def _secret_key(path: Path) -> str:
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def configure_django() -> dict[str, str]:
    """Set Django up with the local environment, without touching the database."""
    env = local_environment()
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alliance.settings")
    import django

    django.setup()
    return env


def setup_django() -> dict[str, str]:
    env = configure_django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    call_command("createcachetable", verbosity=0)  # the rate limit's cache without Redis
    return env


def run_demo(args: argparse.Namespace) -> int:
    # The demo is served over plain HTTP on the loopback interface, where a browser never
    # sends a cookie marked Secure back: the one place cookies are not Secure by default.
    os.environ.setdefault("SECURE_COOKIES", "0")
    setup_django()
    from alliance.demo import prepare_demo, remove_demo

    if args.reset:
        remove_demo()
    result = prepare_demo()
    url = f"http://{DEFAULT_HOST}:{args.port}/"
    if result.created:
        print(f"Demo data created: {result.clients} clients.")
    else:
        print(f"Demo data already present ({result.clients} clients); use --reset to recreate it.")
    print(f"Open {url} and log in as one of: {', '.join(result.usernames)}")
    print(f"Password for every demo login: {result.password}")
    if args.no_serve:
        return 0
    return serve(f"{DEFAULT_HOST}:{args.port}", workers=2)


def run_serve(args: argparse.Namespace) -> int:
    setup_django()
    return serve(args.bind, workers=args.workers)


def run_worker(args: argparse.Namespace) -> int:
    mode = os.environ.get("ALLIANCE_TASKS", "immediate")
    if mode != "database":
        raise CliError(
            f"ALLIANCE_TASKS is {mode!r}: tasks run inside the requests; "
            "set ALLIANCE_TASKS=database for the web server and the worker"
        )
    setup_django()
    from django.core.management import call_command

    options = {"interval": args.interval, "batch": args.batch, "verbosity": 0}
    with contextlib.suppress(KeyboardInterrupt):
        call_command("db_worker", **options)
    return 0


def serve(bind: str, workers: int) -> int:
    print(f"Serving on http://{bind}/ (Ctrl-C to stop)", flush=True)
    from django.conf import settings

    if not settings.SESSION_COOKIE_SECURE:
        print(
            "Cookies are not marked Secure (DEBUG or SECURE_COOKIES=0): for a trial over plain "
            "HTTP only, never for real clients' data.",
            flush=True,
        )
    if os.environ.get("ALLIANCE_TASKS") == "database":
        # Without a worker, ratings are stored but caseload zones and alerts never follow.
        print(
            "Background tasks are queued in the database: run `alliance worker` beside this "
            "server (summaries and alerts after each rating, link messages, webhooks, refits).",
            flush=True,
        )
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "alliance.wsgi:application",
        "--bind",
        bind,
        "--workers",
        str(workers),
    ]
    if settings.LOG_FORMAT == "json":
        command += ["--logger-class", "alliance.ops.gunicorn.JsonLogger"]
    return exec_gunicorn(command)


def exec_gunicorn(command: list[str]) -> NoReturn:
    """gunicorn takes this process's place, so that a service manager's SIGTERM (systemctl stop,
    restart) reaches gunicorn's master and its workers finish their requests."""
    sys.stdout.flush()
    os.execve(sys.executable, command, os.environ.copy())
