"""Kept for tasks queued before the move: their rows name this path (``DBTaskResult.task_path``)."""

from .services import send_feedback_link  # noqa: F401
