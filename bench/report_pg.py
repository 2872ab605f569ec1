"""Benchmark: the agency effectiveness report over 1,000,000 administrations in PostgreSQL.

    .venv/bin/python bench/report_pg.py [--episodes 100000] [--therapists 500] [--repeat 3]
        [--reuse [--copies K]] [--with-index] [--explain FILE]
    (or: .venv/bin/python -m bench report_pg)

In one run: simulate the administrations table (``alliance.science.simulate``), create a scratch
database (``BENCH_DATABASE_URL``, default postgres://postgres@127.0.0.1:5432/alliance_bench_reports;
dropped and re-created), migrate it, write one agency's clients, episodes, sessions and
administrations into it with the bulk import, ``VACUUM ANALYZE`` (as autovacuum would), then time
(best of ``--repeat``)

* the whole page ``GET /reports/effectiveness/`` through Django's test client (template, charts)
  and the baseline, interleaved: one hand-written SQL query computing every number the report
  shows, per quarter and overall (``BASELINE_SQL``), also with JIT off (the faster counts);
* ``administrations_frame`` (the data layer) and ``services.effectiveness_report``, and the steps;
* with ``--with-index``, the page with a covering index built in a rolled-back transaction;

checks that the report and the SQL give the same numbers (32 per quarter, 35 overall), prints the
ratios, time and memory per million rows (peak RSS of a fresh process rendering the page), and
EXPLAIN (ANALYZE, BUFFERS) of the report's queries and of the baseline. ``--reuse`` keeps the
loaded database (and applies new migrations); ``--copies K`` first makes its history K times as
large in SQL (scale runs). Targets (issue 16): page <= 1.5x the SQL and < 1 s. Results go in
docs/performance.md (section "Agency report on PostgreSQL").
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
# An index the report's administrations query can be answered from alone (index-only scan).
# Measured with --with-index; it did not pay, so it is not in the schema (docs/performance.md).
COVERING_INDEX = (
    "CREATE INDEX bench_administration_covering ON care_administration "
    "(agency_id, instrument, rater) INCLUDE (episode_id, session_id, total)"
)

# One hand-written query that computes, per quarter of the first score and overall (ROLLUP), the
# numbers the report shows: episodes, clients, used, mean/SD of intake and change, ES, SAES (the
# severity adjustment fitted in the query), reliable improvement/deterioration, clinically
# significant change (the age band's cutoff), target reached by the ETR model's formula, drop-out,
# last colours, sessions and days of closed episodes, the alliance (sessions, mean, SD, first
# score, below cutoff, early alliance-change r), collateral raters, and attendance. Instrument
# cutoffs and the model's parameters are query parameters (configuration, as for the report).
BASELINE_SQL = """
WITH scores AS (
    -- the outcome and alliance scores (every rater) with their session's number and date,
    -- ranked within each episode, instrument and rater by session number
    SELECT a.episode_id, a.instrument, a.rater, a.total, s.number, s.date,
           row_number() OVER w AS k,
           count(*) OVER w AS n,
           s.number - first_value(s.number) OVER w AS since_first
    FROM care_administration a JOIN care_session s ON s.id = a.session_id
    WHERE a.agency_id = %(agency)s AND a.instrument IN (%(outcome)s, %(alliance)s)
    WINDOW w AS (PARTITION BY a.episode_id, a.instrument, a.rater ORDER BY s.number
                 ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
),
per_episode AS (
    -- one row per episode with client outcome scores: intake, final, sessions, days, and its
    -- alliance scores' count, sum, sum of squares, below cutoff, first, early mean; collateral
    SELECT episode_id,
           count(*) FILTER (WHERE o) AS n_scores,
           max(total) FILTER (WHERE o AND k = 1) AS intake,
           max(total) FILTER (WHERE o AND k = n) AS final,
           max(number) FILTER (WHERE o AND k = n) - max(number) FILTER (WHERE o AND k = 1) + 1 AS span,
           max(date) FILTER (WHERE o AND k = 1) AS first_date,
           max(date) FILTER (WHERE o AND k = n) - max(date) FILTER (WHERE o AND k = 1) AS days,
           count(*) FILTER (WHERE al) AS alliance_n,
           sum(total) FILTER (WHERE al) AS alliance_sum,
           sum(total * total) FILTER (WHERE al) AS alliance_squares,
           count(*) FILTER (WHERE al AND total < %(alliance_cutoff)s) AS below,
           max(total) FILTER (WHERE al AND k = 1) AS first_total,
           avg(total) FILTER (WHERE al AND since_first < %(early)s) AS early,
           count(DISTINCT rater) FILTER (WHERE instrument = %(outcome)s AND rater <> 'client') AS collateral
    FROM (
        SELECT *, instrument = %(outcome)s AND rater = 'client' AS o,
               instrument = %(alliance)s AND rater = 'client' AS al
        FROM scores
    ) x
    GROUP BY episode_id
    HAVING count(*) FILTER (WHERE o) > 0
),
flags AS (
    SELECT p.*, e.ending <> '' AS closed, e.ending = 'unilateral' AS unilateral, c.id AS client_id,
           to_char(p.first_date, 'YYYY"Q"Q') AS quarter,
           p.n_scores >= 2 AS used, p.final - p.intake AS change,
           p.intake < coalesce(cut.cutoff, %(default_cutoff)s) AS clinical_intake,
           p.final < coalesce(cut.cutoff, %(default_cutoff)s) AS clinical_final,
           -- the ETR model's target and negative lines at the episode's last session
           p.intake + (%(slope_at_centre)s + %(intake_slope)s * (p.intake - %(intake_centre)s)) * ln(p.span) AS expected,
           sqrt(greatest(%(var_intercept)s + 2 * %(cov_intercept_slope)s * ln(p.span)
                + %(var_slope)s * ln(p.span) ^ 2 + %(var_residual)s, 0)) * (p.span > 1)::int AS spread
    FROM per_episode p
    JOIN care_episode e ON e.id = p.episode_id
    JOIN care_client c ON c.id = e.client_id
    LEFT JOIN unnest(%(bands)s::text[], %(band_cutoffs)s::float8[]) AS cut(band, cutoff)
        ON cut.band = c.age_band
),
categorised AS (
    SELECT f.*,
           used AND change >= %(reliable)s - 1e-9 AS improved,
           used AND -change >= %(reliable)s - 1e-9 AS deteriorated,
           used AND final >= greatest(least(expected + %(z_target)s * spread, %(score_max)s), %(score_min)s) AS reached,
           CASE WHEN NOT used THEN 'grey'
                WHEN final >= greatest(least(expected + %(z_target)s * spread, %(score_max)s), %(score_min)s) THEN 'green'
                WHEN final >= greatest(least(expected + %(z_negative)s * spread, %(score_max)s), %(score_min)s) THEN 'orange'
                ELSE 'red' END AS colour
    FROM flags f
),
reference AS (
    -- the severity adjustment: change regressed on intake over used clinical-range episodes
    SELECT regr_intercept(change, intake) AS intercept, regr_slope(change, intake) AS slope,
           avg(change) AS mean_change, stddev_samp(intake) AS sd_intake
    FROM categorised WHERE used AND clinical_intake
),
attendance AS (
    SELECT count(*) AS sessions,
           count(*) FILTER (WHERE attendance = 'cancelled') AS cancelled,
           count(*) FILTER (WHERE attendance = 'no_show') AS no_show
    FROM care_session
    WHERE agency_id = %(agency)s AND kind = 'individual' AND attendance <> ''
)
SELECT quarter,
       count(*) AS n_episodes,
       count(DISTINCT client_id) AS n_clients,
       count(*) FILTER (WHERE used) AS n_used,
       avg(intake) FILTER (WHERE used) AS intake_mean,
       stddev_samp(intake) FILTER (WHERE used) AS intake_sd,
       avg(change) FILTER (WHERE used) AS change_mean,
       stddev_samp(change) FILTER (WHERE used) AS change_sd,
       avg(change) FILTER (WHERE used) / stddev_samp(intake) FILTER (WHERE used) AS es,
       avg((r.mean_change + change - (r.intercept + r.slope * intake)) / r.sd_intake)
           FILTER (WHERE used AND clinical_intake) AS saes,
       count(*) FILTER (WHERE improved) AS improved,
       count(*) FILTER (WHERE deteriorated) AS deteriorated,
       count(*) FILTER (WHERE used AND clinical_intake) AS csc_base,
       count(*) FILTER (WHERE improved AND clinical_intake AND NOT clinical_final) AS recovered,
       count(*) FILTER (WHERE reached) AS reached,
       count(*) FILTER (WHERE closed) AS n_closed,
       count(*) FILTER (WHERE closed AND unilateral AND NOT reached) AS dropout,
       count(*) FILTER (WHERE colour = 'green') AS green,
       count(*) FILTER (WHERE colour = 'orange') AS orange,
       count(*) FILTER (WHERE colour = 'red') AS red,
       count(*) FILTER (WHERE colour = 'grey') AS grey,
       count(*) FILTER (WHERE closed AND unilateral AND colour = 'green') AS unilateral_green,
       count(*) FILTER (WHERE closed AND colour = 'green') AS closed_green,
       avg(n_scores) FILTER (WHERE closed) AS sessions_mean,
       avg(days) FILTER (WHERE closed) AS days_mean,
       sum(alliance_n) AS alliance_n,
       sum(alliance_sum) / nullif(sum(alliance_n), 0) AS alliance_mean,
       sqrt((sum(alliance_squares) - sum(alliance_sum) ^ 2 / nullif(sum(alliance_n), 0))
            / nullif(sum(alliance_n) - 1, 0)) AS alliance_sd,
       avg(first_total) AS alliance_intake_mean,
       sum(below) AS alliance_below,
       corr(early, change) FILTER (WHERE used) AS early_r,
       count(early) FILTER (WHERE used) AS early_n,
       sum(collateral) AS collateral,
       (SELECT sessions FROM attendance) AS sessions,
       (SELECT cancelled FROM attendance) AS cancelled,
       (SELECT no_show FROM attendance) AS no_show
FROM categorised CROSS JOIN reference r
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


def replicate(agency_id: int, copies: int) -> None:
    """Make the agency's history ``copies`` times as large: copies of its clients, episodes,
    sessions and administrations with new ids (same dates, scores and therapists).

    For the scale runs: seeding 3M administrations through the bulk import takes too long on a
    loaded 2-core machine; copying rows in SQL takes a minute or two.
    """
    from django.db import connection, transaction

    from alliance.care.models import Administration, Client, Episode, Session

    # Every column of each model (from its metadata, so a new field is copied too).
    tables = {
        model._meta.db_table: ", ".join(f.column for f in model._meta.concrete_fields)
        for model in (Client, Episode, Session, Administration)
    }
    changed = {
        "public_id": "left(md5(public_id || '-' || %(k)s), 32)",
        "display_code": "display_code || '-' || %(k)s",
        "idempotency_key": "md5(idempotency_key || '-' || %(k)s)",
        "client_id": "client_id + %(care_client)s * %(k)s",
        "episode_id": "episode_id + %(care_episode)s * %(k)s",
        "session_id": "session_id + %(care_session)s * %(k)s",
    }
    with transaction.atomic(), connection.cursor() as cursor:
        offsets = {}
        for table in tables:
            cursor.execute(f"SELECT max(id) FROM {table}")  # nosec B608 (fixed names)
            offsets[table] = cursor.fetchone()[0]
        for k in range(1, copies):
            for table, columns in tables.items():
                names = [c.strip() for c in columns.split(",")]
                values = [
                    f"id + {offsets[table]} * %(k)s" if c == "id" else changed.get(c, c)
                    for c in names
                ]
                cursor.execute(
                    f"INSERT INTO {table} ({columns}) SELECT {', '.join(values)} "  # nosec B608
                    f"FROM {table} WHERE agency_id = %(agency)s AND id <= %(last)s",
                    {**offsets, "k": k, "agency": agency_id, "last": offsets[table]},
                )
                print(f"copy {k}: {table} {cursor.rowcount:,} rows", flush=True)
        for table in tables:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"  # nosec B608
            )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def best_of(label: str, function, repeat: int = 3):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    show(label, times)
    return min(times), result


def explain(sql: str, params) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def baseline_params(agency_id: int, instrument: str = "ors") -> dict:
    """The baseline's parameters: the instruments' cutoffs and the agency's ETR model."""
    from scipy import special

    from alliance.reports import services
    from alliance.science.effectiveness import ALLIANCE_FOR_OUTCOME, EARLY_ALLIANCE_SESSIONS
    from alliance.science.instruments import get_instrument

    definition = get_instrument(instrument)
    alliance = ALLIANCE_FOR_OUTCOME[instrument]
    model = services.model_or_none(agency_id, instrument)
    assert model is not None and definition.higher_is_better, "the baseline covers ORS-like scales"
    p = model.parameters
    return {
        "agency": agency_id,
        "outcome": instrument,
        "alliance": alliance,
        "alliance_cutoff": get_instrument(alliance).alliance_cutoff,
        "early": EARLY_ALLIANCE_SESSIONS,
        "reliable": definition.reliable_change,
        "default_cutoff": definition.clinical_cutoff(None),
        "bands": [band.name for band in definition.age_bands],
        "band_cutoffs": [band.clinical_cutoff for band in definition.age_bands],
        "slope_at_centre": p.slope_at_centre,
        "intake_slope": p.intake_slope,
        "intake_centre": p.intake_centre,
        "var_intercept": p.var_intercept,
        "cov_intercept_slope": p.cov_intercept_slope,
        "var_slope": p.var_slope,
        "var_residual": p.var_residual,
        "z_target": float(special.ndtri(model.target_percentile / 100.0)),
        "z_negative": float(special.ndtri(model.negative_percentile / 100.0)),
        "score_min": model.score_min,
        "score_max": model.score_max,
    }


def report_numbers(summary: dict) -> dict[str, float]:
    """The numbers of one report summary (overall or a quarter) that the baseline computes."""
    alliance = summary["alliance"] or {}
    colours = summary["last_colour"] or {}
    unilateral = summary["unilateral_by_last_colour"]["green"]
    return {
        "n_episodes": summary["n_episodes"],
        "n_clients": summary["n_clients"],
        "n_used": summary["n_used"],
        "intake_mean": summary["intake_mean"],
        "intake_sd": summary["intake_sd"],
        "change_mean": summary["change_mean"],
        "change_sd": summary["change_sd"],
        "es": summary["es"]["value"],
        "saes": summary["saes"]["value"],
        "improved": summary["reliable_improvement"]["count"],
        "deteriorated": summary["reliable_deterioration"]["count"],
        "csc_base": summary["clinically_significant"]["n"],
        "recovered": summary["clinically_significant"]["count"],
        "reached": summary["reached_target"]["count"],
        "n_closed": summary["n_closed"],
        "dropout": summary["dropout"]["count"],
        **{colour: colours.get(colour) for colour in ("green", "orange", "red", "grey")},
        "unilateral_green": unilateral["count"],
        "closed_green": unilateral["n"],
        "sessions_mean": summary["sessions"]["value"],
        "days_mean": summary["days"]["value"],
        "alliance_n": alliance.get("n_sessions"),
        "alliance_mean": alliance.get("mean"),
        "alliance_sd": alliance.get("sd"),
        "alliance_intake_mean": alliance.get("intake_mean"),
        "alliance_below": (alliance.get("below_cutoff") or {}).get("count"),
        "early_r": (alliance.get("early_outcome_r") or {}).get("value"),
        "early_n": (alliance.get("early_outcome_r") or {}).get("n"),
        "collateral": sum((summary["collateral_raters"] or {}).values()),
    }


def differences(report, rows: list[dict]) -> list[str]:
    """Where the report and the baseline's rows differ (relative 1e-9); [] when they agree."""
    result = report.result
    summaries = {None: result["overall"], **result["groups"]}
    found = []
    if {row["quarter"] for row in rows} != set(summaries):
        found.append(f"groups: {sorted(map(str, summaries))} vs {[r['quarter'] for r in rows]}")
    attendance = report.attendance
    expected = {
        "sessions": attendance["sessions"],
        "cancelled": attendance["cancelled"]["count"],
        "no_show": attendance["no_show"]["count"],
    }
    for row in rows:
        if row["quarter"] not in summaries:
            continue
        numbers = report_numbers(summaries[row["quarter"]])
        if row["quarter"] is None:
            numbers.update(expected)
        for name, value in numbers.items():
            other = row[name]
            if value is None or other is None:
                if value is not None or other is not None:
                    found.append(f"{row['quarter']} {name}: {value} vs {other}")
                continue
            a, b = float(value), float(other)
            if abs(a - b) > 1e-9 * max(1.0, abs(b)):
                found.append(f"{row['quarter']} {name}: {a!r} vs {b!r}")
    return found


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def status_mb(name: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM: peak RSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def current_rss_mb() -> float:
    return status_mb("VmRSS")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench report_pg", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--therapists", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per step (best of)")
    parser.add_argument("--explain", default="", help="write the EXPLAIN output to this file")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse the database loaded by an earlier run"
    )
    parser.add_argument(
        "--with-index",
        action="store_true",
        help="also time the page and the data layer with a covering index on the "
        "administrations (built in a transaction rolled back afterwards)",
    )
    parser.add_argument(
        "--copies",
        type=int,
        default=1,
        help="with --reuse: first make the agency's history this many times as large (SQL copies)",
    )
    parser.add_argument(
        "--memory-only",
        action="store_true",
        help="(internal) render the page once and print the process's RSS as JSON",
    )
    if argv is None and __name__ != "__main__":
        argv = []  # run by `python -m bench report_pg`: the names on the command line are not ours
    args = parser.parse_args(argv)
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    if args.memory_only:
        return memory_only(url)
    if not args.reuse:
        recreate_database(url)
    setup_django(url)
    from django.core.management import call_command
    from django.db import connection

    # Migrations added since the data was loaded (e.g. an index) are applied to it.
    call_command("migrate", verbosity=0)
    if args.reuse:
        from alliance.accounts.models import Agency, User

        agency = Agency.objects.get(name="Benchmark")
        admin = User.objects.get(username="bench-admin")
        if args.copies > 1:
            start = time.perf_counter()
            replicate(agency.pk, args.copies)
            print(f"{args.copies} copies of the history: {time.perf_counter() - start:.1f} s")
        with connection.cursor() as cursor:
            # As autovacuum keeps a production table: statistics fresh, the visibility map set
            # (which index-only scans need).
            cursor.execute("VACUUM ANALYZE")
    else:
        from alliance.science.simulate import simulate

        start = time.perf_counter()
        frame = simulate(args.episodes, args.therapists, seed=args.seed)
        print(f"simulate: {len(frame)} administrations, {frame['episode_id'].nunique()} episodes "
              f"({time.perf_counter() - start:.1f} s)")  # fmt: skip
        start = time.perf_counter()
        agency, admin = load(frame, args.therapists)
        print(f"bulk import into PostgreSQL: {time.perf_counter() - start:.1f} s")
        del frame

    from django.test import Client as HttpClient
    from django.test.utils import CaptureQueriesContext

    from alliance.care.models import Administration
    from alliance.reports import services
    from alliance.reports.data import ReportFilter, administrations_frame, scoped_episodes

    n_rows = Administration.objects.filter(agency=agency).count()
    print(f"administrations in the database: {n_rows:,}; load average {load_average()}")
    repeat = args.repeat
    report_filter = ReportFilter()
    http = HttpClient()
    http.force_login(admin)

    def data_layer():
        episodes = scoped_episodes(admin, report_filter)
        return administrations_frame(episodes, report_filter.instruments())

    def page():
        response = http.get("/reports/effectiveness/")
        assert response.status_code == 200, response.status_code
        return response

    params = baseline_params(agency.pk)

    def baseline():
        with connection.cursor() as cursor:
            cursor.execute(BASELINE_SQL, params)
            columns = [c.name for c in cursor.description]
            return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    def baseline_without_jit():
        # PostgreSQL compiles expressions of queries whose estimated cost exceeds jit_above_cost
        # (100,000): the baseline's cost does at 1M rows, and compiling can cost more than it
        # saves. The faster of the two runs counts as the baseline.
        from django.db import transaction

        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
            return baseline()

    page()  # warm: the first request imports the views, templates and charts
    # Interleaved: the page and the SQL alternate, so a burst of load from other jobs hits all.
    page_times, sql_times, sql_no_jit_times = [], [], []
    for _ in range(repeat):
        for function, times in (
            (page, page_times),
            (baseline, sql_times),
            (baseline_without_jit, sql_no_jit_times),
        ):
            start = time.perf_counter()
            result = function()
            times.append(time.perf_counter() - start)
            if function is baseline:
                rows = result
    page_time, sql_time = min(page_times), min(sql_times + sql_no_jit_times)
    show("GET /reports/effectiveness/ (whole page)", page_times)
    show("baseline: one hand-written SQL query", sql_times)
    show("baseline with jit = off", sql_no_jit_times)
    data_time, table = best_of(
        "administrations_frame (data layer -> DataFrame)", data_layer, repeat
    )
    service_time, report = best_of(
        "effectiveness_report (data + indices + therapists)",
        lambda: services.effectiveness_report(admin, report_filter, "quarter"),
        repeat,
    )
    with CaptureQueriesContext(connection):
        services.effectiveness_report(admin, report_filter, "quarter")
        count = len(connection.queries)

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
    administrations = administration_queryset(None, agency.pk, report_filter.instruments())
    best_of(
        "  step: fetch administrations (one query, no join)",
        lambda: fetch_columns(administrations, ADMINISTRATION_FIELDS),
    )
    best_of(
        "  step: fetch sessions (one query)",
        lambda: fetch_columns(session_queryset(None, agency.pk), SESSION_FIELDS),
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

    if args.with_index:
        # The covering index docs/performance.md measured (and left out): built inside a
        # transaction that is rolled back; the page's queries run in it, on this connection.
        # The visibility map set by VACUUM belongs to the table, so index-only scans work at once.
        from django.db import transaction

        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(COVERING_INDEX)
                cursor.execute("ANALYZE care_administration")
            best_of("with the covering index: GET page", page, repeat)
            best_of("with the covering index: data layer", data_layer, repeat)
            transaction.set_rollback(True)
        best_of("without it again: GET page", page, repeat)

    found = differences(report, rows)
    print("same numbers (report vs SQL, overall and per quarter):", not found, found[:10])
    print(f"rows in the report table: {len(table):,}; queries for the report: {count}")
    print(f"ratio page / SQL:    {page_time / sql_time:5.2f}x")
    print(f"ratio report / SQL:  {service_time / sql_time:5.2f}x")
    print(f"ratio data layer / SQL: {data_time / sql_time:5.2f}x")
    memory = subprocess_memory(url)
    per_million = 1e6 / n_rows
    print(
        f"scale: {n_rows / 1e6:.2f}M administrations; page {page_time:.2f} s "
        f"({page_time * per_million:.2f} s per million); SQL {sql_time:.2f} s; "
        f"peak RSS of a process rendering the page once {memory['first_peak_mb']:.0f} MB; "
        f"a second page from {memory['start_mb']:.0f} MB peaks at {memory['peak_mb']:.0f} MB "
        f"({(memory['peak_mb'] - memory['start_mb']) * per_million:.0f} MB per million); "
        f"load average {load_average()}"
    )

    plans = ["-- baseline\n" + explain(BASELINE_SQL, params)]
    for label, queryset in (
        ("report: episodes", episode_queryset(episodes)),
        ("report: administrations", administrations),
        ("report: sessions", session_queryset(None, agency.pk)),
    ):
        sql, query_params = queryset.query.sql_with_params()
        plans.append(f"-- {label}\n{sql}\n{explain(sql, query_params)}")
    text = "\n\n".join(plans)
    if args.explain:
        Path(args.explain).write_text(text + "\n")
    else:
        print(text)
    return 0 if not found else 1


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def show(label: str, times: list[float]) -> None:
    print(f"{label:<58} best {min(times):6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times)})")


def memory_only(url: str) -> int:
    """In this (fresh) process: the page once (imports, caches), then again with the peak RSS
    reset (``/proc/self/clear_refs``); print the process's peak RSS and what the second page
    added to the RSS it started from, as JSON."""
    import gc
    import json

    setup_django(url)
    from django.test import Client as HttpClient

    from alliance.accounts.models import User

    http = HttpClient()
    http.force_login(User.objects.get(username="bench-admin"))
    for _ in range(2):
        response = http.get("/reports/effectiveness/")
        assert response.status_code == 200, response.status_code
        if not _:
            first_peak = peak_rss_mb()
            del response
            gc.collect()
            start = current_rss_mb()
            Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    print(
        json.dumps({"first_peak_mb": first_peak, "start_mb": start, "peak_mb": status_mb("VmHWM")})
    )
    return 0


def subprocess_memory(url: str) -> dict:
    """``memory_only`` in a child process, so that this process's own arrays do not count."""
    import json
    import subprocess

    output = subprocess.run(
        [sys.executable, __file__, "--memory-only"],
        env={**os.environ, "BENCH_DATABASE_URL": url, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


if __name__ == "__main__":
    sys.exit(main())
