"""``GET /healthz``: is this server able to serve? For a monitor, a load balancer, systemd.

The answer says whether the database answers, whether every migration is applied (a new release
started before ``alliance migrate``), and how long the oldest due background task has waited
(``ALLIANCE_TASKS=database``: a stopped ``alliance worker`` shows here first); 200 when all is
well, 503 otherwise. No sign-in, no audit event, no clinical data: counts and ages only.
"""

from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe


def database_reachable() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError:
        return False


def unapplied_migrations() -> int:
    """How many migrations of the installed code the database has not had yet."""
    executor = MigrationExecutor(connection)
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def queue_lag_seconds() -> float | None:
    """Seconds the oldest due task has waited for a worker (0 when none waits), or None when
    tasks run inside the requests (no queue)."""
    if settings.ALLIANCE_TASKS != "database":
        return None
    from django_tasks_db.models import DBTaskResult, get_date_max

    ready = DBTaskResult.objects.ready()
    # A task is due from its enqueue time, or from its run_after (a retry scheduled for later).
    oldest_unscheduled = (
        ready.filter(run_after=get_date_max())
        .order_by("enqueued_at")
        .values_list("enqueued_at", flat=True)
        .first()
    )
    oldest_scheduled = (
        ready.exclude(run_after=get_date_max())
        .order_by("run_after")
        .values_list("run_after", flat=True)
        .first()
    )
    due = [moment for moment in (oldest_unscheduled, oldest_scheduled) if moment is not None]
    if not due:
        return 0.0
    return round(max(0.0, (timezone.now() - min(due)).total_seconds()), 1)


def health() -> tuple[bool, dict[str, object]]:
    report: dict[str, object] = {
        "database": False,
        "migrations": None,
        "unapplied_migrations": None,
        "queue_lag_seconds": None,
        "queue_lag_limit_seconds": settings.HEALTHZ_MAX_QUEUE_LAG,
    }
    if not database_reachable():
        return False, report
    report["database"] = True
    unapplied = unapplied_migrations()
    report["unapplied_migrations"] = unapplied
    report["migrations"] = unapplied == 0
    if unapplied:
        return False, report  # the queue's table may not exist yet
    lag = queue_lag_seconds()
    report["queue_lag_seconds"] = lag
    return lag is None or lag <= settings.HEALTHZ_MAX_QUEUE_LAG, report


@never_cache
@require_safe
def healthz(request):
    healthy, report = health()
    return JsonResponse(
        {"status": "ok" if healthy else "unhealthy", **report}, status=200 if healthy else 503
    )
