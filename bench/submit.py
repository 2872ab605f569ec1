"""CPU and SQL statements of one rating submit against the audited floor, in one process.

    python -m bench submit [--repeats 200] [--database postgres://.../alliance_submit_bench]

The quick loop behind the load benchmark (``bench/load/run.py``, which measures throughput with
50 users against gunicorn): the same two endpoints, through Django's test client and the whole
middleware stack, on a scratch PostgreSQL database (created and dropped here; SQLite with
``--database sqlite``), with the task queue in the database as in production:

* submit   ``POST /clients/<id>/sessions/<n>/``: an ORS then an SRS for each fresh session
           (fresh idempotency keys, CSRF token checked), as the load scenario posts them;
* floor    ``POST /bench/audited/<id>/`` (``bench/load/urls.py``): signed in, the visibility
           check, one row and its audit event in one transaction.

Prints, per request, the median wall time, this process's CPU time (the database's CPU is not
in it) and the SQL statements, and the ratio floor / submit (the throughput the submit can
reach against the floor when the CPU is the limit). Nothing here is a pass/fail test of speed.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
PG = "postgres://postgres@127.0.0.1:5432"
ORS = ("individually", "interpersonally", "socially", "overall")
SRS = ("relationship", "goals_topics", "approach", "overall")


def setup(database: str, tasks: str = "database") -> str:
    if database == "sqlite":
        import tempfile

        folder = tempfile.mkdtemp(prefix="bench-submit-")
        url = f"sqlite:///{folder}/bench.sqlite3"
    else:
        url = database
        name = url.rsplit("/", 1)[1]
        admin = url.rsplit("/", 1)[0] + "/postgres"
        for sql in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'):
            subprocess.run(["psql", admin, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.load.settings",
            "DATABASE_URL": url,
            "SECRET_KEY": secrets.token_urlsafe(40),
            "DEBUG": "0",
            "SECURE_COOKIES": "0",
            "ALLOWED_HOSTS": "testserver",
            "ALLIANCE_TASKS": tasks,
            "LOG_LEVEL": "ERROR",
        }
    )
    import django
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_bare (id integer PRIMARY KEY "
            + ("AUTOINCREMENT" if connection.vendor == "sqlite" else "GENERATED ALWAYS AS IDENTITY")
            + ", at timestamp NOT NULL, v integer NOT NULL)"
        )
    return url


def seed(sessions: int) -> tuple[Any, list[str], str]:
    import datetime

    from django.contrib.auth.hashers import make_password

    from alliance.accounts.models import Agency, Role
    from alliance.accounts.services import create_member
    from alliance.care.models import Client, Episode, Session

    agency = Agency.objects.create(name="Bench")
    user = create_member(agency, "bench", "", Role.THERAPIST, password_hash=make_password("x"))
    start = datetime.date(2025, 1, 1)
    urls = []
    per_client = 25
    for c in range(sessions // per_client + 1):
        client = Client.objects.create(agency=agency, display_code=f"B-{c}", therapist=user)
        episode = Episode.objects.create(agency=agency, client=client, start_date=start)
        Session.objects.bulk_create(
            [
                Session(
                    agency=agency,
                    episode=episode,
                    number=n,
                    date=start + datetime.timedelta(days=7 * n),
                )
                for n in range(1, per_client + 1)
            ]
        )
        urls += [f"/clients/{client.public_id}/sessions/{n}/" for n in range(1, per_client + 1)]
    return user, urls[:sessions], urls[0].split("/")[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench submit")
    parser.add_argument("--repeats", type=int, default=200, help="sessions rated (2 posts each)")
    parser.add_argument(
        "--database",
        default=os.environ.get("BENCH_DATABASE_URL", f"{PG}/alliance_submit_bench"),
        help="PostgreSQL URL of a scratch database (dropped and created), or 'sqlite'",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the submits")
    parser.add_argument(
        "--tasks",
        choices=("database", "immediate"),
        default="database",
        help="the task queue: the database (production) or run inside the request",
    )
    parser.add_argument(
        "--worker-each-session",
        action="store_true",
        help="run the queued follow-ups after every session (a worker keeping up), not at the end",
    )
    args = parser.parse_args(argv if argv is not None else [])
    setup(args.database, args.tasks)
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from alliance.care.models import Administration

    user, urls, client_id = seed(args.repeats + 20)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    from django.utils.crypto import get_random_string

    csrf = get_random_string(32)
    browser.cookies["csrftoken"] = csrf

    def submit(url: str, instrument: str, keys: tuple[str, ...], value: str) -> None:
        data = {
            "csrfmiddlewaretoken": csrf,
            "instrument": instrument,
            "idempotency_key": uuid.uuid4().hex,
            "confirmed": "1",
            **{f"{instrument}-{key}": value for key in keys},
        }
        response = browser.post(  # form-encoded, as browsers and the load scenario post
            url,
            urlencode(data),
            content_type="application/x-www-form-urlencoded",
            headers={"referer": "http://testserver" + url},
        )
        if response.status_code != 302:
            raise SystemExit(f"submit answered {response.status_code}: {response.content[:300]!r}")

    def rate(url: str) -> None:
        submit(url, "ors", ORS, "5.5")
        submit(url, "srs", SRS, "9.1")

    def floor() -> None:
        response = browser.post(f"/bench/audited/{client_id}/", "x", content_type="text/plain")
        if response.status_code != 200:
            raise SystemExit(f"floor answered {response.status_code}")

    warm, timed = urls[:20], urls[20:]
    for url in warm:  # templates, forms, instrument files, prepared connections
        rate(url)
        floor()
        floor()
    with CaptureQueriesContext(connection) as ors_queries:
        submit(timed[0], "ors", ORS, "5.5")
    with CaptureQueriesContext(connection) as srs_queries:
        submit(timed[0], "srs", SRS, "9.1")
    with CaptureQueriesContext(connection) as floor_queries:
        floor()
    # Read now: the next request clears the connection's query log.
    captured = {
        name: [query["sql"] for query in context.captured_queries]
        for name, context in (("ors", ors_queries), ("srs", srs_queries), ("floor", floor_queries))
    }
    timed = timed[1:]
    from django.core.management import call_command

    def run_worker() -> None:
        if args.tasks == "immediate":  # the follow-ups ran inside the requests
            return
        call_command("db_worker", batch=True, interval=0, verbosity=0)

    if args.worker_each_session:  # the warm-up's queued tasks are not timed
        run_worker()

    def measure(function, *arguments) -> tuple[float, float]:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        function(*arguments)
        return time.perf_counter() - wall0, time.process_time() - cpu0

    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)
    submit_runs, floor_runs, worker_runs = [], [], []
    for url in timed:
        if profiler:
            profiler.enable()
        submit_runs.append(measure(rate, url))
        if profiler:
            profiler.disable()
        floor_runs.append(measure(lambda: (floor(), floor())))
        if args.worker_each_session and args.tasks == "database":
            worker_runs.append(measure(run_worker))
    stored = Administration.objects.count()
    # The follow-up tasks the submits queued, run as ``alliance worker --batch`` runs them: what
    # the worker spends per rating beside the server (the floor queues none). Per rating, not
    # per task row: on PostgreSQL a rating joins its episode's waiting row (care.services
    # ``_queue_row``), and here every row waits until all the submits are done, so one row
    # serves all the ratings of its episode (25 sessions); with a worker keeping up, a row
    # serves about a session (its ORS and SRS).
    from django_tasks_db.models import DBTaskResult

    queued = DBTaskResult.objects.filter(status="READY").count() if args.tasks == "database" else 0
    with CaptureQueriesContext(connection) as worker_queries:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        worker_profiler = None
        if profiler:  # its own profile: the submits' is printed below
            worker_profiler = cProfile.Profile(time.process_time)
            worker_profiler.enable()
        run_worker()
        if worker_profiler:
            worker_profiler.disable()
            import pstats

            print("--- follow-up task (worker)")
            pstats.Stats(worker_profiler).sort_stats("cumulative").print_stats(70)
        worker_run = (time.perf_counter() - wall0, time.process_time() - cpu0)
        worker_run = (
            worker_run[0] + sum(run[0] for run in worker_runs),
            worker_run[1] + sum(run[1] for run in worker_runs),
        )
    worker_statements = len(worker_queries.captured_queries)
    failed = (
        DBTaskResult.objects.exclude(status="SUCCESSFUL").count() if args.tasks == "database" else 0
    )
    if profiler:
        import pstats

        print("--- submits")
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(60)
        stats.print_callees("_store_new_rating|session_page|record_many")

    def med(runs: list[tuple[float, float]], index: int) -> float:
        return statistics.median(r[index] for r in runs) / 2 * 1000  # two posts per run

    results = {
        "submit wall ms": med(submit_runs, 0),
        "submit cpu ms": med(submit_runs, 1),
        "floor wall ms": med(floor_runs, 0),
        "floor cpu ms": med(floor_runs, 1),
    }
    results["follow-up wall ms"] = worker_run[0] / max(stored, 1) * 1000
    results["follow-up cpu ms"] = worker_run[1] / max(stored, 1) * 1000
    for key, value in results.items():
        print(f"{key:28s} {value:8.2f}")
    counts = ", ".join(str(len(captured[name])) for name in ("ors", "srs", "floor"))
    print(f"{'statements: ors, srs, floor':28s} {counts}")
    print(
        f"{'floor / submit, wall':28s} {results['floor wall ms'] / results['submit wall ms']:8.2f}"
    )
    print(f"{'floor / submit, cpu':28s} {results['floor cpu ms'] / results['submit cpu ms']:8.2f}")
    print(
        f"{'follow-up statements':28s} {worker_statements / max(stored, 1):8.1f} per rating "
        f"({queued} task rows, {failed} not successful)"
    )
    print(f"ratings stored {stored} (expected {2 * (len(warm) + len(timed) + 1)})")
    if os.environ.get("BENCH_SHOW_SQL"):
        for name, statements in captured.items():
            print(f"--- {name}")
            for sql in statements:
                print(sql[:400])
    print(f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
