"""Kept for tasks queued before the move: their rows name these paths (``DBTaskResult.task_path``)."""

from alliance.care.services import refresh_open_episodes  # noqa: F401

from .services import refit_etr  # noqa: F401
