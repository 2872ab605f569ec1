"""Kept for tasks queued before the move: their rows name this path (``DBTaskResult.task_path``)."""

from .services import follow_up_rating  # noqa: F401
