"""Repository-wide pytest configuration.

Tests run with insecure development secrets; they never touch production settings.
"""

import os

os.environ.setdefault("ALLIANCE_INSECURE_DEV_KEY", "1")
os.environ.setdefault("SECURE_COOKIES", "0")

# The Chromium fixtures (browser, context, page, no_js_context), shared by every test directory.
pytest_plugins = ["tests.browser.fixtures"]
