"""Benchmark: the agency effectiveness report over 1,000,000 administrations in PostgreSQL.

    .venv/bin/python bench/report_pg.py [--episodes 100000] [--therapists 500] [--keep]
    (or: .venv/bin/python -m bench report_pg)

In one run: simulate the administrations table (``alliance.science.simulate``), create a scratch
database (``BENCH_DATABASE_URL``, default postgres://postgres@127.0.0.1:5432/alliance_bench_reports;
dropped and re-created), migrate it, write one agency's clients, episodes, sessions and
administrations into it with the bulk import (``alliance.api.imports``), then time (best of 3)

* ``administrations_frame`` (the data layer: episodes, administrations and their sessions by
  ``COPY``, joined in numpy) alone;
* ``services.effectiveness_report`` (data layer + every index + therapist effects + attendance);
* the whole page ``GET /reports/effectiveness/`` through Django's test client (template, charts);
* the baseline: one hand-written SQL query computing the same headline aggregates (episodes,
  used, mean/SD of intake and change, ES, % reliable improvement/deterioration, drop-out, mean
  SRS, cancellations, overall and per quarter) in the database;

and prints the ratios report / SQL, checks that both give the same numbers, and prints EXPLAIN
(ANALYZE, BUFFERS) of the report's queries and of the baseline. Targets: page < 3 s, within 3x of
the SQL baseline. Results go in docs/performance.md (section "Agency report on PostgreSQL").
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/alliance_bench_reports"

BASELINE_SQL = """
WITH ors AS (
    SELECT a.episode_id, s.number, a.total, s.date
    FROM care_administration a JOIN care_session s ON s.id = a.session_id
    WHERE a.agency_id = %(agency)s AND a.instrument = 'ors' AND a.rater = 'client'
),
ends AS (
    SELECT DISTINCT ON (episode_id) episode_id, total AS intake, date AS first_date
    FROM ors ORDER BY episode_id, number
),
lasts AS (
    SELECT DISTINCT ON (episode_id) episode_id, total AS final, count(*) OVER w AS n_scores
    FROM ors WINDOW w AS (PARTITION BY episode_id)
    ORDER BY episode_id, number DESC
),
episodes AS (
    SELECT e.episode_id, e.intake, l.final, l.n_scores, ep.ending,
           to_char(e.first_date, 'YYYY"Q"Q') AS quarter
    FROM ends e JOIN lasts l USING (episode_id) JOIN care_episode ep ON ep.id = e.episode_id
),
srs AS (
    SELECT avg(a.total) AS srs_mean, count(*) AS srs_n
    FROM care_administration a
    WHERE a.agency_id = %(agency)s AND a.instrument = 'srs' AND a.rater = 'client'
),
attendance AS (
    SELECT count(*) FILTER (WHERE attendance = 'cancelled') AS cancelled, count(*) AS sessions
    FROM care_session WHERE agency_id = %(agency)s
)
SELECT quarter,
       count(*) AS n_episodes,
       count(*) FILTER (WHERE n_scores >= 2) AS n_used,
       avg(intake) FILTER (WHERE n_scores >= 2) AS intake_mean,
       stddev_samp(intake) FILTER (WHERE n_scores >= 2) AS intake_sd,
       avg(final - intake) FILTER (WHERE n_scores >= 2) AS change_mean,
       stddev_samp(final - intake) FILTER (WHERE n_scores >= 2) AS change_sd,
       avg(final - intake) FILTER (WHERE n_scores >= 2)
           / stddev_samp(intake) FILTER (WHERE n_scores >= 2) AS es,
       avg(((final - intake) > 5)::int) FILTER (WHERE n_scores >= 2) AS reliable_improvement,
       avg(((final - intake) < -5)::int) FILTER (WHERE n_scores >= 2) AS reliable_deterioration,
       count(*) FILTER (WHERE ending <> '') AS n_closed,
       (SELECT srs_mean FROM srs) AS srs_mean,
       (SELECT cancelled FROM attendance) AS cancelled
FROM episodes
GROUP BY ROLLUP (quarter)
ORDER BY quarter NULLS FIRST
"""


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alliance.settings")
    os.environ.setdefault("ALLIANCE_INSECURE_DEV_KEY", "1")
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    import django

    django.setup()


def recreate_database(url: str) -> None:
    from urllib.parse import urlparse

    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


def load(frame, therapists_n: int, chunk_episodes: int = 10_000):
    """One agency with the simulated history, written by the bulk import (the one writer of
    administrations tables) in chunks of whole episodes; returns (agency, admin user)."""
    import numpy as np
    from django.db import connection

    from alliance.accounts.models import Agency, Membership, Role, Team, TeamMembership, User
    from alliance.api.imports import import_frame
    from alliance.care.models import Session

    agency = Agency.objects.create(name="Benchmark")
    therapist_ids = sorted(frame["therapist_id"].unique())
    team_ids = sorted(frame["team_id"].dropna().unique())
    teams = {t: Team.objects.create(agency=agency, name=t) for t in team_ids}
    users = User.objects.bulk_create([User(username=f"th-{t}") for t in therapist_ids])
    user_of = dict(zip(therapist_ids, users, strict=True))
    Membership.objects.bulk_create(
        [Membership(agency=agency, user=u, role=Role.THERAPIST) for u in users]
    )
    team_of = frame.groupby("therapist_id")["team_id"].first()
    TeamMembership.objects.bulk_create(
        [
            TeamMembership(agency=agency, team=teams[team], user=user_of[therapist])
            for therapist, team in team_of.items()
        ]
    )
    admin = User.objects.create(username="bench-admin")
    Membership.objects.create(agency=agency, user=admin, role=Role.ADMIN)
    episode_ids = frame["episode_id"].unique()
    for start in range(0, len(episode_ids), chunk_episodes):
        part = frame[frame["episode_id"].isin(episode_ids[start : start + chunk_episodes])]
        import_frame(admin, agency, part, therapists=user_of, teams=teams)
    # About 5% of sessions cancelled (the import stores attended sessions): the report and the
    # baseline both count them; the episodes' stored summaries are not part of the benchmark.
    sessions = Session.objects.filter(agency=agency).order_by("pk")
    pks = np.array(sessions.values_list("pk", flat=True))
    cancelled = pks[np.random.default_rng(0).random(len(pks)) < 0.05].tolist()
    for begin in range(0, len(cancelled), 10_000):
        Session.objects.filter(pk__in=cancelled[begin : begin + 10_000]).update(
            attendance="cancelled"
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # sets hint bits now, not during the first timed scans
    return agency, admin


def best_of(label: str, function, repeat: int = 3):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    print(f"{label:<58} best {min(times):6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times)})")
    return min(times), result


def explain(sql: str, params) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench report_pg", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--therapists", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--explain", default="", help="write the EXPLAIN output to this file")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse the database loaded by an earlier run"
    )
    if argv is None and __name__ != "__main__":
        argv = []  # run by `python -m bench report_pg`: the names on the command line are not ours
    args = parser.parse_args(argv)
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    if not args.reuse:
        recreate_database(url)
    setup_django(url)
    if args.reuse:
        from alliance.accounts.models import Agency, User

        agency = Agency.objects.get(name="Benchmark")
        admin = User.objects.get(username="bench-admin")
    else:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from alliance.science.simulate import simulate

        start = time.perf_counter()
        frame = simulate(args.episodes, args.therapists, seed=args.seed)
        print(f"simulate: {len(frame)} administrations, {frame['episode_id'].nunique()} episodes "
              f"({time.perf_counter() - start:.1f} s)")  # fmt: skip
        start = time.perf_counter()
        agency, admin = load(frame, args.therapists)
        print(f"bulk import into PostgreSQL: {time.perf_counter() - start:.1f} s")

    from django.db import connection
    from django.test import Client as HttpClient
    from django.test.utils import CaptureQueriesContext

    from alliance.reports import services
    from alliance.reports.data import ReportFilter, administrations_frame, scoped_episodes

    report_filter = ReportFilter()
    data_time, table = best_of(
        "administrations_frame (data layer -> DataFrame)",
        lambda: administrations_frame(scoped_episodes(admin, report_filter), report_filter.instruments()),
    )  # fmt: skip
    service_time, report = best_of(
        "effectiveness_report (data + indices + therapists)",
        lambda: services.effectiveness_report(admin, report_filter, "quarter"),
    )
    http = HttpClient()
    http.force_login(admin)

    def page():
        response = http.get("/reports/effectiveness/")
        assert response.status_code == 200, response.status_code
        return response

    with CaptureQueriesContext(connection):
        services.effectiveness_report(admin, report_filter, "quarter")
        count = len(connection.queries)
    page_time, _ = best_of("GET /reports/effectiveness/ (whole page)", page)

    # Where the report's time goes (each step best of 3, same data).
    from alliance.reports.data import (
        ADMINISTRATION_FIELDS,
        EPISODE_FIELDS,
        SESSION_FIELDS,
        administration_queryset,
        episode_queryset,
        fetch_columns,
        session_queryset,
    )
    from alliance.science.effectiveness import effectiveness, episode_table
    from alliance.science.therapists import therapist_effects

    episodes = scoped_episodes(admin, report_filter)
    best_of(
        "  step: fetch episodes (one query)",
        lambda: fetch_columns(episode_queryset(episodes), EPISODE_FIELDS),
    )
    best_of(
        "  step: fetch administrations (one query, no join)",
        lambda: fetch_columns(
            administration_queryset(None, agency.pk, report_filter.instruments()),
            ADMINISTRATION_FIELDS,
        ),
    )
    best_of(
        "  step: fetch sessions (one query, one string_agg text)",
        lambda: fetch_columns(session_queryset(None, agency.pk), SESSION_FIELDS, stream=False),
    )
    model = services.active_model(agency.pk, "ors")
    _, outcomes = best_of(
        "  step: episode_table (built once per report)",
        lambda: episode_table(table, "ors", "client"),
    )
    best_of(
        "  step: effectiveness(by='quarter', episodes=table)",
        lambda: effectiveness(table, by="quarter", model=model, episodes=outcomes),
    )
    best_of("  step: therapist_effects", lambda: therapist_effects(outcomes))
    best_of(
        "  step: attendance (one aggregate query, whole agency)",
        lambda: services._attendance(episodes, agency.pk),
    )
    best_of("  step: therapist choices (filter form)", lambda: services.therapist_choices(admin))

    def baseline():
        with connection.cursor() as cursor:
            cursor.execute(BASELINE_SQL, {"agency": agency.pk})
            columns = [c.name for c in cursor.description]
            return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    sql_time, rows = best_of("baseline: one hand-written SQL query", baseline)

    def baseline_more_memory():
        # The same query given room to sort and hash in memory (default work_mem is 4MB).
        from django.db import transaction

        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL work_mem = '64MB'")
            return baseline()

    sql_time_64, _ = best_of("baseline with work_mem = 64MB", baseline_more_memory)
    overall_sql = rows[0]
    overall = report.result["overall"]
    checks = {
        "n_episodes": (overall["n_episodes"], overall_sql["n_episodes"]),
        "n_used": (overall["n_used"], overall_sql["n_used"]),
        "change_mean": (overall["change_mean"], float(overall_sql["change_mean"])),
        "es": (overall["es"]["value"], float(overall_sql["es"])),
        "reliable_improvement": (
            overall["reliable_improvement"]["proportion"],
            float(overall_sql["reliable_improvement"]),
        ),
        "quarters": (len(report.result["groups"]), len(rows) - 1),
    }
    same = all(abs(a - b) <= 1e-9 * max(1.0, abs(b)) for a, b in checks.values())
    print("same numbers (report vs SQL):", same, {k: v[0] for k, v in checks.items()})
    print(f"rows in the report table: {len(table)}; queries for the report: {count}")
    print(
        f"ratio page / SQL:    {page_time / sql_time:5.1f}x  (vs SQL with 64MB: {page_time / sql_time_64:.1f}x)"
    )
    print(f"ratio report / SQL:  {service_time / sql_time:5.1f}x")
    print(f"ratio data layer / SQL: {data_time / sql_time:5.1f}x")

    episodes = scoped_episodes(admin, report_filter)
    plans = ["-- baseline\n" + explain(BASELINE_SQL, {"agency": agency.pk})]
    for label, queryset in (
        ("report: episodes", episode_queryset(episodes)),
        ("report: administrations", administration_queryset(None, agency.pk, report_filter.instruments())),
        ("report: sessions", session_queryset(None, agency.pk)),
    ):  # fmt: skip
        sql, params = queryset.query.sql_with_params()
        plans.append(f"-- {label}\n{sql}\n{explain(sql, params)}")
    text = "\n\n".join(plans)
    if args.explain:
        Path(args.explain).write_text(text + "\n")
    else:
        print(text)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
