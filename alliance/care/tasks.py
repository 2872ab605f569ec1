"""Background work of care records (Django's tasks framework, ``settings.ALLIANCE_TASKS``).

A stored rating is saved and audited inside the request; what it sets off (the episode's
summary for the caseload, its alerts, the webhook) runs here. With the immediate backend that
is still inside the request's transaction; with the database backend the task row commits with
the rating (so it cannot be lost) and ``alliance worker`` runs it moments later.
"""

from __future__ import annotations

from django.tasks import task


@task
def follow_up_rating(episode_id: int, administration_id: int | None = None) -> bool:
    from .services import follow_up_rating as run

    return run(episode_id, administration_id)
