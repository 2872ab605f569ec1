"""The one place that decides which clients a user may see.

Every query for clients goes through ``visible_clients``. Rows of another agency, or clients a
therapist may not see, are answered with 404 (never 403: their existence is not disclosed).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, cast

from django.db import connection
from django.db.models import Exists, Model, OuterRef, Q, QuerySet
from django.db.models.expressions import Col
from django.http import Http404

from alliance.accounts.models import Membership, Role, TeamMembership
from alliance.accounts.permissions import active_membership

from .models import Client, ClientShare, Episode, Session, SessionKind


def _shared_with(user) -> Exists:
    return Exists(ClientShare.objects.filter(client=OuterRef("pk"), user=user))


def _clients_for_therapist(membership: Membership) -> QuerySet[Client]:
    user = membership.user
    return Client.objects.filter(agency=membership.agency_id).filter(
        Q(therapist=user) | _shared_with(user)
    )


def _clients_for_supervisor(membership: Membership) -> QuerySet[Client]:
    user = membership.user
    own_teams = TeamMembership.objects.filter(agency=membership.agency_id, user=user).values("team")
    therapist_in_my_teams = Exists(
        TeamMembership.objects.filter(
            agency=membership.agency_id, user=OuterRef("therapist"), team__in=own_teams
        )
    )
    return Client.objects.filter(agency=membership.agency_id).filter(
        Q(team__in=own_teams) | therapist_in_my_teams | Q(therapist=user) | _shared_with(user)
    )


def _clients_for_admin(membership: Membership) -> QuerySet[Client]:
    return Client.objects.filter(agency=membership.agency_id)


_BY_ROLE: dict[str, Callable[[Membership], QuerySet[Client]]] = {
    Role.THERAPIST: _clients_for_therapist,
    Role.SUPERVISOR: _clients_for_supervisor,
    Role.ADMIN: _clients_for_admin,
}


def visible_clients(user) -> QuerySet[Client]:
    """Clients the user may see; empty for anonymous users and users without an agency."""
    membership = active_membership(user)
    if membership is None:
        return Client.objects.none()
    return _BY_ROLE[membership.role](membership)


def visible_episodes(user) -> QuerySet[Episode]:
    membership = active_membership(user)
    if membership is None:
        return Episode.objects.none()
    return Episode.objects.filter(
        agency=membership.agency_id, client__in=visible_clients(user).values("pk")
    )


def get_visible_client_or_404(user, public_id: str) -> Client:
    try:
        return visible_clients(user).get(public_id=public_id)
    except Client.DoesNotExist:
        raise Http404("No such client") from None


# --- the same rule in SQL, for the hot paths (a rating submit: issue 16) -----------------------
# Building the queryset above costs more than running it; a rating needs one session of one
# client, so ``visible_session`` writes the rule out once. tests/web/test_web_visibility.py
# checks that both forms of the rule agree for every role, share, team and agency.


def client_rule(user, alias: str) -> tuple[str, list[Any]]:
    """``visible_clients`` as a SQL condition on the client table named ``alias``."""
    membership = active_membership(user)
    if membership is None:
        return "1 = 0", []
    agency, me = membership.agency_id, membership.user_id
    shared = (
        f"EXISTS (SELECT 1 FROM {ClientShare._meta.db_table} cs "
        f"WHERE cs.client_id = {alias}.id AND cs.user_id = %s)"
    )
    if membership.role == Role.ADMIN:
        return f"{alias}.agency_id = %s", [agency]
    if membership.role == Role.THERAPIST:
        return (
            f"{alias}.agency_id = %s AND ({alias}.therapist_id = %s OR {shared})",
            [agency, me, me],
        )
    if membership.role == Role.SUPERVISOR:
        team_table = TeamMembership._meta.db_table
        own_teams = (
            f"SELECT tm.team_id FROM {team_table} tm WHERE tm.agency_id = %s AND tm.user_id = %s"
        )
        in_my_teams = (
            f"EXISTS (SELECT 1 FROM {team_table} tt WHERE tt.agency_id = %s "
            f"AND tt.user_id = {alias}.therapist_id AND tt.team_id IN ({own_teams}))"
        )
        return (
            f"{alias}.agency_id = %s AND ({alias}.team_id IN ({own_teams}) OR {in_my_teams} "
            f"OR {alias}.therapist_id = %s OR {shared})",
            [agency, agency, me, agency, agency, me, me, me],
        )
    raise ValueError(f"no visibility rule for the role {membership.role!r}")


@cache
def _columns(model: type[Model], alias: str) -> tuple[str, list]:
    """The select list of a model's columns under ``alias``, with the converters of the columns
    that have any (by position): most columns need none, and this runs on every rating."""
    fields = model._meta.concrete_fields
    select = ", ".join(f"{alias}.{connection.ops.quote_name(cast(str, f.column))}" for f in fields)
    converters = []
    for index, field in enumerate(fields):
        column = Col(alias, field)
        found = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        if found:
            converters.append((index, column, found))
    return select, converters


def _instance(model: type[Model], alias: str, values: tuple) -> Any:
    _select, converters = _columns(model, alias)
    converted = list(values)
    for index, column, found in converters:
        value = converted[index]
        for converter in found:
            value = converter(value, column, connection)
        converted[index] = value
    return model.from_db(connection.alias, (), converted)


@cache
def _session_sql(rule: str) -> str:
    """The statement of ``visible_session`` for one form of the rule (one per role)."""
    parts = [_columns(Session, "s"), _columns(Episode, "e"), _columns(Client, "c")]
    # Only table and column names and the rule (placeholders) are formatted in.
    return (
        f"SELECT {', '.join(select for select, _ in parts)} "  # nosec B608
        f"FROM {Session._meta.db_table} s "
        f"JOIN {Episode._meta.db_table} e ON e.id = s.episode_id "
        f"JOIN {Client._meta.db_table} c ON c.id = e.client_id "
        "WHERE c.public_id = %s AND s.number = %s AND s.kind = %s AND e.end_date IS NULL "
        f"AND {rule} LIMIT 2"
    )


def visible_session(
    user, client_public_id: str, number: int, *, kind: str = SessionKind.INDIVIDUAL
) -> Session | None:
    """Session ``number`` of the open episode of a client the user may see, with its episode and
    client loaded, in one statement; None when there is no such session or it is not the
    user's to see."""
    rule, params = client_rule(user, "c")
    with connection.cursor() as cursor:
        cursor.execute(_session_sql(rule), [client_public_id, number, kind, *params])
        rows = cursor.fetchall()
    if not rows:
        return None
    if len(rows) > 1:
        raise Session.MultipleObjectsReturned("two open episodes with this session")
    row = rows[0]
    sizes = [len(Session._meta.concrete_fields), len(Episode._meta.concrete_fields)]
    session = _instance(Session, "s", row[: sizes[0]])
    episode = _instance(Episode, "e", row[sizes[0] : sizes[0] + sizes[1]])
    client = _instance(Client, "c", row[sizes[0] + sizes[1] :])
    episode.client = client
    session.episode = episode
    return session


def visible_client_id(user, public_id: str) -> int | None:
    """The id of the client the user may see under this public id (one short statement)."""
    rule, params = client_rule(user, "c")
    with connection.cursor() as cursor:
        cursor.execute(
            # Only a table name and the rule (placeholders) are formatted in; values are parameters.
            f"SELECT c.id FROM {Client._meta.db_table} c WHERE c.public_id = %s AND {rule}",  # nosec B608
            [public_id, *params],
        )
        row = cursor.fetchone()
    return row[0] if row else None
