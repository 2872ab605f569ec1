"""Planning: what a valid table adds to what the agency holds (the idempotency check).

The natural key of a row is (episode key, session number, instrument, rater) within the agency;
an episode key is the key of an earlier import or, for an agency's own export, the episode's
public id. Rows already stored with the same total are unchanged; a different total is an error.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import cast

import pandas as pd
from django.utils.translation import gettext as _

from alliance.accounts.models import Agency
from alliance.care.models import Administration, Client, Episode, Session, SessionKind

from ..models import ImportedEpisode
from .report import Errors


def natural_key(episode_key: str, session_number: int, instrument: str, rater: str) -> str:
    """The administration's idempotency key for an imported row (stable across imports)."""
    text = f"{episode_key}\x1f{session_number}\x1f{instrument}\x1f{rater}"
    return "imp-" + hashlib.sha256(text.encode()).hexdigest()[:40]


@dataclass
class Plan:
    existing_clients: dict[str, int]  # display code -> client pk
    existing_episodes: dict[str, int]  # episode key -> episode pk
    new_clients: list[str]
    new_episodes: list[str]
    new_rows: list[int]  # row indexes of administrations to create
    session_count: int
    unchanged: int


def plan(agency: Agency, clean: pd.DataFrame, errors: Errors) -> Plan:
    episode_keys = set(clean["episode_id"]) - {""}
    existing_episodes: dict[str, int] = {}
    for source_key, episode_id in ImportedEpisode.objects.filter(agency=agency).values_list(
        "source_key", "episode_id"
    ):
        if source_key in episode_keys:
            existing_episodes[source_key] = episode_id
    keys = sorted(episode_keys - set(existing_episodes))
    for start in range(0, len(keys), 5000):  # the agency's own export: episodes by public id
        existing_episodes.update(
            Episode.objects.filter(
                agency=agency, public_id__in=keys[start : start + 5000]
            ).values_list("public_id", "pk")
        )
    existing_clients = dict(Client.objects.filter(agency=agency).values_list("display_code", "pk"))
    stored: dict[tuple[int, int, str, str], float] = {}
    stored_sessions: set[tuple[int, int]] = set()
    if existing_episodes:
        ids = set(existing_episodes.values())
        for episode_id, number, instrument, rater, total in Administration.objects.filter(
            agency=agency, episode_id__in=ids
        ).values_list("episode_id", "session__number", "instrument", "rater", "total"):
            stored[(episode_id, number, instrument, rater)] = total
        stored_sessions = set(
            Session.objects.filter(
                agency=agency, episode_id__in=ids, kind=SessionKind.INDIVIDUAL
            ).values_list("episode_id", "number")
        )
        owners = dict(Episode.objects.filter(pk__in=ids).values_list("pk", "client__display_code"))
    new_rows: list[int] = []
    unchanged = 0
    new_sessions: set[tuple[str, int]] = set()
    rows = clean[["episode_id", "client_id", "session_number", "instrument", "rater", "total"]]
    for index, episode_key, client_code, number, instrument, rater, total in rows.itertuples():
        if index in errors.bad_rows:
            continue
        known = existing_episodes.get(episode_key)
        if known is None:
            new_rows.append(index)
            new_sessions.add((episode_key, number))
            continue
        episode_id = known
        if owners[episode_id] != client_code:
            errors.add(index, "client_id", _("this episode was imported for another client"))
            continue
        previous = stored.get((episode_id, number, instrument, rater))
        if previous is None:
            new_rows.append(index)
            if (episode_id, number) not in stored_sessions:
                new_sessions.add((episode_key, number))
        elif abs(previous - total) < 1e-9:
            unchanged += 1
        else:
            errors.add(
                index,
                "total",
                _("already imported with total %(total)s") % {"total": f"{previous:g}"},
            )
    chosen = clean.loc[new_rows]
    new_episodes = sorted(set(chosen["episode_id"]) - set(existing_episodes))
    codes = set(chosen.loc[~chosen["episode_id"].isin(existing_episodes), "client_id"])
    new_clients = sorted(codes - set(existing_clients))
    _check_open_episodes(agency, chosen, new_episodes, existing_clients, errors)
    return Plan(
        existing_clients,
        existing_episodes,
        new_clients,
        new_episodes,
        new_rows,
        len(new_sessions),
        unchanged,
    )


def _check_open_episodes(
    agency: Agency,
    chosen: pd.DataFrame,
    new_episodes: list[str],
    existing_clients: dict[str, int],
    errors: Errors,
) -> None:
    """An open (no ending) imported episode cannot join a client who has an open episode."""
    rows = chosen[chosen["episode_id"].isin(new_episodes) & (chosen["ending"] == "")]
    rows = rows[rows["client_id"].isin(existing_clients)]
    if rows.empty:
        return
    busy = set(
        Episode.objects.filter(agency=agency, end_date__isnull=True).values_list(
            "client_id", flat=True
        )
    )
    for index, code in rows["client_id"].items():
        if existing_clients[code] in busy:
            # The clean frame keeps the CSV's integer row index; the stubs type it Hashable.
            errors.add(cast(int, index), "ending", _("this client already has an open episode"))
    open_new = chosen[chosen["episode_id"].isin(new_episodes) & (chosen["ending"] == "")]
    several = open_new.groupby("client_id")["episode_id"].transform("nunique") > 1
    for index in open_new.index[several.to_numpy()]:
        errors.add(int(index), "ending", _("a client can have only one open episode"))
