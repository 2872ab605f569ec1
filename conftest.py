"""Repository-wide pytest configuration.

The settings for the test run are tests/settings.py (named in pyproject.toml).
"""

# The Chromium fixtures (browser, context, page, no_js_context), shared by every test directory.
pytest_plugins = ["tests.browser.fixtures"]
