"""Loading a simulated administrations table into one agency through the one writer of tables.

``alliance.api.imports`` (the bulk import behind the API) writes the rows, their summaries and
current alerts; this adds what the reports tests look for: client names and a collateral rater's
relationship, and client codes that show they were simulated.
"""

from __future__ import annotations

import pandas as pd

from alliance.api.imports import import_frame, imported_episodes
from alliance.care.models import Episode


def load_frame(agency, frame: pd.DataFrame, *, therapists: dict, teams: dict) -> dict[str, Episode]:
    """Episodes keyed by the table's episode_id. ``therapists``/``teams`` map table ids to rows."""
    # Names only where the agency allows them (the import refuses them otherwise).
    names = "Name of " + frame["client_id"].astype(str) if agency.allow_client_names else ""
    frame = frame.assign(
        client_name=names,
        rater_relationship=frame["rater"].map(
            lambda rater: "" if rater == "client" else "Mum, lives with the client"
        ),
    )
    import_frame(None, agency, frame, therapists=therapists, teams=teams, code_prefix="SIM-")
    return imported_episodes(agency, frame["episode_id"].unique())
