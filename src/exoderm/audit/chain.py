"""The hash chain: append an event, verify every chain.

Each event's ``hash`` is SHA-256 over ``prev_hash:seq:body``: the previous event's hash in its
chain, the event's place in it, and a canonical JSON serialization of all its other columns
(:func:`body`). Changing, removing or reordering a row breaks the chain from there on. One chain
per clinic keeps clinics from waiting for each other.

Appends to one chain are serialized, so that two writers never link to the same predecessor (the
unique (chain, seq) constraint would refuse the second anyway). SQLite's IMMEDIATE transactions
already write one at a time: there the event is linked here, two statements. On PostgreSQL the
function ``audit_append`` (migration 0002) takes a transaction-scoped advisory lock per chain,
reads the last link, computes the hash with the same formula and inserts: one round trip, which
is what an audited page view pays on PostgreSQL.
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
from django.db import connection, models, transaction
from django.utils import timezone

from exoderm.audit.context import Who, current
from exoderm.audit.models import AuditEvent

GENESIS = "0" * 64
# The columns under the hash besides the chain position (seq, prev_hash), in the order
# PostgreSQL's audit_append takes them.
BODY = (
    "chain",
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


def body(values: dict[str, Any]) -> str:
    """The canonical serialization of an event's columns other than its place in the chain."""
    fields = {name: values[name] for name in BODY}
    fields["at"] = values["at"].astimezone(dt.UTC).isoformat(timespec="microseconds")
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def link(prev_hash: str, seq: int, event_body: str) -> str:
    return hashlib.sha256(f"{prev_hash}:{seq}:{event_body}".encode("ascii")).hexdigest()


#: The column types whose values Django converts for the database (the others are plain text and
#: integers the driver takes as they are).
CONVERTED = (models.DateTimeField, models.JSONField)


@cache
def _statements() -> tuple[list[Any], str, str]:
    """The fields of the body and the statements of an append, composed once: an append runs on
    every audited request, and Django's query compiler would cost more than the statements."""
    by_attname = {f.attname: f for f in AuditEvent._meta.concrete_fields}
    fields = [by_attname[name] for name in BODY]
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    if connection.vendor == "postgresql":
        casts = [f.db_type(connection) for f in fields]
        arguments = ", ".join(f"%s::{cast}" for cast in casts)
        return fields, "", f"SELECT audit_append(%s::boolean, %s::text, {arguments})"
    names = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    last_link = f"SELECT seq, hash FROM {table} WHERE chain = %s ORDER BY seq DESC LIMIT 1"
    insert = (
        f"INSERT INTO {table} ({names}, seq, prev_hash, hash) "
        f"VALUES ({', '.join(['%s'] * (len(fields) + 3))})"
    )
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
    values: dict[str, Any] = {
        "chain": clinic_id or 0,
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
    }
    event_body = body(values)
    fields, last_link, insert = _statements()
    # Texts and numbers go to the driver as they are; only the time and the JSON columns need
    # Django's conversion (a sixteenth of an append's time went into converting every column).
    columns = [
        f.get_db_prep_save(values[name], connection) if isinstance(f, CONVERTED) else values[name]
        for f, name in zip(fields, BODY, strict=True)
    ]
    if connection.vendor == "postgresql":
        # An event in a transaction of its own (the read of a page; writes are inside theirs)
        # commits without waiting for the disk flush: a crash in the next fraction of a second
        # may lose that read event, whole (the chain stays intact), where waiting would add a
        # flush to every page view.
        own_transaction = not connection.in_atomic_block
        with connection.cursor() as cursor:
            cursor.execute(insert, [own_transaction, event_body, *columns])
        return
    # No savepoint inside the caller's transaction: a failed append fails that transaction anyway.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(last_link, [values["chain"]])
        last = cursor.fetchone()
        seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
        cursor.execute(insert, [*columns, seq, prev_hash, link(prev_hash, seq, event_body)])


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
    columns = ("id", "seq", "prev_hash", "hash", *BODY)
    return AuditEvent.objects.order_by("chain", "seq").values(*columns).iterator(chunk_size=2000)


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
        elif link(row["prev_hash"], row["seq"], body(row)) != row["hash"]:
            problem = "its content does not match its hash: the row was changed"
        if problem:
            return Verdict(count, Break(row["id"], row["chain"], row["seq"], problem))
        prev_hash, prev_seq = row["hash"], row["seq"]
    return Verdict(count, None)
