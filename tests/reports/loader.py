"""Fast bulk loading of a simulated administrations table into one agency (test data only).

Unlike ``alliance.care.importing`` it does not compute episode summaries or alerts (the reports
read the administrations themselves), so a few hundred episodes load in well under a second.
"""

from __future__ import annotations

import pandas as pd

from alliance.care.feedback import instrument_for
from alliance.care.models import Administration, Client, Episode, Session


def load_frame(agency, frame: pd.DataFrame, *, therapists: dict, teams: dict) -> dict[str, Episode]:
    """Episodes keyed by the table's episode_id. ``therapists``/``teams`` map table ids to rows."""
    frame = frame.sort_values(["episode_id", "session_number", "instrument", "rater"])
    firsts = frame.groupby("episode_id", sort=True).agg(
        client_id=("client_id", "first"),
        therapist_id=("therapist_id", "first"),
        team_id=("team_id", "first"),
        age_band=("age_band", "first"),
        ending=("ending", "first"),
        start=("session_date", "min"),
        end=("session_date", "max"),
        outcome=("instrument", "first"),
    )
    clients = Client.objects.bulk_create(
        [
            Client(
                agency=agency,
                display_code=f"SIM-{row.client_id}",
                name=f"Name of {row.client_id}",
                age_band=row.age_band,
                therapist=therapists[row.therapist_id],
                team=teams.get(row.team_id),
            )
            for row in firsts.itertuples()
        ]
    )
    episodes = Episode.objects.bulk_create(
        [
            Episode(
                agency=agency,
                client=client,
                start_date=row.start.date(),
                end_date=row.end.date() if isinstance(row.ending, str) else None,
                ending=row.ending if isinstance(row.ending, str) else "",
                outcome_instrument="cors" if row.age_band == "child" else "ors",
                alliance_instrument="csrs" if row.age_band == "child" else "srs",
            )
            for client, row in zip(clients, firsts.itertuples(), strict=True)
        ]
    )
    by_id = dict(zip(firsts.index, episodes, strict=True))
    session_rows = frame.drop_duplicates(["episode_id", "session_number"])
    sessions = Session.objects.bulk_create(
        [
            Session(
                agency=agency,
                episode=by_id[row.episode_id],
                number=int(row.session_number),
                date=row.session_date.date(),
            )
            for row in session_rows.itertuples()
        ]
    )
    session_of = {
        (row.episode_id, int(row.session_number)): session
        for row, session in zip(session_rows.itertuples(), sessions, strict=True)
    }
    item_columns = [c for c in frame.columns if c.startswith("item_")]
    administrations = []
    for index, row in enumerate(frame.itertuples()):
        keys = instrument_for(row.instrument).item_keys
        items = {
            key: float(getattr(row, column))
            for key, column in zip(keys, item_columns, strict=False)
            if not pd.isna(getattr(row, column))
        }
        administrations.append(
            Administration(
                agency=agency,
                episode=by_id[row.episode_id],
                session=session_of[(row.episode_id, int(row.session_number))],
                instrument=row.instrument,
                rater=row.rater,
                rater_relationship="Mum, lives with the client" if row.rater != "client" else "",
                items=items,
                total=float(row.total),
                entry_mode="import",
                idempotency_key=f"sim-{index}",
            )
        )
    Administration.objects.bulk_create(administrations, batch_size=2000)
    return by_id
