"""The production variables the settings read for operations: SMTP, Redis, the queue-lag limit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import django, json
django.setup()
from django.conf import settings
from django.core.mail import mailers
mailer = mailers["default"]
print(json.dumps({
    "cache": settings.CACHES["default"]["BACKEND"],
    "cache_location": settings.CACHES["default"].get("LOCATION", ""),
    "mailer": type(mailer).__name__,
    "smtp": [getattr(mailer, name, None) for name in ("host", "port", "username", "use_tls")],
    "from": settings.DEFAULT_FROM_EMAIL,
    "lag": settings.HEALTHZ_MAX_QUEUE_LAG,
}))
"""


def settings_with(**variables: str) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "PYTEST", "EMAIL_", "REDIS_", "ALLIANCE_HEALTHZ"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="alliance.settings",
        ALLIANCE_INSECURE_DEV_KEY="1",
        DATABASE_URL="sqlite:///:memory:",
        PYTHONPATH=str(ROOT),
        **variables,
    )
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_without_the_variables_the_cache_is_a_database_table_and_mail_is_printed():
    found = settings_with()
    # One cache for every worker and process (the API rate limit), not one per process.
    assert found["cache"] == "django.core.cache.backends.db.DatabaseCache"
    assert found["cache_location"] == "alliance_cache"
    assert found["mailer"] == "EmailBackend" and found["smtp"] == [None, None, None, None]
    assert found["lag"] == 300


def test_redis_url_makes_redis_the_shared_cache():
    found = settings_with(REDIS_URL="redis://127.0.0.1:6379/2")
    assert found["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert found["cache_location"] == "redis://127.0.0.1:6379/2"


def test_email_host_configures_the_smtp_mailer_with_tls_by_default():
    found = settings_with(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="smtp.example.org",
        EMAIL_HOST_USER="alliance@example.org",
        EMAIL_HOST_PASSWORD="secret",
        DEFAULT_FROM_EMAIL="Alliance <alliance@example.org>",
        ALLIANCE_HEALTHZ_MAX_QUEUE_LAG="60",
    )
    assert found["smtp"] == ["smtp.example.org", 587, "alliance@example.org", True]
    assert found["from"] == "Alliance <alliance@example.org>"
    assert found["lag"] == 60
    plain = settings_with(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="mail.internal",
        EMAIL_PORT="25",
        EMAIL_USE_TLS="0",
    )
    assert plain["smtp"] == ["mail.internal", 25, "", False]
