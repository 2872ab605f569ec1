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
