"""Settings for the test suite: the application's settings with what tests need on top.

Named in pyproject.toml (``[tool.pytest.ini_options] DJANGO_SETTINGS_MODULE``), so the
application's own settings never ask whether they run under pytest.
"""

import os

# The application's settings refuse to start without a secret; tests and the subprocesses they
# start (the command line, a restore, the demo) run with the insecure development key.
os.environ.setdefault("ALLIANCE_INSECURE_DEV_KEY", "1")

from alliance.settings import *  # noqa: E402, F403

# The test client speaks plain HTTP: cookies marked Secure would never come back.
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
