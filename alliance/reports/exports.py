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

from django.utils import timezone

from alliance.care.dates import in_range
from alliance.care.feedback import instrument_for
from alliance.care.models import Episode
from alliance.ops.csvsafe import safe_row
from alliance.science.instruments import all_instruments

from .data import STREAM_CHUNK, administration_stream
from .models import AgencySecret

MAX_SHIFT_DAYS = 365


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

    def shift(
        self, client_public_id: str, date: datetime.date | None, today: datetime.date | None = None
    ) -> str:
        """The shifted date; "" for none and for an implausible stored one (year 1 or 9999,
        written into the database by hand: shifting it would overflow the calendar)."""
        if date is None or not in_range(date, today or timezone.localdate()):
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


# Whose row it is, as episode fields: the first columns of both files.
IDENTITY_SOURCE = (
    "client__public_id",
    "client__display_code",
    "client__name",
    "public_id",
    "client__therapist__public_id",
    "client__therapist__username",
    "client__team__public_id",
    "client__team__name",
)


class _Identity:
    """The columns that say whose row it is: keyed pseudonyms and shifted dates for research,
    display codes, names and real dates for the agency."""

    def __init__(self, agency, research: bool) -> None:
        self.deid = Deidentifier.for_agency(agency) if research else None

    def header(self) -> list[str]:
        if self.deid is not None:
            return ["client_id", "episode_id", "therapist_id", "team_id"]
        return ["client_code", "client_name", "episode_id", "therapist", "team"]

    def columns(self, identity: tuple) -> list:
        client, code, name, episode, therapist, therapist_name, team, team_name = identity
        if self.deid is not None:
            deid = self.deid
            return [
                deid.pseudonym("client", client), deid.pseudonym("episode", episode),
                deid.pseudonym("therapist", therapist), deid.pseudonym("team", team),
            ]  # fmt: skip
        return [code, name, episode, therapist_name, team_name or ""]

    def date(self, client: str, date: datetime.date | None) -> str:
        if self.deid is not None:
            return self.deid.shift(client, date)
        return "" if date is None else date.isoformat()


ADMINISTRATION_SOURCE = (
    *(f"episode__{field}" for field in IDENTITY_SOURCE),
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


def administration_rows(
    episodes, agency, *, research: bool, chunk_size: int = STREAM_CHUNK
) -> Iterator[list]:
    """Header then one row per administration of ``episodes`` (already visibility-scoped).

    The rows come from the data layer's streaming mode, ``chunk_size`` at a time.
    """
    width = _items_width()
    items_header = [f"item_{i}" for i in range(1, width + 1)]
    identity = _Identity(agency, research)

    def agency_only(*values) -> list:
        # Free text and the way the data was entered stay out of the research file, which is the
        # science core's table.
        return [] if research else list(values)

    yield [
        *identity.header(), "session_number", "session_date", "instrument", "rater",
        *agency_only("rater_relationship"), "total", *items_header, *agency_only("entry_mode"),
        "age_band", "ending",
    ]  # fmt: skip
    rows = administration_stream(episodes, agency.pk, ADMINISTRATION_SOURCE, chunk_size=chunk_size)
    for row in rows:
        who, rest = row[: len(IDENTITY_SOURCE)], row[len(IDENTITY_SOURCE) :]
        number, date, instrument, rater, relationship, total, items, entry_mode = rest[:8]
        age_band, ending = rest[8:]
        yield [
            *identity.columns(who), number, identity.date(who[0], date), instrument, rater,
            *agency_only(relationship), total, *_item_values(instrument, items or {}, width),
            *agency_only(entry_mode), age_band, ending,
        ]  # fmt: skip


EPISODE_SOURCE = (
    *IDENTITY_SOURCE,
    "client__age_band",
    "start_date",
    "end_date",
    "ending",
    "outcome_instrument",
    "alliance_instrument",
    # The summary without the last session's date (a date the research file would have to shift;
    # the file never carried it).
    *(field for field in Episode.SUMMARY_FIELDS if field != "last_session_date"),
)
# Everything after the dates: codes and numbers, the same in both files.
EPISODE_NUMBERS = EPISODE_SOURCE[EPISODE_SOURCE.index("outcome_instrument") :]


def episode_rows(episodes, agency, *, research: bool) -> Iterator[list]:
    identity = _Identity(agency, research)
    yield [
        *identity.header(), "age_band", "start_date", "end_date", "ending", *EPISODE_NUMBERS,
    ]  # fmt: skip
    rows = (
        Episode.objects.filter(agency=agency, pk__in=episodes.order_by().values("pk"))
        .order_by("pk")
        .values_list(*EPISODE_SOURCE)
    )
    for row in rows.iterator(chunk_size=STREAM_CHUNK):
        who = row[: len(IDENTITY_SOURCE)]
        age_band, start, end, ending, *numbers = row[len(IDENTITY_SOURCE) :]
        yield [
            *identity.columns(who), age_band, identity.date(who[0], start),
            identity.date(who[0], end), ending, *numbers,
        ]  # fmt: skip


def csv_lines(rows: Iterator[list]) -> Iterator[str]:
    writer = csv.writer(_Echo(), lineterminator="\n")
    for row in rows:
        yield writer.writerow(["" if v is None else v for v in safe_row(row)])
