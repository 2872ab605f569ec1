"""gunicorn's own lines (start, worker boot and timeout) as JSON, like the application's.

`alliance serve` passes ``--logger-class alliance.ops.gunicorn.JsonLogger`` when
``ALLIANCE_LOG_FORMAT=json``, so that a log collector reads one format from the service.
"""

from __future__ import annotations

from gunicorn.glogging import Logger

from .logging import JsonFormatter


class JsonLogger(Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)
        formatter = JsonFormatter()
        for handler in self.error_log.handlers:
            handler.setFormatter(formatter)
