"""Background work: sending a form link by e-mail or SMS (through ``django.tasks``).

The address is used once and never stored; the message holds the link and, where the agency
allows it, the client's first name - nothing else about the client.
"""

from __future__ import annotations

from django.core.mail import send_mail
from django.tasks import task
from django.utils import translation
from django.utils.translation import gettext as _

from . import sms


def message_text(url: str, first_name: str, hours: int) -> str:
    greeting = _("Hello %(name)s,") % {"name": first_name} if first_name else _("Hello,")
    body = _(
        "please fill in a short form for your next session (it takes under a minute). "
        "The link works once and for %(hours)s hours:"
    ) % {"hours": hours}
    return f"{greeting}\n{body}\n{url}\n"


@task()
def send_feedback_link(
    channel: str, address: str, url: str, first_name: str, hours: int, language: str
) -> None:
    with translation.override(language or None):
        text = message_text(url, first_name, hours)
        if channel == "email":
            send_mail(_("Your session form"), text, None, [address])
        elif channel == "sms":
            sms.get_backend().send(address, text)
        else:
            raise ValueError(f"unknown channel {channel!r}")
