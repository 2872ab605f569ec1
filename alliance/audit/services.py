"""Writing and checking the audit trail.

``record(actor, agency, action, target, ip, detail)`` is the one way to add an event; call it
inside the transaction of the change it describes (or on its own for a read). Writers of one
chain (agency and lane, see ``models``) are serialised by a row lock on the lane's signed head
(``SELECT ... FOR UPDATE`` on PostgreSQL, held until commit; SQLite serialises all writers
anyway), so a chain never forks; the head also gives the next link (count and last hash)
without reading the events.
"""

from __future__ import annotations

import csv
import io
import json
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from alliance.accounts.models import Agency
from alliance.accounts.network import client_ip
from alliance.ops.csvsafe import safe_row

from .models import GENESIS, LANES, REDACTED, AuditEvent, AuditHead, detail_digest, sign_head

__all__ = [
    "AuditEvent",
    "Broken",
    "export_csv",
    "record",
    "record_many",
    "redact",
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
    return record_many(actor, agency, [(action, target, detail)], ip)[0]


def record_many(
    actor,
    agency: Agency | int,
    entries: Sequence[tuple[str, object, Mapping[str, object] | None]],
    ip: str | None = None,
) -> list[AuditEvent]:
    """Append several events, in this order, each ``(action, target, detail)`` as for ``record``.

    The events of one lane (always the case with a signed-in actor) are appended together: one
    lock of the lane's head, one statement for the rows and the head.
    """
    agency_id = agency if isinstance(agency, int) else agency.pk
    authenticated = getattr(actor, "is_authenticated", False)
    events = []
    for action, target, detail in entries:
        target_type, target_id = _target(target)
        details = _jsonable(detail)
        events.append(
            AuditEvent(
                agency_id=agency_id,
                lane=lane_for(actor.pk if authenticated else None, target_id),
                actor=actor if authenticated else None,
                actor_name=actor.get_username() if authenticated else "",
                action=action,
                target_type=target_type,
                target_id=target_id,
                detail=details,
                detail_digest=detail_digest(details),
                ip_address=ip or None,
                at=now_ms(),
            )
        )
    # No savepoint: a failure here must undo the whole change the events describe anyway.
    with transaction.atomic(savepoint=False):
        start = 0
        while start < len(events):  # runs of one lane, in order
            end = start + 1
            while end < len(events) and events[end].lane == events[start].lane:
                end += 1
            _append(agency_id, events[start].lane, events[start:end])
            start = end
    return events


def _append(agency_id: int, lane: int, events: list[AuditEvent]) -> None:
    """Link the events to the end of the lane and store them with the lane's new signed head.

    The head row is the lane's lock: ``SELECT ... FOR UPDATE`` on PostgreSQL holds it until the
    transaction commits, so writers of one lane queue there and a chain never forks (SQLite
    admits one writer at a time anyway). A lane without a head yet (its first event) gets one.
    """
    seq, prev = _lock_head(agency_id, lane)
    for event in events:
        seq += 1
        event.seq, event.prev_hash = seq, prev
        event.hash = prev = event.compute_hash()
    signature = sign_head(agency_id, lane, seq, prev)
    if connection.vendor != "postgresql":
        AuditEvent.objects.bulk_create(events)
        AuditHead.objects.filter(agency_id=agency_id, lane=lane).update(
            count=seq, last_hash=prev, signature=signature, updated_at=timezone.now()
        )
        return
    # One statement: the events and the head's move.
    rows = ", ".join(
        ["(%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s::inet, %s, %s, %s)"] * len(events)
    )
    params: list[Any] = []
    for e in events:
        params += [
            e.agency_id,
            e.lane,
            e.seq,
            e.actor_id,
            e.actor_name,
            e.action,
            e.target_type,
            e.target_id,
            json.dumps(e.detail),
            e.detail_digest,
            e.ip_address,
            e.at,
            e.prev_hash,
            e.hash,
        ]
    params += [seq, prev, signature, timezone.now(), agency_id, lane]
    with connection.cursor() as cursor:
        cursor.execute(
            # Only the placeholders of the rows are formatted in; every value is a parameter.
            "WITH appended AS (INSERT INTO audit_auditevent (agency_id, lane, seq, actor_id, "  # nosec B608
            "actor_name, action, target_type, target_id, detail, detail_digest, ip_address, at, "
            f"prev_hash, hash) VALUES {rows} RETURNING id) "
            "UPDATE audit_audithead SET count = %s, last_hash = %s, signature = %s, "
            "updated_at = %s WHERE agency_id = %s AND lane = %s "
            "RETURNING (SELECT array_agg(id ORDER BY id) FROM appended)",
            params,
        )
        ids = cursor.fetchone()[0]
    for event, pk in zip(events, ids, strict=True):
        event.pk = pk
        event._state.adding = False
        event._state.db = connection.alias


HEAD_SQL = "SELECT count, last_hash FROM audit_audithead WHERE agency_id = %s AND lane = %s"


def _lock_head(agency_id: int, lane: int) -> tuple[int, str]:
    """(events in the lane, last hash) from the lane's head, locked until commit."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(HEAD_SQL + lock, [agency_id, lane])
        row = cursor.fetchone()
        if row is not None:
            return int(row[0]), str(row[1])
        # The lane's first event (or its head was removed): the head starts where the events
        # end. Two first writers insert the same head; the second waits for the first's commit
        # and then locks the head it moved.
        last = (
            AuditEvent.objects.filter(agency_id=agency_id, lane=lane)
            .order_by("-seq")
            .values_list("seq", "hash")
            .first()
        )
        count, last_hash = last if last else (0, GENESIS)
        cursor.execute(
            "INSERT INTO audit_audithead (agency_id, lane, count, last_hash, signature, "
            "updated_at) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (agency_id, lane) DO NOTHING",
            [
                agency_id,
                lane,
                count,
                last_hash,
                sign_head(agency_id, lane, count, last_hash),
                timezone.now(),
            ],
        )
        cursor.execute(HEAD_SQL + lock, [agency_id, lane])
        row = cursor.fetchone()
    return int(row[0]), str(row[1])


def lane_for(actor_id: int | None, target_id: str) -> int:
    """The chain an event joins: the actor's, or for events without one, the target's."""
    if actor_id is not None:
        return actor_id % LANES
    return zlib.crc32(target_id.encode()) % LANES


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


EVIDENCE_HINT = (
    "Keep the evidence before anything else changes: `alliance backup -o audit-evidence.json.gz` "
    "copies the whole database (trail and signed lane heads); each agency admin can also download "
    "the trail as CSV (Audit trail > Export, /audit/export.csv)."
)


def verify_agency(agency_id: int, *, chunk: int = 2000) -> tuple[int, list[Broken]]:
    """(events checked, every broken lane) for one agency: each lane's links, then its head.

    Reports each broken lane once, at its first problem; a lane whose events were cut off at
    the end (or removed entirely) is caught by its signed head.
    """
    heads = {head.lane: head for head in AuditHead.objects.filter(agency_id=agency_id)}
    checked, broken = 0, []
    lanes: dict[int, tuple[int, str]] = {}  # lane -> (events, last hash), for the heads
    failed: set[int] = set()
    lane, expected_seq, prev = None, 1, GENESIS
    events = AuditEvent.objects.filter(agency_id=agency_id).order_by("lane", "seq")
    for event in events.iterator(chunk_size=chunk):
        if event.lane != lane:
            lane, expected_seq, prev = event.lane, 1, GENESIS
        if lane in failed:
            continue
        problem = _link_problem(event, expected_seq, prev)
        if problem is not None:
            seq = expected_seq if "missing" in problem else event.seq
            broken.append(Broken(agency_id, seq, problem, lane))
            failed.add(lane)
            continue
        prev = event.hash
        lanes[lane] = (expected_seq, prev)
        expected_seq += 1
        checked += 1
    for number in sorted(set(heads) | set(lanes)):
        if number in failed:
            continue
        problem = _head_problem(heads.get(number), *lanes.get(number, (0, GENESIS)))
        if problem is not None:
            count = lanes.get(number, (0, GENESIS))[0]
            broken.append(Broken(agency_id, count + 1, problem, number))
    return checked, sorted(broken, key=lambda b: b.lane)


def _link_problem(event: AuditEvent, expected_seq: int, prev: str) -> str | None:
    if event.seq != expected_seq:
        return f"event {expected_seq} is missing (found {event.seq})"
    if event.prev_hash != prev:
        return "does not link to the previous event"
    if event.compute_hash() != event.hash:
        return "its content was changed"
    if not event.redacted and detail_digest(event.detail) != event.detail_digest:
        return "its details were changed"
    return None


def _head_problem(head: AuditHead | None, count: int, last_hash: str) -> str | None:
    if head is None:
        return "the lane has no signed head (it was removed)"
    if not head.signature_valid():
        return "the signature of the lane's head does not match (the head was rewritten)"
    if head.count != count or head.last_hash != last_hash:
        return (
            f"the lane ends at event {count} but its signed head says {head.count}: "
            "events were removed from the end"
        )
    return None


def verify(agencies: Iterable[int] | None = None) -> tuple[int, list[Broken]]:
    """Check every agency's chains: (events checked, every broken lane of every agency)."""
    if agencies is None:
        with_events = AuditEvent.objects.order_by().values_list("agency_id", flat=True)
        with_heads = AuditHead.objects.order_by().values_list("agency_id", flat=True)
        agencies = set(with_events.distinct()) | set(with_heads.distinct())
    total, broken = 0, []
    for agency_id in sorted(set(agencies)):
        checked, problems = verify_agency(agency_id)
        total += checked
        broken.extend(problems)
    return total, broken


def redact(agency_id: int, events: Iterable[AuditEvent], **kept: object) -> int:
    """Replace the details of these events by ``{"redacted": kept}`` (erasure); returns how many.

    The hash covers the digest of the original details, which stays, so the chain and the
    signed heads still verify. The only update of the trail the database allows (migration
    0004): the details alone, to a redaction marker, for the agency named in this transaction.
    """
    ids = [event.pk for event in events if not event.redacted]
    if not ids:
        return 0
    marker = {REDACTED: _jsonable(kept)}
    done = 0
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":  # transaction-local: the guard reads it
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('alliance.audit_redact', %s, true)", [str(agency_id)]
                )
        for start in range(0, len(ids), 500):
            batch = ids[start : start + 500]
            done += AuditEvent._base_manager.filter(agency_id=agency_id, pk__in=batch).update(
                detail=marker
            )
    return done


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
