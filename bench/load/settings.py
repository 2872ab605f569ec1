"""The application's settings plus one bare endpoint, for the load baseline (bench/load/run.py)."""

from alliance.settings import *  # noqa: F403

ROOT_URLCONF = "bench.load.urls"
LOGGING = {"version": 1, "disable_existing_loggers": False}
