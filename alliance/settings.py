"""One settings module, driven by environment variables (safe production defaults).

DATABASE_URL   sqlite:///path or postgres://user:pass@host:port/name (default: SQLite in ./var)
SECRET_KEY     required when DEBUG is off
DEBUG          "1"/"true"/"yes"/"on" to enable (default off); every yes/no variable takes
               1/0, true/false, yes/no, on/off and refuses anything else
ALLOWED_HOSTS  comma-separated (default: 127.0.0.1,localhost)
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("ALLIANCE_DATA_DIR", BASE_DIR.parent / "var"))


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def env_flag(name: str, default: bool = False) -> bool:
    """A yes/no environment variable: 1/0, true/false, yes/no, on/off (any case); unset or empty
    means ``default``. Anything else is refused, so a typo never quietly turns a setting off."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name}={os.environ[name]!r} is not a yes/no value (use 1/0, true/false, yes/no or on/off)"
    )


def database_from_url(url: str) -> dict:
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path)
        if parsed.netloc:  # sqlite://relative/path
            path = parsed.netloc + path
        elif path.startswith("//"):  # sqlite:////abs/path
            path = path[1:]
        else:  # sqlite:///relative/or/abs
            path = path[1:] if not path.startswith("//") else path
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path or ":memory:",
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL;",
            },
        }
    if parsed.scheme in {"postgres", "postgresql", "pgsql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": 60,
        }
    raise ImproperlyConfigured(f"DATABASE_URL scheme {parsed.scheme!r} is not supported")


DEBUG = env_flag("DEBUG")
# The tests use their own settings module (tests/settings.py) built on this one.
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if DEBUG or env_flag("ALLIANCE_INSECURE_DEV_KEY", default=False):
        SECRET_KEY = "dev-only-insecure-key-never-use-in-production"
    else:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
# Earlier keys, comma-separated, while SECRET_KEY is rotated: sign-ins and the sealed secrets
# (accounts/sealing.py) they made stay valid; `alliance reseal` moves the secrets to the new key.
SECRET_KEY_FALLBACKS = [
    key.strip() for key in os.environ.get("SECRET_KEY_FALLBACKS", "").split(",") if key.strip()
]
# Signs the audit trail's lane heads and keys the backup manifest's HMAC (docs/security.md).
# Unset: a key derived from SECRET_KEY. Keep it when SECRET_KEY is rotated, and give a restore
# the same key as the server that wrote the backup.
ALLIANCE_AUDIT_KEY = os.environ.get("ALLIANCE_AUDIT_KEY", "")
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")
    if h.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "alliance.accounts",
    "alliance.care",
    "alliance.feedback",
    "alliance.reports",
    "alliance.api",
    "alliance.audit",
    "alliance.practice",
    "alliance.agency",
    "axes",  # sign-in lockout (alliance.accounts.lockout)
    "django_tasks_db",  # the task queue table, used when ALLIANCE_TASKS=database
    "ninja",  # serves the API docs' Swagger UI from our own static files (no CDN)
]

MIDDLEWARE = [
    "alliance.ops.middleware.RequestIdMiddleware",  # request id and log line (outermost)
    "alliance.ops.middleware.RejectNulMiddleware",  # no NUL in a path or query (400)
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "alliance.ops.middleware.NoStoreMiddleware",  # no-store on every dynamic response
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "alliance.accounts.middleware.AccountSecurityMiddleware",  # idle expiry, two-factor
    "alliance.care.handover.HandoverLockMiddleware",  # a handed-over device reaches its form only
    "alliance.audit.middleware.ApiReadAuditMiddleware",  # audit trail of API reads
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # answers a locked sign-in with the login page (429)
]

ROOT_URLCONF = "alliance.urls"
# django-axes first: it refuses a locked sign-in before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "alliance.accounts.backends.MemberBackend",
]
WSGI_APPLICATION = "alliance.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

DATABASES = {
    "default": database_from_url(
        os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'alliance.sqlite3'}")
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "caseload"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# English short dates stay ISO (2026-12-07); Spanish pages use Django's own (07/12/2026).
FORMAT_MODULE_PATH = ["alliance.formats"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# Only after `collectstatic`; until then whitenoise serves straight from the finders.
STATIC_ROOT = DATA_DIR / "static" if (DATA_DIR / "static").is_dir() else None
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True

# Health data: secure cookies and headers unless explicitly developing.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", 8 * 3600))
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_SECURE = env_flag("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Behind a TLS-terminating proxy set SECURE_SSL_REDIRECT=1 and SECURE_HSTS_SECONDS.
SECURE_SSL_REDIRECT = env_flag("SECURE_SSL_REDIRECT")
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 0))
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
# How many reverse proxies stand in front of the server; the client address is then read from
# X-Forwarded-For that many entries from the right (alliance.accounts.network.client_ip).
TRUSTED_PROXIES = int(os.environ.get("ALLIANCE_TRUSTED_PROXIES", "0"))
if env_flag("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]
SECURE_HSTS_PRELOAD = env_flag("SECURE_HSTS_PRELOAD", default=SECURE_HSTS_SECONDS > 0)
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SAMESITE = "Lax"
# Content Security Policy (Django's own middleware): nothing from other origins, no inline
# scripts; inline styles only because the server-drawn SVG graphs carry a <style> element.
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# Accounts (alliance.accounts.middleware / security): idle sessions end, repeated failures lock.
SESSION_IDLE_TIMEOUT = int(os.environ.get("SESSION_IDLE_TIMEOUT", 30 * 60))
# Passwords (django-axes) and two-factor codes (TwoFactorDevice) are counted apart: each locks
# after LOCKOUT_USER_FAILURES failures for LOCKOUT_WINDOW_SECONDS, counted per user and per
# (user, address), never per address alone (a clinic's colleagues share one address).
LOCKOUT_USER_FAILURES = int(os.environ.get("LOCKOUT_USER_FAILURES", 5))
LOCKOUT_WINDOW_SECONDS = int(os.environ.get("LOCKOUT_WINDOW_SECONDS", 15 * 60))
AXES_FAILURE_LIMIT = LOCKOUT_USER_FAILURES
AXES_COOLOFF_TIME = datetime.timedelta(seconds=LOCKOUT_WINDOW_SECONDS)
AXES_LOCKOUT_PARAMETERS = ["username", ["username", "ip_address"]]
# Attempts made while locked are refused without being counted: they never extend the lock.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True  # a correct password clears password failures (not two-factor ones)
AXES_CLIENT_IP_CALLABLE = "alliance.accounts.network.client_ip"  # honours TRUSTED_PROXIES
AXES_USERNAME_CALLABLE = "alliance.accounts.lockout.username_of"
AXES_LOCKOUT_CALLABLE = "alliance.accounts.views.locked_response"
AXES_HTTP_RESPONSE_CODE = 429
# Not in the Django admin: its attempts list spans every agency (the locked list is per agency).
AXES_ENABLE_ADMIN = False
AXES_DISABLE_ACCESS_LOG = True  # the audit trail records sign-ins; no second log of addresses
AXES_VERBOSE = False

# Background work (django.tasks): "immediate" runs a task inside enqueue (one process: the demo,
# the tests); "database" queues it in the database for `alliance worker` (production: the
# summary refresh and alerts after a rating, webhooks and refits then leave the request).
TASK_BACKENDS = {
    "immediate": "django.tasks.backends.immediate.ImmediateBackend",
    "database": "django_tasks_db.DatabaseBackend",
}
ALLIANCE_TASKS = os.environ.get("ALLIANCE_TASKS", "immediate")
if ALLIANCE_TASKS not in TASK_BACKENDS:
    raise ImproperlyConfigured(f"ALLIANCE_TASKS must be one of {', '.join(TASK_BACKENDS)}")
TASKS = {"default": {"BACKEND": TASK_BACKENDS[ALLIANCE_TASKS]}}

# Client-facing forms (alliance.feedback): link lifetime, kiosk passes, SMS backend.
ALLIANCE_LINK_HOURS = int(os.environ.get("ALLIANCE_LINK_HOURS", 24))
ALLIANCE_KIOSK_MINUTES = int(os.environ.get("ALLIANCE_KIOSK_MINUTES", 60))
ALLIANCE_KIOSK_MAX_ATTEMPTS = int(os.environ.get("ALLIANCE_KIOSK_MAX_ATTEMPTS", 5))
ALLIANCE_SMS_BACKEND = os.environ.get(
    "ALLIANCE_SMS_BACKEND", "alliance.feedback.sms.ConsoleBackend"
)

# REST API (alliance.api): requests per token per window, and webhook delivery.
API_RATE_LIMIT = int(os.environ.get("API_RATE_LIMIT", 600))
API_RATE_WINDOW_SECONDS = int(os.environ.get("API_RATE_WINDOW_SECONDS", 60))
WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("WEBHOOK_MAX_ATTEMPTS", 6))
WEBHOOK_RETRY_BASE_SECONDS = int(os.environ.get("WEBHOOK_RETRY_BASE_SECONDS", 60))
WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", 5))
# Networks a webhook may reach although not public (e.g. "10.1.2.0/24" for a receiver inside the
# clinic's network), comma-separated; none by default (docs/security.md).
WEBHOOK_ALLOWED_NETWORKS = [
    n.strip() for n in os.environ.get("WEBHOOK_ALLOWED_NETWORKS", "").split(",") if n.strip()
]
# The largest FHIR Bundle the import accepts (the API's JSON 413 beyond; docs/api.md).
FHIR_IMPORT_MAX_BYTES = int(os.environ.get("ALLIANCE_FHIR_IMPORT_MAX_MB", 200)) * 1024 * 1024
# E-mail goes through Django's mailers (6.1+); the console backend prints instead of sending.
MAILERS: dict[str, dict[str, object]] = {
    "default": {
        "BACKEND": os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
    }
}

# The SMTP server when EMAIL_BACKEND is Django's SMTP backend (default: the local MTA on port 25).
if os.environ.get("EMAIL_HOST"):
    MAILERS["default"]["OPTIONS"] = {
        "host": os.environ["EMAIL_HOST"],
        "port": int(os.environ.get("EMAIL_PORT", 587)),
        "username": os.environ.get("EMAIL_HOST_USER", ""),
        "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
        "use_tls": env_flag("EMAIL_USE_TLS", default=True),
        "timeout": 30,
    }
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "webmaster@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# One cache for every gunicorn worker and process, so that the API rate limit counts per token
# across them: Redis when REDIS_URL is set (Django's own backend; needs the `redis` package),
# otherwise a table in the database (created by `alliance migrate`: createcachetable).
CACHE_TABLE = "alliance_cache"
if os.environ.get("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": CACHE_TABLE,
        }
    }

# Operations (alliance.ops, docs/deployment.md): /healthz answers 503 when the oldest due task
# has waited longer than this (a stopped worker); a monitor on the loopback interface may ask
# over plain HTTP.
HEALTHZ_MAX_QUEUE_LAG = int(os.environ.get("ALLIANCE_HEALTHZ_MAX_QUEUE_LAG", 300))
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# One line per request (alliance.request) and every other line carry the request's id; "json"
# writes one JSON object per line for a log collector. No query strings, no client-link tokens.
LOG_FORMAT = os.environ.get("ALLIANCE_LOG_FORMAT", "plain")
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured("ALLIANCE_LOG_FORMAT must be plain or json")
LOG_LEVEL = os.environ.get("LOG_LEVEL", "WARNING")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request": {"()": "alliance.ops.logging.RequestContextFilter"}},
    "formatters": {
        "plain": {"()": "alliance.ops.logging.PlainFormatter"},
        "json": {"()": "alliance.ops.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django logs two lines per task at INFO (one task follows every rating): not by default.
        "django.tasks": {"level": LOG_LEVEL},
        # django-axes logs every failed sign-in; the audit trail records the locks instead.
        "axes": {"level": "ERROR"},
        "alliance.request": {"level": os.environ.get("ALLIANCE_REQUEST_LOG_LEVEL", "INFO")},
    },
}
