"""The hash chain: append an event, verify every chain.

Each event's ``hash`` is SHA-256 over the previous event's hash in its chain and a canonical JSON
serialization of all its other columns, so that changing, removing or reordering a row breaks the
chain from there on. One chain per clinic keeps clinics from waiting for each other.

Appends to one chain are serialized, so that two writers never link to the same predecessor (the
unique (chain, seq) constraint would refuse the second anyway): SQLite's IMMEDIATE transactions
already write one at a time; on PostgreSQL a transaction-scoped advisory lock per chain does it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from exoderm.audit.context import Who, current
from exoderm.audit.models import AuditEvent

GENESIS = "0" * 64
# First key of PostgreSQL's two-key advisory locks: "AU" for audit, apart from any other lock.
_LOCK_NAMESPACE = 0x4155
HASHED = (
    "chain",
    "seq",
    "at",
    "action",
    "channel",
    "user_id",
    "username",
    "role",
    "clinic_id",
    "object_type",
    "object_id",
    "patient_id",
    "changes",
    "route",
    "query",
    "ip",
    "user_agent",
    "request_id",
    "prev_hash",
)


def clean_text(text: str) -> str:
    """``text`` as every database stores it: NUL bytes and lone surrogates (PostgreSQL refuses both,
    in text and JSON) written out as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def plain(value: Any) -> Any:
    """``value`` as JSON gives it back (dates as ISO text, decimals as text), so that the hash of a
    stored event is the hash of the event before it was stored."""
    return _clean(json.loads(json.dumps(value, cls=DjangoJSONEncoder)))


def digest(values: dict[str, Any]) -> str:
    fields = {name: values[name] for name in HASHED}
    fields["at"] = values["at"].astimezone(dt.UTC).isoformat(timespec="microseconds")
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _lock(cursor: Any, chain: int, *, own_transaction: bool) -> None:
    """On PostgreSQL: wait for the chain (see the module's docstring). An event in a transaction of
    its own (the read of a page; writes are inside theirs) also commits without waiting for the
    disk: a crash in the next fraction of a second may lose that read event, whole (the chain stays
    intact), where waiting would add a disk flush to every page view of a clinic."""
    if connection.vendor != "postgresql":
        return
    if own_transaction:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s), set_config('synchronous_commit', 'off', true)",
            [_LOCK_NAMESPACE, chain % 2**31],
        )
    else:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, chain % 2**31])


@cache
def _columns() -> tuple[list[Any], str, str]:
    """The audit table's fields and its two statements, composed once: an append runs on every
    audited request, and Django's query compiler would cost more than the statements themselves."""
    fields = [f for f in AuditEvent._meta.concrete_fields if not f.primary_key]
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    names = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    last_link = f"SELECT seq, hash FROM {table} WHERE chain = %s ORDER BY seq DESC LIMIT 1"
    insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(fields))})"
    return fields, last_link, insert


def append(
    *,
    action: str,
    object_type: str,
    object_id: Any = "",
    clinic_id: int | None,
    patient_id: int | None = None,
    changes: dict[str, Any] | None = None,
    route: str = "",
    query: dict[str, Any] | None = None,
    who: Who | None = None,
) -> None:
    """Write one event at the end of its clinic's chain, inside the caller's transaction if any."""
    context = current()
    who = who or context.who()
    chain = clinic_id or 0
    fields, last_link, insert = _columns()
    # No savepoint inside the caller's transaction: a failed append fails that transaction anyway,
    # and the read of a page pays two statements (link, insert) instead of four.
    own_transaction = not connection.in_atomic_block
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        _lock(cursor, chain, own_transaction=own_transaction)
        cursor.execute(last_link, [chain])
        last = cursor.fetchone()
        seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
        values: dict[str, Any] = {
            "chain": chain,
            "seq": seq,
            "at": timezone.now(),
            "action": str(action),
            "channel": context.channel,
            "user_id": who.user_id,
            "username": clean_text(who.username)[:150],
            "role": who.role,
            "clinic_id": clinic_id,
            "object_type": object_type,
            "object_id": clean_text(str(object_id))[:64],
            "patient_id": patient_id,
            "changes": plain(changes or {}),
            "route": clean_text(route)[:200],
            "query": plain(query or {}),
            "ip": context.ip,
            "user_agent": clean_text(context.user_agent)[:300],
            "request_id": context.request_id,
            "prev_hash": prev_hash,
        }
        values["hash"] = digest(values)
        cursor.execute(insert, [f.get_db_prep_save(values[f.attname], connection) for f in fields])


@dataclass(frozen=True)
class Break:
    event_id: int
    chain: int
    seq: int
    problem: str


@dataclass(frozen=True)
class Verdict:
    events: int
    first_break: Break | None


def _rows() -> Iterator[dict[str, Any]]:
    return AuditEvent.objects.order_by("chain", "seq").values("id", "hash", *HASHED).iterator(chunk_size=2000)


def verify() -> Verdict:
    """Check every chain from its first event; stop at the first broken link."""
    count = 0
    chain, prev_hash, prev_seq = None, GENESIS, 0
    for row in _rows():
        count += 1
        if row["chain"] != chain:
            chain, prev_hash, prev_seq = row["chain"], GENESIS, 0
        problem = ""
        if row["seq"] != prev_seq + 1:
            problem = f"expected link {prev_seq + 1} of the chain, found {row['seq']}: events are missing"
        elif row["prev_hash"] != prev_hash:
            problem = "its previous-hash does not match the event before it: an event was removed or replaced"
        elif digest(row) != row["hash"]:
            problem = "its content does not match its hash: the row was changed"
        if problem:
            return Verdict(count, Break(row["id"], row["chain"], row["seq"], problem))
        prev_hash, prev_seq = row["hash"], row["seq"]
    return Verdict(count, None)
