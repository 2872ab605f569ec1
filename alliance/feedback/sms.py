"""Pluggable SMS backends. ``ALLIANCE_SMS_BACKEND`` names a class with ``send(to, text)``.

The console backend (default) writes the message to standard output, like Django's console
e-mail backend; a provider's backend is a small class an agency adds and names in the setting.
"""

from __future__ import annotations

import sys
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

DEFAULT_BACKEND = "alliance.feedback.sms.ConsoleBackend"


class SmsBackend(Protocol):
    def send(self, to: str, text: str) -> None: ...


class ConsoleBackend:
    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout

    def send(self, to: str, text: str) -> None:
        self.stream.write(f"SMS to {to}:\n{text}\n{'-' * 40}\n")
        self.stream.flush()


class LocmemBackend:
    """Keeps messages in ``outbox`` (for tests), like Django's locmem e-mail backend."""

    outbox: list[tuple[str, str]] = []

    def send(self, to: str, text: str) -> None:
        LocmemBackend.outbox.append((to, text))


def get_backend() -> SmsBackend:
    return import_string(getattr(settings, "ALLIANCE_SMS_BACKEND", DEFAULT_BACKEND))()
