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

from .models import GENESIS, LANES, REDACTED, AuditEvent, AuditHead, detail_digest, sign_head

AUDIT_LOCK_SPACE = 0x41554454  # "AUDT": keeps these advisory locks apart from any others

__all__ = [
    "AuditEvent",
    "Broken",
    "export_csv",
    "record",
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
        details = _jsonable(detail)
        event = AuditEvent(
            agency_id=agency_id,
            lane=lane,
            seq=seq,
            actor=actor if authenticated else None,
            actor_name=actor.get_username() if authenticated else "",
            action=action,
            target_type=target_type,
            target_id=target_id,
            detail=details,
            detail_digest=detail_digest(details),
            ip_address=ip or None,
            at=now_ms(),
            prev_hash=prev,
        )
        event.hash = event.compute_hash()
        event.save(force_insert=True)
        _move_head(agency_id, lane, seq, event.hash)
    return event


def _move_head(agency_id: int, lane: int, count: int, last_hash: str) -> None:
    """Sign the lane's new end (in the event's transaction, under the lane's lock)."""
    signature = sign_head(agency_id, lane, count, last_hash)
    moved = AuditHead.objects.filter(agency_id=agency_id, lane=lane).update(
        count=count, last_hash=last_hash, signature=signature, updated_at=timezone.now()
    )
    if not moved:
        AuditHead.objects.create(
            agency_id=agency_id, lane=lane, count=count, last_hash=last_hash, signature=signature
        )


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
