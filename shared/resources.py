"""Declarative resources: list (filtered, keyset-paginated), get, insert, update and
delete by id, and status changes along a lifecycle.

Identifiers come only from the resource definitions in code; every value is a query
parameter. What cannot be done is raised as a domain error (:mod:`shared.errors`); only
parsing a list's query string, which happens at the edge, answers in HTTP terms.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, get_args
from uuid import UUID

import asyncpg
from multidict import MultiMapping
from pydantic import BaseModel

from shared.errors import NotFound
from shared.pagination import BadCursor, decode_cursor, encode_cursor, parse_limit
from shared.schemas import page_of
from shared.web import invalid

if TYPE_CHECKING:
    from shared.contracts.spec import Lifecycle


def parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError("expected true or false")


def parse_text(raw: str) -> str:
    if len(raw) > 200:
        raise ValueError("at most 200 characters")
    if "\x00" in raw:
        raise ValueError("must not contain NUL characters")
    return raw


def parse_uuid_filter(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError as exc:
        raise ValueError("not a valid UUID") from exc


def parse_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError("expected a whole number") from exc
    if not -(2**31) <= value < 2**31:
        raise ValueError("out of range")
    return value


def parse_timestamp(raw: str) -> datetime:
    try:
        ts = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        # Python's message would echo the input back; say what is expected instead.
        raise ValueError("expected an ISO 8601 timestamp, e.g. 2026-11-01T10:00:00Z") from exc
    if ts.tzinfo is None:
        raise ValueError("timestamp needs a timezone, e.g. 2026-11-01T10:00:00Z")
    return ts


Parser = Callable[[str], Any]


def parser_for(model: type[BaseModel], column: str) -> Parser:
    """How a query-string value for ``column`` is read, from its type in ``model``."""
    annotation = model.model_fields[column].annotation
    kinds = set(get_args(annotation)) | {annotation}
    if UUID in kinds:
        return parse_uuid_filter
    if bool in kinds:
        return parse_bool
    if int in kinds:
        return parse_int
    return parse_text


@dataclass(frozen=True)
class Resource:
    """A table as the API shows it. Its columns are the fields of ``model``: the response
    model is the one declaration of what a row holds."""

    name: str
    table: str
    model: type[BaseModel]
    # Columns a list may be filtered on by equality; how a value is read follows the
    # column's type in the model.
    filters: tuple[str, ...] = ()
    # Range filters on created_at, for resources one searches by time.
    time_filters: bool = False
    # Rows of the platform itself (heartbeats, the model registry) live in the system
    # tenant and are the same for every caller.
    platform_wide: bool = False
    # Columns :func:`update` may set; naming any other is a bug, so no request field can
    # reach a column the resource does not mean to have changed.
    updatable: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for role, names in (("filters on", self.filters), ("updates", self.updatable)):
            unknown = set(names) - set(self.model.model_fields)
            if unknown:
                raise ValueError(f"{self.name}: {role} unknown columns {sorted(unknown)}")

    @property
    def parsers(self) -> dict[str, Parser]:
        """How each filter's value is read from a query string."""
        return {name: parser_for(self.model, name) for name in self.filters}

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.model.model_fields)

    @property
    def select_list(self) -> str:
        return ", ".join(self.columns)

    @property
    def page_model(self) -> type[BaseModel]:
        return page_of(self.model)


@dataclass(frozen=True)
class ListQuery:
    limit: int
    after: tuple[datetime, UUID] | None
    equals: dict[str, Any]
    since: datetime | None = None
    until: datetime | None = None


RESERVED_PARAMS = ("limit", "cursor")


def parse_list_query(resource: Resource, params: MultiMapping[str]) -> ListQuery:
    errors: list[dict[str, Any]] = []
    limit = 0
    try:
        limit = parse_limit(params.get("limit"))
    except ValueError as exc:
        errors.append({"field": "limit", "message": str(exc) or "not an integer"})
    after = None
    if cursor := params.get("cursor"):
        try:
            after = decode_cursor(cursor)
        except BadCursor as exc:
            errors.append({"field": "cursor", "message": str(exc)})
    equals: dict[str, Any] = {}
    bounds: dict[str, datetime] = {}
    for key in params:
        if key in RESERVED_PARAMS:
            continue
        raw = params.get(key, "")
        if key in resource.filters:
            try:
                equals[key] = parser_for(resource.model, key)(raw)
            except ValueError as exc:
                errors.append({"field": key, "message": str(exc) or "invalid value"})
        elif resource.time_filters and key in ("since", "until"):
            try:
                bounds[key] = parse_timestamp(raw)
            except ValueError as exc:
                errors.append({"field": key, "message": str(exc)})
        else:
            allowed = sorted([*resource.filters, *RESERVED_PARAMS])
            if resource.time_filters:
                allowed += ["since", "until"]
            errors.append(
                {"field": key, "message": f"unknown parameter; allowed: {', '.join(allowed)}"}
            )
    if errors:
        raise invalid("query parameters are invalid", errors)
    return ListQuery(limit, after, equals, bounds.get("since"), bounds.get("until"))


async def list_page(
    conn: asyncpg.Connection, resource: Resource, tenant_id: UUID, query: ListQuery
) -> dict[str, Any]:
    clauses = ["tenant_id = $1"]
    args: list[Any] = [tenant_id]
    for column, value in query.equals.items():
        args.append(value)
        clauses.append(f"{column} = ${len(args)}")
    if query.since is not None:
        args.append(query.since)
        clauses.append(f"created_at >= ${len(args)}")
    if query.until is not None:
        args.append(query.until)
        clauses.append(f"created_at < ${len(args)}")
    if query.after is not None:
        args.extend(query.after)
        clauses.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
    args.append(query.limit + 1)
    sql = (
        f"SELECT {resource.select_list} FROM {resource.table} WHERE {' AND '.join(clauses)} "
        f"ORDER BY created_at DESC, id DESC LIMIT ${len(args)}"
    )
    rows = await conn.fetch(sql, *args)
    items = [dict(r) for r in rows[: query.limit]]
    next_cursor = None
    if len(rows) > query.limit:
        last = items[-1]
        next_cursor = encode_cursor(last["created_at"], last["id"])
    return {"items": items, "next_cursor": next_cursor}


async def fetch_one(
    conn: asyncpg.Connection,
    resource: Resource,
    tenant_id: UUID,
    id_: UUID,
    *,
    lock: bool = False,
) -> dict[str, Any]:
    """The row ``id_``; :class:`NotFound` if the tenant has none. ``lock`` holds it
    (``FOR UPDATE``) until the transaction ends, for a change that depends on it."""
    row = await conn.fetchrow(
        f"SELECT {resource.select_list} FROM {resource.table} WHERE tenant_id = $1 AND id = $2"
        + (" FOR UPDATE" if lock else ""),
        tenant_id,
        id_,
    )
    if row is None:
        raise NotFound(resource.name, id_)
    return dict(row)


async def insert(
    conn: asyncpg.Connection, resource: Resource, tenant_id: UUID, values: Mapping[str, Any]
) -> dict[str, Any]:
    names = ["tenant_id", *values]
    placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    row = await conn.fetchrow(
        f"INSERT INTO {resource.table} ({', '.join(names)}) VALUES ({placeholders}) "
        f"RETURNING {resource.select_list}",
        tenant_id,
        *values.values(),
    )
    assert row is not None
    return dict(row)


async def update(
    conn: asyncpg.Connection,
    resource: Resource,
    tenant_id: UUID,
    id_: UUID,
    changes: Mapping[str, Any],
) -> dict[str, Any]:
    """Set ``changes`` (columns in ``resource.updatable``) on the row ``id_`` and answer it
    as it then is; with no changes, the row as it is. :class:`NotFound` if there is none."""
    if not changes:
        return await fetch_one(conn, resource, tenant_id, id_)
    refused = set(changes) - set(resource.updatable)
    if refused:
        raise ValueError(f"{resource.name}: {sorted(refused)} cannot be updated")
    return await _set(conn, resource, tenant_id, id_, changes)


async def delete(
    conn: asyncpg.Connection, resource: Resource, tenant_id: UUID, id_: UUID
) -> dict[str, Any]:
    """Delete the row ``id_`` and answer it as it was; :class:`NotFound` if there is none."""
    row = await conn.fetchrow(
        f"DELETE FROM {resource.table} WHERE tenant_id = $1 AND id = $2 "
        f"RETURNING {resource.select_list}",
        tenant_id,
        id_,
    )
    if row is None:
        raise NotFound(resource.name, id_)
    return dict(row)


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A row before and after a status change (events carry the status it left)."""

    before: dict[str, Any]
    after: dict[str, Any]


async def change_status(
    conn: asyncpg.Connection,
    resource: Resource,
    tenant_id: UUID,
    id_: UUID,
    lifecycle: Lifecycle,
    action: str,
    also: Mapping[str, Any] | None = None,
) -> StatusChange:
    """Move the row ``id_`` along ``lifecycle`` by ``action``, setting the columns in
    ``also`` with it and stamping the time the new status was reached.

    The row is locked first, so two requests cannot both move it from the same status:
    the second sees where the first left it and is refused with
    :class:`~shared.contracts.spec.InvalidTransition` (a 409 ``invalid_transition``).
    :class:`NotFound` if there is no such row."""
    extra = dict(also or {})
    unknown = set(extra) - set(resource.columns)
    if unknown:
        raise ValueError(f"{resource.name}: no columns {sorted(unknown)}")
    before = await fetch_one(conn, resource, tenant_id, id_, lock=True)
    status = lifecycle.next_status(action, before["status"])
    stamps = sorted({column for reached, column in lifecycle.stamps.items() if reached == status})
    after = await _set(conn, resource, tenant_id, id_, {"status": status, **extra}, now=stamps)
    return StatusChange(before, after)


async def _set(
    conn: asyncpg.Connection,
    resource: Resource,
    tenant_id: UUID,
    id_: UUID,
    values: Mapping[str, Any],
    now: Collection[str] = (),
) -> dict[str, Any]:
    """One UPDATE of the row: ``values``, the time in the columns ``now``, and
    ``updated_at`` when the resource has one."""
    assigned = [f"{name} = ${i}" for i, name in enumerate(values, start=3)]
    # clock_timestamp(), not now(): copies elsewhere order versions of a row by it, and
    # one transaction may change a row more than once.
    timed = [*now, *(["updated_at"] if "updated_at" in resource.columns else [])]
    assigned += [f"{column} = clock_timestamp()" for column in timed]
    row = await conn.fetchrow(
        f"UPDATE {resource.table} SET {', '.join(assigned)} "
        f"WHERE tenant_id = $1 AND id = $2 RETURNING {resource.select_list}",
        tenant_id,
        id_,
        *values.values(),
    )
    if row is None:
        raise NotFound(resource.name, id_)
    return dict(row)
