"""Declarative resources: list (filtered, keyset-paginated), get by id and insert.

Identifiers come only from the resource definitions in code; every value is a query
parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args
from uuid import UUID

import asyncpg
from multidict import MultiMapping
from pydantic import BaseModel

from shared.pagination import BadCursor, decode_cursor, encode_cursor, parse_limit
from shared.schemas import page_of
from shared.web import invalid, not_found


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

    def __post_init__(self) -> None:
        unknown = set(self.filters) - set(self.model.model_fields)
        if unknown:
            raise ValueError(f"{self.name}: filters on unknown columns {sorted(unknown)}")

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
    conn: asyncpg.Connection, resource: Resource, tenant_id: UUID, id_: UUID
) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"SELECT {resource.select_list} FROM {resource.table} WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        id_,
    )
    if row is None:
        raise not_found(resource.name, id_)
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
