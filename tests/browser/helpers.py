"""Helpers for the browser tests: logging in through the UI and building client histories
through the care services (the same code path the views use)."""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.utils import timezone
from playwright.sync_api import Page

from alliance.accounts.models import User
from alliance.care.feedback import instrument_for
from alliance.care.models import Client, Episode
from alliance.care.services import create_client, open_episode, record_administration, start_session
from tests.web.personas import PASSWORD

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DAYS_BETWEEN_SESSIONS = 7


def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Log in through the login form and wait until the caseload is shown."""
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Caseload").wait_for()


def log_out(page: Page) -> None:
    """Log out from the caseload (error pages such as a 404 need not carry the header)."""
    page.goto("/")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/login/"))


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / name


@dataclass
class ClientHistory:
    client: Client
    episode: Episode


def split_total(total: float, keys: Sequence[str]) -> dict[str, float]:
    """Item scores (one decimal) that add up exactly to total, as even as possible."""
    tenths = round(total * 10)
    base, remainder = divmod(tenths, len(keys))
    return {key: (base + (1 if i < remainder else 0)) / 10 for i, key in enumerate(keys)}


def record_history(
    therapist: User,
    display_code: str,
    scores: Sequence[tuple[float, float]],
    *,
    today: datetime.date | None = None,
) -> ClientHistory:
    """A client of therapist with one weekly session per (ORS, SRS) pair, the last a week ago."""
    today = today or timezone.localdate()
    first = today - datetime.timedelta(days=DAYS_BETWEEN_SESSIONS * len(scores))
    agency = therapist.membership.agency
    client = create_client(
        therapist, agency, display_code=display_code, therapist=therapist, start_date=first
    )
    ors_keys = [item.key for item in instrument_for("ors").items]
    srs_keys = [item.key for item in instrument_for("srs").items]
    for index, (ors_total, srs_total) in enumerate(scores):
        on = first + datetime.timedelta(days=DAYS_BETWEEN_SESSIONS * index)
        session = start_session(therapist, client, on=on)
        for code, total, keys in (("ors", ors_total, ors_keys), ("srs", srs_total, srs_keys)):
            record_administration(
                therapist,
                session,
                instrument=code,
                items=split_total(total, keys),
                idempotency_key=uuid.uuid4().hex,
            )
    return ClientHistory(client=client, episode=open_episode(client))
