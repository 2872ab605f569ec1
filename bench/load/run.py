"""Load test: 50 concurrent users against gunicorn + PostgreSQL on loopback (locust, headless).

    python -m bench.load.run [--users 50] [--seconds 30] [--port 8765]

Phases, one after the other against the same server and database:
  1. paced-bare   each user posts two bare inserts every 10 s (--pace 0.1; the baseline)
  2. paced-app    each user opens the caseload and posts an ORS and an SRS every 10 s
  3. flat-bare    bare inserts as fast as the server answers (anonymous requests)
  4. flat-bare-signed-in  the same, carrying the therapists' session cookies
  5. flat-audited the floor (bench/load/urls.py): signed in, the visibility check, one insert
                  and its audit event in one transaction: what every clinical write must do
  6. flat-app     rating posts as fast as the server answers (no caseload)
The server runs as in production: gunicorn with the workers `alliance serve` starts (sync, two
per core plus one, as docs/deployment.md sizes them; ``--server gthread`` for the threaded
workers this bench used before) plus one ``alliance worker`` (database task queue,
niced: background work yields the CPU to requests), as production runs one; a rating's summary
and alerts are written in its own request, and the worker has work only when such a follow-up
failed there. After the phases the queue is drained and every episode's stored summary is
compared with one recomputed from its ratings.
Checks (issue 16): 0 errors, ratings sent == ratings stored, no queued follow-up failed,
summaries right, audit chain intact, p95 < 100 ms (paced-app: all its requests, caseload and
submits together, as locust aggregates them; the worst endpoint's p95 is printed too), and
flat-out submit throughput
>= 80% of the audited floor's in the same run. For each flat-out phase it prints CPU ms per
request of each process class (gunicorn workers, the PostgreSQL backends of gunicorn and of the
task worker, the task worker, locust, the whole machine): ``CpuMeter``. The ratios against
the bare inserts (issue 7's criterion, replaced) are printed for information.
Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust); creates and drops the database
``$LOAD_DATABASE`` (``alliance_load`` unless set).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DB = os.environ.get("LOAD_DATABASE", "alliance_load")
PG = "postgres://postgres@127.0.0.1:5432"
# application_name of the connections of gunicorn's workers and of the task worker.
WEB_APP, TASK_APP = "alliance-load-web", "alliance-load-worker"

SEED = r"""
import datetime, json, sys
import django
django.setup()
from django.contrib.auth.hashers import make_password
from alliance.accounts.models import Agency, Role
from alliance.accounts.services import create_member
from alliance.care.models import Client, Episode, Session
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.utils.crypto import get_random_string
users, clients_each, sessions_each, password = (int(sys.argv[1]), int(sys.argv[2]),
                                                int(sys.argv[3]), sys.argv[4])
agency = Agency.objects.create(name="Load")
hashed = make_password(password)
start = datetime.date(2025, 1, 1)
plan = {"password": password, "users": []}
for u in range(users):
    user = create_member(agency, f"load{u:03d}", "", Role.THERAPIST, password_hash=hashed)
    urls = []
    for c in range(clients_each):
        client = Client.objects.create(agency=agency, display_code=f"L-{u:03d}-{c}", therapist=user)
        episode = Episode.objects.create(agency=agency, client=client, start_date=start)
        Session.objects.bulk_create([
            Session(agency=agency, episode=episode, number=n, date=start + datetime.timedelta(days=7 * n))
            for n in range(1, sessions_each + 1)
        ])
        urls += [f"/clients/{client.public_id}/sessions/{n}/" for n in range(1, sessions_each + 1)]
    # Signed in already (a session row and a CSRF secret): Argon2 logins are not what is measured.
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "alliance.accounts.backends.MemberBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    plan["users"].append({"username": user.username, "sessions": urls,
                          "session": store.session_key, "csrf": get_random_string(32)})
print(json.dumps(plan))
"""

COUNT = r"""
import json
import sys
import django
django.setup()
from django.db.models import Count
from django_tasks_db.models import DBTaskResult
from alliance.care.models import Administration, Episode
from alliance.care.services import refresh_episode_summary
from alliance.audit.services import verify
checked, broken = verify()
FIELDS = ("session_count", "last_session_date", "intake_total", "last_outcome_total",
          "last_outcome_session", "zone", "last_alliance_total", "alliance_flag")
# Episodes with ratings (the seed's bulk-created sessions never had a summary of their own).
rated = Episode.objects.filter(administrations__isnull=False).distinct()
stored = {e.pk: [getattr(e, f) for f in FIELDS] for e in rated}
wrong = 0
for episode in rated.select_related("client"):
    refresh_episode_summary(episode)
    episode.refresh_from_db(fields=FIELDS)  # compare stored values, not Python ones
    now = [getattr(episode, f) for f in FIELDS]
    if now != stored[episode.pk]:
        wrong += 1
        print("summary differs:", episode.pk, stored[episode.pk], now, file=sys.stderr)
tasks = dict(DBTaskResult.objects.values_list("status").annotate(n=Count("id")))
print(json.dumps({"stored": Administration.objects.count(), "audit_checked": checked,
                  "audit_broken": len(broken), "summaries_wrong": wrong, "tasks": tasks}))
"""


TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds user + system) of a process, None once it has gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _machine_busy() -> float:
    """CPU seconds all cores spent busy since boot (every process, other sessions' too)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / TICK


class CpuMeter:
    """CPU seconds per process class over one phase, from /proc/<pid>/stat: the gunicorn
    workers, the task worker, the PostgreSQL backends serving each (told apart by the
    application_name the bench gives their connections, ``PGAPPNAME``), locust (the waited-for
    child's rusage) and the whole machine. A backend or gunicorn worker that appears during the
    phase counts from 0; one that ends during it loses its last samples (connections live 60 s,
    longer than a phase)."""

    def __init__(self, server: subprocess.Popen, worker: subprocess.Popen):
        self.server, self.worker = server, worker

    def _backends(self) -> dict[int, str]:
        out = subprocess.run(
            [
                "psql",
                f"{PG}/{DB}",
                "-AtXc",
                "SELECT pid, application_name FROM pg_stat_activity "  # nosec B608: bench constants
                f"WHERE datname = '{DB}' AND application_name IN ('{WEB_APP}', '{TASK_APP}')",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return {int(p): a for p, a in (line.split("|") for line in out.split())}

    def backlog(self) -> int:
        """Follow-up tasks queued and not yet run."""
        out = subprocess.run(
            [
                "psql",
                f"{PG}/{DB}",
                "-AtXc",
                "SELECT count(*) FROM django_tasks_database_dbtaskresult WHERE status = 'READY'",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return int(out.strip() or 0)

    def sample(self) -> dict:
        gunicorn: dict[int, float] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                stat = _stat(int(entry.name))
                if stat and stat[0] == self.server.pid:
                    gunicorn[int(entry.name)] = stat[1]
        backends = {}
        for pid, app in self._backends().items():
            stat = _stat(pid)
            if stat:
                backends[pid] = (app, stat[1])
        worker = _stat(self.worker.pid)
        return {
            "gunicorn": gunicorn,
            "backends": backends,
            "worker": worker[1] if worker else 0.0,
            "children": resource.getrusage(resource.RUSAGE_CHILDREN),
            "machine": _machine_busy(),
            "wall": time.perf_counter(),
            "backlog": self.backlog(),
        }

    @staticmethod
    def difference(before: dict, after: dict) -> dict[str, float]:
        """CPU seconds per class between two samples."""

        def grown(then: dict, now: dict, keep=lambda v: True) -> float:
            return sum(value - then.get(pid, 0.0) for pid, value in now.items() if keep(pid))

        pg = {
            app: sum(
                cpu - (before["backends"].get(pid, (app, 0.0))[1])
                for pid, (name, cpu) in after["backends"].items()
                if name == app
            )
            for app in (WEB_APP, TASK_APP)
        }
        rusage_before, rusage_after = before["children"], after["children"]
        return {
            "gunicorn workers": grown(before["gunicorn"], after["gunicorn"]),
            "postgres for gunicorn": pg[WEB_APP],
            "task worker": after["worker"] - before["worker"],
            "postgres for the task worker": pg[TASK_APP],
            "locust": (rusage_after.ru_utime + rusage_after.ru_stime)
            - (rusage_before.ru_utime + rusage_before.ru_stime),
            "machine (all processes)": after["machine"] - before["machine"],
            "wall seconds": after["wall"] - before["wall"],
            "task backlog at the end": after["backlog"],
        }


def cpu_per_request(cpu: dict[str, float], requests: int) -> dict[str, float]:
    """Milliseconds of CPU per request of the phase, per class (wall seconds as they are)."""
    out = {
        k: round(v * 1000 / max(requests, 1), 2)
        for k, v in cpu.items()
        if k not in ("wall seconds", "task backlog at the end")
    }
    accounted = sum(v for k, v in out.items() if not k.startswith("machine"))
    out["sum of the classes"] = round(accounted, 2)
    return out


def psql(sql: str) -> None:
    subprocess.run(
        ["psql", f"{PG}/postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, cwd=ROOT
    )


def env() -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.load.settings",
        "DATABASE_URL": f"{PG}/{DB}",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "DEBUG": "0",
        "SECURE_COOKIES": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "ALLIANCE_TASKS": "database",
        "LOG_LEVEL": "ERROR",
        "PYTHONPATH": str(ROOT),
    }


def prepare(users: int, plan_dir: Path, environment: dict[str, str]) -> list[Path]:
    psql(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{DB}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=environment, check=True
    )
    subprocess.run(
        [
            "psql",
            f"{PG}/{DB}",
            "-qc",
            "CREATE TABLE bench_bare (id bigserial PRIMARY KEY, "
            "at timestamptz NOT NULL, v integer NOT NULL)",
        ],
        check=True,
    )
    # Each phase has its own sessions: 12 clients x 25 sessions per user in all.
    out = subprocess.run(
        [sys.executable, "-c", SEED, str(users), "12", "25", secrets.token_urlsafe(12)],
        cwd=ROOT,
        env=environment,
        check=True,
        capture_output=True,
        text=True,
    )
    plan = json.loads(out.stdout.strip().splitlines()[-1])
    paths = []
    # Sessions 0-9 of each user for the warm-up, 10-99 for the paced phase, 100-299 flat out.
    for phase, (first, last) in enumerate(((0, 10), (10, 100), (100, 300))):
        part = {
            "password": plan["password"],
            "users": [{**u, "sessions": u["sessions"][first:last]} for u in plan["users"]],
        }
        path = plan_dir / f"plan-{phase}.json"
        path.write_text(json.dumps(part))
        paths.append(path)
    return paths


def server_options(kind: str) -> list[str]:
    """gunicorn's worker options. ``production``: what `alliance serve` runs (gunicorn's default
    sync workers, one request at a time per process, behind nginx which buffers slow clients),
    with the deployment guide's two workers per core plus one. ``gthread``: the threaded
    workers this bench used before (4 threads per process share one interpreter lock)."""
    cores = os.cpu_count() or 2
    if kind == "production":
        return ["--workers", str(2 * cores + 1)]
    return ["--workers", str(max(2, cores * 2)), "--worker-class", "gthread", "--threads", "4"]


def start_server(port: int, environment: dict[str, str], kind: str) -> subprocess.Popen:
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "bench.load.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            *server_options(kind),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**environment, "PGAPPNAME": WEB_APP},
        start_new_session=True,
    )
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=1)
            return server
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer")


def start_worker(environment: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        ["nice", "-n", "10", sys.executable, "-m", "alliance", "worker", "--interval", "0.2"],
        cwd=ROOT,
        env={**environment, "PGAPPNAME": TASK_APP},
        start_new_session=True,
    )


def drain(environment: dict[str, str]) -> float:
    """Run the queued tasks to the end; seconds it took."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "alliance", "worker", "--batch"],
        cwd=ROOT,
        env=environment,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def locust(
    name: str,
    scenario: str,
    users: int,
    seconds: int,
    port: int,
    folder: Path,
    pace: float,
    plan: Path | None = None,
    caseload: bool = True,
    spawn_rate: float = 0,
    meter: CpuMeter | None = None,
) -> dict:
    prefix = folder / name
    sent = folder / f"{name}-sent.json"
    run_env = {
        **os.environ,
        "LOAD_SCENARIO": scenario,
        "LOAD_PACE": str(pace),
        "LOAD_SENT_FILE": str(sent),
        "LOAD_CASELOAD": "1" if caseload else "0",
    }
    if plan is not None:
        run_env["LOAD_PLAN"] = str(plan)
    before = meter.sample() if meter else None
    finished = subprocess.run(
        [
            str(BIN / "locust"),
            "-f",
            str(Path(__file__).with_name("locustfile.py")),
            "--headless",
            "-u",
            str(users),
            "-r",
            str(spawn_rate or users),
            "-t",
            f"{seconds}s",
            "--host",
            f"http://127.0.0.1:{port}",
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "ERROR",
            "--stop-timeout",
            "10",
        ],
        cwd=ROOT,
        env=run_env,
        check=False,
        capture_output=True,
    )
    cpu = CpuMeter.difference(before, meter.sample()) if meter and before else None
    if b"Traceback" in finished.stderr or finished.returncode not in (0, 1):
        print(finished.stderr.decode()[-3000:], file=sys.stderr)
    with open(f"{prefix}_stats.csv") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    failures = Path(f"{prefix}_failures.csv")
    if failures.exists():
        with open(failures) as handle:
            for row in csv.DictReader(handle):
                print(
                    f"{name}: {row['Occurrences']} x {row['Method']} {row['Name']}: {row['Error']}",
                    file=sys.stderr,
                )
    result = {"rows": rows, "sent": json.loads(sent.read_text())["ratings"] if sent.exists() else 0}
    if cpu is not None:
        result["cpu"] = cpu
    return result


def summary(result: dict, names: list[str]) -> dict:
    """Counts and rates of the named requests; their percentiles are the worst of the names'
    (an upper bound: use ``everything`` for the percentiles of all the phase's requests)."""
    rows = [result["rows"][n] for n in names if n in result["rows"]]
    count = sum(int(r["Request Count"]) for r in rows)
    return {
        "requests": count,
        "failures": sum(int(r["Failure Count"]) for r in rows),
        "rps": sum(float(r["Requests/s"]) for r in rows),
        "p95_ms": max((float(r["95%"]) for r in rows if r["95%"] not in ("N/A", "")), default=0),
        "p50_ms": max((float(r["50%"]) for r in rows if r["50%"] not in ("N/A", "")), default=0),
    }


def everything(result: dict) -> dict:
    """All the requests of one phase, with their own percentiles: locust's "Aggregated" row
    (each phase is a locust run of its own)."""
    row = result["rows"]["Aggregated"]
    return {
        "requests": int(row["Request Count"]),
        "failures": int(row["Failure Count"]),
        "rps": float(row["Requests/s"]),
        "p95_ms": float(row["95%"]),
        "p50_ms": float(row["50%"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--pace", type=float, default=0.1, help="paced phases: iterations/s per user (0.1)"
    )
    parser.add_argument(
        "--server",
        choices=("production", "gthread"),
        default="production",
        help="gunicorn workers: as `alliance serve` runs them (default), or threaded",
    )
    args = parser.parse_args(argv)
    environment = env()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plans = prepare(args.users, folder, environment)
        server = start_server(args.port, environment, args.server)
        worker = start_worker(environment)
        meter = CpuMeter(server, worker)
        try:
            common = (args.users, args.seconds, args.port, folder)
            # Unreported warm-up: every gunicorn worker loads its templates, forms and models.
            warm = locust(
                "warm-up", "app", args.users, 10, args.port, folder, pace=0, plan=plans[0]
            )
            # Paced users start over one period, so that they do not all fire at the same moment.
            spread = args.users * args.pace if args.pace > 0 else 0
            paced_bare = locust("paced-bare", "bare", *common, pace=args.pace, spawn_rate=spread)
            paced_app = locust(
                "paced-app", "app", *common, pace=args.pace, plan=plans[1], spawn_rate=spread
            )
            flat_bare = locust("flat-bare", "bare", *common, pace=0, meter=meter)
            flat_bare_signed_in = locust(
                "flat-bare-signed-in", "bare", *common, pace=0, plan=plans[0], meter=meter
            )
            flat_audited = locust(
                "flat-audited", "audited", *common, pace=0, plan=plans[0], meter=meter
            )
            flat_app = locust(
                "flat-app", "app", *common, pace=0, plan=plans[2], caseload=False, meter=meter
            )
        finally:
            for process in (server, worker):
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
        drain_seconds = drain(environment)
        counted = (
            subprocess.run(
                [sys.executable, "-c", COUNT],
                cwd=ROOT,
                env=environment,
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
    state = json.loads(counted)
    stored, audit_checked, audit_broken = (
        state["stored"],
        state["audit_checked"],
        state["audit_broken"],
    )
    submits = ["submit ors", "submit srs"]
    report = {
        "server": args.server,
        "paced_bare": summary(paced_bare, ["bare insert"]),
        "paced_app_all": everything(paced_app),
        "paced_app_submit": summary(paced_app, submits),
        "paced_app_caseload": summary(paced_app, ["caseload"]),
        "flat_bare": summary(flat_bare, ["bare insert"]),
        "flat_bare_signed_in": summary(flat_bare_signed_in, ["bare insert"]),
        "flat_audited": summary(flat_audited, ["audited insert"]),
        "flat_app_submit": summary(flat_app, submits),
        "ratings_sent": warm["sent"] + paced_app["sent"] + flat_app["sent"],
        "ratings_stored": stored,
        "audit_events_checked": audit_checked,
        "audit_broken_chains": audit_broken,
        "follow_up_tasks": state["tasks"],
        "summaries_wrong": state["summaries_wrong"],
        "queue_drain_seconds_after_run": round(drain_seconds, 1),
    }
    report["load_average"] = os.getloadavg()
    report["cpus"] = os.cpu_count()
    report["paced_ratio"] = report["paced_app_submit"]["rps"] / report["paced_bare"]["rps"]
    report["flat_ratio"] = report["flat_app_submit"]["rps"] / report["flat_bare"]["rps"]
    report["flat_audited_vs_bare"] = report["flat_audited"]["rps"] / report["flat_bare"]["rps"]
    report["flat_submit_vs_audited"] = (
        report["flat_app_submit"]["rps"] / report["flat_audited"]["rps"]
    )
    report["flat_ratio_signed_in"] = (
        report["flat_app_submit"]["rps"] / report["flat_bare_signed_in"]["rps"]
    )
    report["warm_up"] = everything(warm)
    # Where each flat-out phase's CPU went, per request (ms): robust where throughput is not
    # (other jobs on the machine take the CPU but not the CPU seconds of these processes).
    report["cpu_ms_per_request"] = {
        name: cpu_per_request(result["cpu"], report[key]["requests"])
        for name, key, result in (
            ("flat-bare", "flat_bare", flat_bare),
            ("flat-bare-signed-in", "flat_bare_signed_in", flat_bare_signed_in),
            ("flat-audited", "flat_audited", flat_audited),
            ("flat-app (per submit)", "flat_app_submit", flat_app),
        )
    }
    errors = sum(
        report[k]["failures"]
        for k in (
            "warm_up",
            "paced_bare",
            "paced_app_all",
            "flat_bare",
            "flat_bare_signed_in",
            "flat_audited",
            "flat_app_submit",
        )
    )
    checks = {
        "0 errors": errors == 0,
        "ratings sent == stored": report["ratings_sent"] == report["ratings_stored"],
        "p95 < 100 ms (paced app, all requests)": report["paced_app_all"]["p95_ms"] < 100,
        # Follow-ups run in the request; a task is queued only when one failed there.
        "no queued follow-up failed": set(state["tasks"]) <= {"SUCCESSFUL"},
        "summaries equal a recomputation": state["summaries_wrong"] == 0,
        "audit chain intact": audit_broken == 0,
        "submit >= 80% of the audited floor, flat out": report["flat_submit_vs_audited"] >= 0.8,
    }
    print(json.dumps(report, indent=2))
    print(
        f"users {args.users}, {args.seconds} s per phase, pace {args.pace}/s per user, "
        f"{args.server} gunicorn workers ({' '.join(server_options(args.server))})"
    )
    cpu_results = [
        {"name": n, "cpu": r["cpu"]}
        for n, r in (("flat-audited", flat_audited), ("flat-app", flat_app))
    ]
    cpu_table = report["cpu_ms_per_request"]
    phases = list(cpu_table)
    print("CPU ms per request, flat out: " + " | ".join(phases))
    for cls in cpu_table[phases[0]]:
        print(f"  {cls:<30}" + "".join(f"{cpu_table[p][cls]:>10.2f}" for p in phases))
    floor, submit = cpu_table["flat-audited"], cpu_table["flat-app (per submit)"]
    print(
        "info  CPU per request, floor / submit: "
        f"{floor['sum of the classes'] / max(submit['sum of the classes'], 1e-9):.2f} (these processes), "
        f"{floor['machine (all processes)'] / max(submit['machine (all processes)'], 1e-9):.2f} (machine)"
    )
    print(
        "info  follow-up tasks waiting at the end of each flat-out phase (their CPU is not in "
        "the phase's): "
        + ", ".join(f"{r['name']} {r['cpu']['task backlog at the end']}" for r in cpu_results)
    )
    for label, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    print(
        f"info  submit/bare throughput flat out: {report['flat_ratio']:.2f} (anonymous bare), "
        f"{report['flat_ratio_signed_in']:.2f} (signed-in bare)"
    )
    print(
        f"info  audited floor / bare: {report['flat_audited_vs_bare']:.2f}; "
        f"submit / audited floor: {report['flat_submit_vs_audited']:.2f}; "
        f"submit / bare, paced: {report['paced_ratio']:.2f}"
    )
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
