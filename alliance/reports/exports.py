"""CSV exports of administrations and episodes: identified (for the agency) and de-identified
(for research).

The de-identified files carry no names, display codes, e-mails or free text (rater relationship
is dropped, birth year too); every id is an HMAC-SHA256 of the record's public id keyed with the
agency's secret (``AgencySecret``), and every date is shifted by a whole number of days that is
fixed per client (so intervals within a client are exact) and derived from the same secret (so a
re-export gives the same file). The administrations file is in the science core's table format
(``alliance.science.table``), so ``alliance effectiveness research.csv`` reads it directly.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import hmac
from collections.abc import Iterator

from alliance.care.feedback import instrument_for
from alliance.care.models import Administration, Episode
from alliance.science.instruments import all_instruments

from .models import AgencySecret

MAX_SHIFT_DAYS = 365
CHUNK = 5000


class Deidentifier:
    """Keyed pseudonyms and per-client date offsets for one agency."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode()
        self._offsets: dict[str, int] = {}

    @classmethod
    def for_agency(cls, agency) -> Deidentifier:
        secret, _ = AgencySecret.objects.get_or_create(agency=agency)
        return cls(secret.secret)

    def _digest(self, purpose: str, value: str) -> str:
        return hmac.new(self._key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()

    def pseudonym(self, kind: str, public_id: str | None) -> str:
        if not public_id:
            return ""
        return self._digest(kind, public_id)[:20]

    def offset_days(self, client_public_id: str) -> int:
        """A non-zero shift in -365..-1 or 1..365 days, the same for every date of the client."""
        if client_public_id not in self._offsets:
            number = int(self._digest("date-shift", client_public_id)[:12], 16)
            magnitude = 1 + number % MAX_SHIFT_DAYS
            self._offsets[client_public_id] = magnitude if (number >> 40) & 1 else -magnitude
        return self._offsets[client_public_id]

    def shift(self, client_public_id: str, date: datetime.date | None) -> str:
        if date is None:
            return ""
        return (date + datetime.timedelta(days=self.offset_days(client_public_id))).isoformat()


class _Echo:
    def write(self, value: str) -> str:
        return value


def _items_width() -> int:
    return max(len(i.item_keys) for i in all_instruments())


def _item_values(instrument: str, items: dict, width: int) -> list[str]:
    try:
        keys = instrument_for(instrument).item_keys
    except ValueError:
        keys = tuple(sorted(items))
    values = [items.get(key, "") for key in keys]
    values = ["" if v is None else str(v) for v in values]
    return values + [""] * (width - len(values))


ADMINISTRATION_SOURCE = (
    "episode__client__public_id",
    "episode__client__display_code",
    "episode__client__name",
    "episode__public_id",
    "episode__client__therapist__public_id",
    "episode__client__therapist__username",
    "episode__client__team__public_id",
    "episode__client__team__name",
    "session__number",
    "session__date",
    "instrument",
    "rater",
    "rater_relationship",
    "total",
    "items",
    "entry_mode",
    "episode__client__age_band",
    "episode__ending",
)


def administration_rows(episodes, agency, *, research: bool) -> Iterator[list]:
    """Header then one row per administration of ``episodes`` (already visibility-scoped)."""
    width = _items_width()
    items_header = [f"item_{i}" for i in range(1, width + 1)]
    tail = ["age_band", "ending"]
    if research:
        yield [
            "client_id", "episode_id", "therapist_id", "team_id", "session_number",
            "session_date", "instrument", "rater", "total", *items_header, *tail,
        ]  # fmt: skip
    else:
        yield [
            "client_code", "client_name", "episode_id", "therapist", "team", "session_number",
            "session_date", "instrument", "rater", "rater_relationship", "total",
            *items_header, "entry_mode", *tail,
        ]  # fmt: skip
    deid = Deidentifier.for_agency(agency) if research else None
    rows = (
        Administration.objects.filter(agency=agency, episode__in=episodes.order_by().values("pk"))
        .order_by("episode_id", "session__number", "instrument", "rater")
        .values_list(*ADMINISTRATION_SOURCE)
    )
    for (
        client, code, name, episode, therapist, therapist_name, team, team_name, number,
        date, instrument, rater, relationship, total, items, entry_mode, age_band, ending,
    ) in rows.iterator(chunk_size=CHUNK):  # fmt: skip
        item_values = _item_values(instrument, items or {}, width)
        if deid is not None:
            yield [
                deid.pseudonym("client", client), deid.pseudonym("episode", episode),
                deid.pseudonym("therapist", therapist), deid.pseudonym("team", team), number,
                deid.shift(client, date), instrument, rater, total, *item_values, age_band,
                ending,
            ]  # fmt: skip
        else:
            yield [
                code, name, episode, therapist_name, team_name or "", number, date.isoformat(),
                instrument, rater, relationship, total, *item_values, entry_mode, age_band,
                ending,
            ]  # fmt: skip


EPISODE_SOURCE = (
    "client__public_id",
    "client__display_code",
    "client__name",
    "public_id",
    "client__therapist__public_id",
    "client__therapist__username",
    "client__team__public_id",
    "client__team__name",
    "client__age_band",
    "start_date",
    "end_date",
    "ending",
    "outcome_instrument",
    "alliance_instrument",
    "session_count",
    "intake_total",
    "last_outcome_total",
    "last_outcome_session",
    "zone",
    "last_alliance_total",
    "alliance_flag",
)
EPISODE_NUMBERS = (
    "outcome_instrument", "alliance_instrument", "session_count", "intake_total",
    "last_outcome_total", "last_outcome_session", "zone", "last_alliance_total", "alliance_flag",
)  # fmt: skip


def episode_rows(episodes, agency, *, research: bool) -> Iterator[list]:
    if research:
        yield [
            "client_id", "episode_id", "therapist_id", "team_id", "age_band", "start_date",
            "end_date", "ending", *EPISODE_NUMBERS,
        ]  # fmt: skip
    else:
        yield [
            "client_code", "client_name", "episode_id", "therapist", "team", "age_band",
            "start_date", "end_date", "ending", *EPISODE_NUMBERS,
        ]  # fmt: skip
    deid = Deidentifier.for_agency(agency) if research else None
    rows = (
        Episode.objects.filter(agency=agency, pk__in=episodes.order_by().values("pk"))
        .order_by("pk")
        .values_list(*EPISODE_SOURCE)
    )
    for row in rows.iterator(chunk_size=CHUNK):
        client, code, name, episode, therapist, therapist_name, team, team_name = row[:8]
        age_band, start, end, ending = row[8:12]
        numbers = list(row[12:])
        if deid is not None:
            yield [
                deid.pseudonym("client", client), deid.pseudonym("episode", episode),
                deid.pseudonym("therapist", therapist), deid.pseudonym("team", team), age_band,
                deid.shift(client, start), deid.shift(client, end), ending, *numbers,
            ]  # fmt: skip
        else:
            yield [
                code, name, episode, therapist_name, team_name or "", age_band, start.isoformat(),
                end.isoformat() if end else "", ending, *numbers,
            ]  # fmt: skip


def csv_lines(rows: Iterator[list]) -> Iterator[str]:
    writer = csv.writer(_Echo(), lineterminator="\n")
    for row in rows:
        yield writer.writerow(["" if v is None else v for v in row])
