"""WSGI entry point for the load test (the app plus the bare baseline endpoint)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.load.settings")

application = get_wsgi_application()
