"""Background work of the reports app (Django's tasks framework, ``settings.TASKS``).

With the default immediate backend a task runs inside ``enqueue``; in production point ``TASKS`` at
a worker-backed backend (see docs/scaling.md, "Background work") and the page polls the job row.
"""

from __future__ import annotations

from django.tasks import task


@task
def refit_etr(job_id: int) -> str:
    from .models import RefitJob
    from .services import run_refit

    job = RefitJob.objects.select_related("requested_by").get(pk=job_id)
    return run_refit(job).status


@task
def refresh_open_episodes(agency_id: int, instrument: str) -> int:
    """Recompute zones and alerts of open episodes after the agency's ETR model changed."""
    from alliance.care.models import Episode
    from alliance.care.services import refresh_episode_summary

    episodes = Episode.objects.filter(
        agency_id=agency_id, outcome_instrument=instrument, end_date__isnull=True
    ).select_related("client")
    count = 0
    for episode in episodes.iterator():
        refresh_episode_summary(episode)
        count += 1
    return count
