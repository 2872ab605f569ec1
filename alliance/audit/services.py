"""Writing and checking the audit trail.

``record(actor, agency, action, target, ip, detail)`` is the one way to add an event; call it
inside the transaction of the change it describes (or on its own for a read). Writers of one
chain (agency and lane, see ``models``) are serialised by a transaction-level advisory lock on
PostgreSQL (SQLite serialises all writers anyway), so a chain never forks.
"""

from __future__ import annotations

import csv
import io
import json
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from alliance.accounts.models import Agency
from alliance.accounts.network import client_ip
from alliance.ops.csvsafe import safe_row

from .models import GENESIS, LANES, AuditEvent

AUDIT_LOCK_SPACE = 0x41554454  # "AUDT": keeps these advisory locks apart from any others

__all__ = [
    "AuditEvent",
    "Broken",
    "export_csv",
    "record",
    "record_request",
    "verify",
]


def _target(target) -> tuple[str, str]:
    if target is None:
        return "", ""
    if isinstance(target, tuple):
        kind, ident = target
        return str(kind), str(ident)
    return type(target).__name__.lower(), str(getattr(target, "public_id", target.pk))


def _jsonable(detail: Mapping[str, object] | None) -> dict:
    if not detail:
        return {}
    return json.loads(json.dumps(dict(detail), default=str, sort_keys=True))


def record(
    actor,
    agency: Agency | int,
    action: str,
    target=None,
    ip: str | None = None,
    detail: Mapping[str, object] | None = None,
) -> AuditEvent:
    """Append one event to the agency's chain and return it.

    ``target`` is a model instance with a ``public_id`` (or a ``(type, id)`` pair, or None);
    ``detail`` identifiers and scores only (no names: the trail outlives erasure).
    """
    agency_id = agency if isinstance(agency, int) else agency.pk
    authenticated = getattr(actor, "is_authenticated", False)
    target_type, target_id = _target(target)
    lane = lane_for(actor.pk if authenticated else None, target_id)
    # No savepoint: a failure here must undo the whole change the event describes anyway.
    with transaction.atomic(savepoint=False):
        _lock_chain(agency_id, lane)
        last = (
            AuditEvent.objects.filter(agency_id=agency_id, lane=lane)
            .order_by("-seq")
            .values_list("seq", "hash")
            .first()
        )
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        event = AuditEvent(
            agency_id=agency_id,
            lane=lane,
            seq=seq,
            actor=actor if authenticated else None,
            actor_name=actor.get_username() if authenticated else "",
            action=action,
            target_type=target_type,
            target_id=target_id,
            detail=_jsonable(detail),
            ip_address=ip or None,
            at=now_ms(),
            prev_hash=prev,
        )
        event.hash = event.compute_hash()
        event.save(force_insert=True)
    return event


def lane_for(actor_id: int | None, target_id: str) -> int:
    """The chain an event joins: the actor's, or for events without one, the target's."""
    if actor_id is not None:
        return actor_id % LANES
    return zlib.crc32(target_id.encode()) % LANES


def _lock_chain(agency_id: int, lane: int) -> None:
    """Hold the chain until commit (PostgreSQL; SQLite's write transactions are exclusive)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Two 32-bit keys: "audit" in the first, agency and lane in the second.
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [AUDIT_LOCK_SPACE, (agency_id * LANES + lane) % 2**31],
            )


def now_ms():
    """Now, to the millisecond: Django's JSON (backups) keeps no more, and the hash covers it."""
    now = timezone.now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def record_request(request, agency, action: str, target=None, **detail: object) -> AuditEvent:
    """``record`` for a view: the actor and address come from the request."""
    return record(request.user, agency, action, target, client_ip(request), detail)


@dataclass(frozen=True)
class Broken:
    agency_id: int
    seq: int
    reason: str
    lane: int = 0

    def __str__(self) -> str:
        return (
            f"agency {self.agency_id}: chain broken at event {self.seq} of lane {self.lane}: "
            f"{self.reason}"
        )


def verify_agency(agency_id: int, *, chunk: int = 2000) -> tuple[int, Broken | None]:
    """(events checked, first broken link or None) for one agency's chains, lane by lane."""
    checked, lane, expected_seq, prev = 0, None, 1, GENESIS
    events = AuditEvent.objects.filter(agency_id=agency_id).order_by("lane", "seq")
    for event in events.iterator(chunk_size=chunk):
        if event.lane != lane:
            lane, expected_seq, prev = event.lane, 1, GENESIS
        problem = _link_problem(event, expected_seq, prev)
        if problem is not None:
            seq = expected_seq if "missing" in problem else event.seq
            return checked, Broken(agency_id, seq, problem, lane)
        prev = event.hash
        expected_seq += 1
        checked += 1
    return checked, None


def _link_problem(event: AuditEvent, expected_seq: int, prev: str) -> str | None:
    if event.seq != expected_seq:
        return f"event {expected_seq} is missing (found {event.seq})"
    if event.prev_hash != prev:
        return "does not link to the previous event"
    if event.compute_hash() != event.hash:
        return "its content was changed"
    return None


def verify(agencies: Iterable[int] | None = None) -> tuple[int, list[Broken]]:
    """Check every agency's chain: (events checked, first broken link of each broken chain)."""
    if agencies is None:
        agencies = AuditEvent.objects.order_by().values_list("agency_id", flat=True).distinct()
    total, broken = 0, []
    for agency_id in sorted(set(agencies)):
        checked, problem = verify_agency(agency_id)
        total += checked
        if problem is not None:
            broken.append(problem)
    return total, broken


EXPORT_FIELDS = [
    "lane",
    "seq",
    "at",
    "actor",
    "action",
    "target_type",
    "target_id",
    "ip_address",
    "detail",
    "prev_hash",
    "hash",
]


def export_rows(events: Iterable[AuditEvent]) -> Iterator[list[str]]:
    yield EXPORT_FIELDS
    for e in events:
        yield [
            str(e.lane),
            str(e.seq),
            e.at.isoformat(),
            e.actor_name,
            e.action,
            e.target_type,
            e.target_id,
            e.ip_address or "",
            json.dumps(e.detail, sort_keys=True),
            e.prev_hash,
            e.hash,
        ]


def export_csv(events: Iterable[AuditEvent]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in export_rows(events):
        writer.writerow(safe_row(row))  # no spreadsheet formula from any stored text
    return buffer.getvalue()


def allow_agency_purge(agency_id: int) -> None:
    """Let this transaction remove the trail of one agency that is being deleted (PostgreSQL)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('alliance.audit_purge', %s, true)", [str(agency_id)])
