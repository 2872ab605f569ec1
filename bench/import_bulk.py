"""Benchmark of the bulk import: 100,000 administrations (target: commit in under 60 s).

Simulates about 9,200 episodes (``--rows`` administrations, default 100,000, whole episodes) of
20 therapists, writes them to a CSV in a temporary directory, and imports them into a fresh
database: a throw-away SQLite file, or PostgreSQL with ``--postgres URL`` (a scratch database is
created and dropped). It times, in one run:

* ``read_csv`` of the file (text columns);
* the dry run (every check, the report; nothing written);
* the commit (validation again, then bulk inserts, summaries and current alerts, one transaction);
* importing the same file again (everything unchanged: the idempotency check);
* a baseline in the same run: the same rows (8 columns) written into a bare table on the same
  connection in one go (``executemany`` on SQLite, ``COPY`` on PostgreSQL), i.e. the least it
  costs to store the rows at all.

It prints the ratio commit/baseline and checks that the database holds exactly the rows of the
file. Run: ``python -m bench import_bulk`` (``--rows``, ``--postgres``).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 60.0


def setup_django(folder: Path, postgres: str | None) -> None:
    if postgres:
        os.environ["DATABASE_URL"] = postgres
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'bench.sqlite3'}"
    os.environ.setdefault("ALLIANCE_INSECURE_DEV_KEY", "1")
    os.environ["DJANGO_SETTINGS_MODULE"] = "alliance.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def scratch_postgres(base_url: str) -> tuple[str, str]:
    """Create a scratch database next to ``base_url``; returns (its URL, its name)."""
    import psycopg

    name = f"alliance_bench_{os.getpid()}"
    with psycopg.connect(base_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return base_url.rsplit("/", 1)[0] + "/" + name, name


def drop_postgres(base_url: str, name: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(base_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')


def make_table(rows: int):
    import pandas as pd

    from alliance.science.simulate import simulate

    table = simulate(episodes=max(10, rows // 10), therapists=20, seed=7)
    while len(table) < rows:  # top up with more episodes (same simulator, another seed)
        more = simulate(episodes=max(10, (rows - len(table)) // 9), therapists=20, seed=len(table))
        more["episode_id"] = "X" + more["episode_id"].astype(str)
        more["client_id"] = "X" + more["client_id"].astype(str)
        table = pd.concat([table, more], ignore_index=True)
    # Whole episodes only, as close to ``rows`` as possible without going over.
    sizes = table.groupby("episode_id", sort=False).size()
    keep = sizes[sizes.cumsum() <= rows].index
    table = table[table["episode_id"].isin(keep)].reset_index(drop=True)
    table["therapist_id"] = table["therapist_id"].astype(str).str.lower()
    table["team_id"] = ""
    return table


def baseline_insert(table) -> float:
    """The rows into a bare table in one go: the floor for writing them at all."""
    from django.db import connection, transaction

    from alliance.science.table import REQUIRED_COLUMNS

    columns = list(REQUIRED_COLUMNS)
    rows = [
        (str(a), str(b), str(c), int(d), str(e)[:10], str(f), str(g), float(h))
        for a, b, c, d, e, f, g, h in table[columns].itertuples(index=False)
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_rows (client_id varchar(40), episode_id varchar(100), "
            "therapist_id varchar(150), session_number integer, session_date varchar(10), "
            "instrument varchar(20), rater varchar(30), total double precision)"
        )
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # COPY: the fastest way in
            with cursor.cursor.copy("COPY bench_rows FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(
                "INSERT INTO bench_rows VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", rows
            )
    elapsed = time.perf_counter() - start
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_rows")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench import_bulk")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--postgres", metavar="URL", help="e.g. postgres://postgres@127.0.0.1/x")
    args = parser.parse_args(argv if argv is not None else [])
    with tempfile.TemporaryDirectory() as folder:
        database = None
        if args.postgres:
            url, database = scratch_postgres(args.postgres)
            setup_django(Path(folder), url)
        else:
            setup_django(Path(folder), None)
        try:
            return run(args, Path(folder))
        finally:
            if database:
                drop_postgres(args.postgres, database)


def run(args, folder: Path) -> int:
    from django.db import connection

    from alliance.accounts.models import Agency, Membership, Role, User
    from alliance.api.imports import import_table, read_csv
    from alliance.care.models import Administration, Episode

    start = time.perf_counter()
    table = make_table(args.rows)
    simulate_s = time.perf_counter() - start
    path = folder / "history.csv"
    table.to_csv(path, index=False)
    print(
        f"{connection.vendor}: {len(table):,} rows, {table['episode_id'].nunique():,} episodes "
        f"(simulated in {simulate_s:.1f} s)",
        flush=True,
    )
    agency = Agency.objects.create(name="Bench")
    admin = User.objects.create(username="bench-admin")
    Membership.objects.create(agency=agency, user=admin, role=Role.ADMIN)
    for username in sorted(set(table["therapist_id"])):
        user = User.objects.create(username=username)
        Membership.objects.create(agency=agency, user=user, role=Role.THERAPIST)

    timings: dict[str, float] = {}

    def timed(name, function):
        begin, cpu = time.perf_counter(), time.process_time()
        value = function()
        timings[name] = time.perf_counter() - begin
        cpu = time.process_time() - cpu
        print(f"  {name:<34} {timings[name]:7.2f} s  (CPU, this process: {cpu:6.2f} s)")
        return value

    content = path.read_bytes()
    frame = timed("read_csv", lambda: read_csv(content))
    dry = timed("dry run (validate, report)", lambda: import_table(admin, agency, frame))
    assert dry.ok, dry.errors[:5]
    done = timed(
        "commit (one transaction)",
        lambda: import_table(admin, agency, read_csv(io.BytesIO(content).read()), dry_run=False),
    )
    assert done.committed and done.administrations == len(table)
    again = timed(
        "same file again (idempotent)",
        lambda: import_table(admin, agency, read_csv(content), dry_run=False),
    )
    assert again.unchanged == len(table) and again.administrations == 0
    baseline = timed("baseline: bare insert of the rows", lambda: baseline_insert(table))
    print(f"    of which the insert itself          {baseline:7.2f} s (the ratios use this)")
    stored = Administration.objects.filter(agency=agency).count()
    episodes = Episode.objects.filter(agency=agency).count()
    print(
        f"stored {stored:,} administrations in {episodes:,} episodes "
        f"({'matches' if stored == len(table) else 'DOES NOT MATCH'} the file)"
    )
    total = timings["read_csv"] + timings["commit (one transaction)"]
    print(
        f"read + commit: {total:.1f} s (target < {TARGET_SECONDS:.0f} s: "
        f"{'met' if total < TARGET_SECONDS else 'NOT met'})"
    )
    print(f"ratio commit / baseline insert: {timings['commit (one transaction)'] / baseline:.1f}x")
    print(
        f"ratio dry run / baseline insert: {timings['dry run (validate, report)'] / baseline:.1f}x"
    )
    return 0 if stored == len(table) and total < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
