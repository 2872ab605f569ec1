"""Benchmark of the caseload page: server time and SQL queries for 100 clients.

Builds a throw-away SQLite database with one therapist and ``--clients`` open episodes (each with
a few sessions recorded through the real services), then times, median of ``--repeats``:

* the whole request ``GET /`` through Django's test client (middleware, view, template);
* the caseload view alone (RequestFactory, same user);
* a baseline in the same run: a bare view that runs one query for the same open episodes and
  renders one table row per client with a minimal template.

It prints the ratios view/baseline and the number of SQL queries for 10 and 100 clients (the
page must run a constant number of queries). Run: ``python -m bench caseload``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BASELINE_TEMPLATE = """<table>{% for e in episodes %}
<tr><td>{{ e.client.display_code }}</td><td>{{ e.last_outcome_total }}</td><td>{{ e.zone }}</td>
<td>{{ e.alliance_flag }}</td><td>{{ e.session_count }}</td><td>{{ e.last_session_date }}</td></tr>
{% endfor %}</table>"""


def setup_django(folder: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'bench.sqlite3'}"
    os.environ.setdefault("ALLIANCE_INSECURE_DEV_KEY", "1")
    os.environ.setdefault("SECURE_COOKIES", "0")
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ["DJANGO_SETTINGS_MODULE"] = "alliance.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def build_caseload(n_clients: int) -> Any:
    """One agency and therapist with ``n_clients`` open episodes of 1-4 sessions each."""
    from alliance.accounts.models import Agency, Role
    from alliance.accounts.services import create_member
    from alliance.care.services import create_client, record_administration, start_session

    agency = Agency.objects.create(name=f"Bench {n_clients}")
    therapist = create_member(agency, f"therapist{n_clients}", "bench-password-1", Role.THERAPIST)
    start = datetime.date.today() - datetime.timedelta(days=40)
    for number in range(n_clients):
        client = create_client(
            therapist, agency, display_code=f"B{number:04d}", therapist=therapist, start_date=start
        )
        for week in range(1 + number % 4):
            session = start_session(therapist, client, on=start + datetime.timedelta(days=7 * week))
            items = dict.fromkeys(ORS_KEYS, 4.0 + number % 5 + 0.3 * week)
            record_administration(
                therapist,
                session,
                instrument="ors",
                items=items,
                idempotency_key=f"{number}o{week}",
            )
            srs = dict.fromkeys(SRS_KEYS, 8.5 + 0.1 * (number % 15))
            record_administration(
                therapist, session, instrument="srs", items=srs, idempotency_key=f"{number}s{week}"
            )
    return therapist


def instrument_keys(code: str) -> tuple[str, ...]:
    from alliance.science.instruments import get_instrument

    return tuple(item.key for item in get_instrument(code).items)


ORS_KEYS: tuple[str, ...] = ()
SRS_KEYS: tuple[str, ...] = ()


def median_ms(repeats: int, function: Callable[[], Any]) -> float:
    function()  # warm caches (templates, instrument files) before timing
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs) * 1000


def page(browser: Any) -> bytes:
    response = browser.get("/")
    if response.status_code != 200:
        raise SystemExit(f"GET / answered {response.status_code}")
    return bytes(response.content)


def count_queries(function: Callable[[], Any]) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        function()
    return len(captured.captured_queries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench caseload")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv if argv is not None else [])

    global ORS_KEYS, SRS_KEYS
    with tempfile.TemporaryDirectory() as folder:
        setup_django(Path(folder))
        from django.contrib.auth.models import AnonymousUser  # noqa: F401  (Django is set up)
        from django.contrib.messages.storage.fallback import FallbackStorage
        from django.contrib.sessions.backends.db import SessionStore
        from django.http import HttpResponse
        from django.template import engines
        from django.test import Client, RequestFactory

        from alliance.care.models import Episode
        from alliance.care.views import caseload

        ORS_KEYS, SRS_KEYS = instrument_keys("ors"), instrument_keys("srs")
        small = build_caseload(10)
        large = build_caseload(args.clients)
        baseline_template = engines["django"].from_string(BASELINE_TEMPLATE)

        def request_for(user: Any) -> Any:
            request = RequestFactory().get("/")
            request.user = user
            request.session = SessionStore()
            request._messages = FallbackStorage(request)
            return request

        def view(user: Any) -> Callable[[], Any]:
            return lambda: caseload(request_for(user)).content

        def baseline() -> bytes:
            episodes = Episode.objects.filter(
                client__therapist=large, end_date__isnull=True
            ).select_related("client")
            body = baseline_template.render({"episodes": episodes})
            return HttpResponse(body).content

        browser = Client()
        browser.force_login(large)
        rows = Episode.objects.filter(client__therapist=large, end_date__isnull=True).count()
        results = {
            "clients": rows,
            "queries_10": count_queries(view(small)),
            "queries_100": count_queries(view(large)),
            "request_ms": median_ms(args.repeats, lambda: page(browser)),
            "view_ms": median_ms(args.repeats, view(large)),
            "baseline_ms": median_ms(args.repeats, baseline),
        }
    for key, value in results.items():
        print(f"{key:24s} {value:10.2f}" if isinstance(value, float) else f"{key:24s} {value:10d}")
    print(f"{'ratio view / baseline':24s} {results['view_ms'] / results['baseline_ms']:9.2f}x")
    print(
        f"{'ratio request / baseline':24s} {results['request_ms'] / results['baseline_ms']:9.2f}x"
    )
    constant = results["queries_10"] == results["queries_100"]
    print(f"{'constant query count':24s} {'yes' if constant else 'NO'}")
    print(
        f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}, "
        f"python {sys.version.split()[0]}"
    )
    return 0 if constant else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
