"""Repository-wide pytest configuration.

Tests run with insecure development secrets; they never touch production settings.
"""

import os

os.environ.setdefault("ALLIANCE_INSECURE_DEV_KEY", "1")
os.environ.setdefault("SECURE_COOKIES", "0")
