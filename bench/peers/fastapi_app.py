"""The API's decision, alert and recommendation reads and the decision POST as one FastAPI
app under uvicorn: the peer that ``bench/http.py`` measures the gateway against.

    ADPILOT_DATABASE_URL=... uvicorn bench.peers.fastapi_app:app --workers 4 --loop uvloop

It is written the way a FastAPI service usually is: one asyncpg pool per worker process,
a dependency that checks the API key, pydantic response models (the contracts' own, so
both answer the same fields) serialised by FastAPI, and the same tables the services use.
Reads and writes go through the functions the services themselves call
(:mod:`shared.resources`, :func:`services.gateway.keys.principal_for_key`,
:func:`shared.outbox.enqueue`), so both sides run the same SQL, and keys found good are
kept as long as the gateway keeps them (:class:`services.gateway.keys.KeyCache`).

What it leaves out, and the platform pays for: a second hop (gateway to service), and
row-level security's tenant setting in a transaction per query. It logs in as the
database's owner and names the tenant in every query, as most applications do. A POST
writes what the platform writes: the decision, its ``decision.made`` event in the
decision service's outbox, and an audit row, in one transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any
from uuid import UUID, uuid4

import asyncpg
import orjson
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request

from services.gateway.keys import KeyCache, hash_key, looks_like_key, principal_for_key
from shared.config import Settings
from shared.contracts import ROUTES as CONTRACT_ROUTES
from shared.contracts import alerts, decision, optimizer
from shared.contracts.spec import Route
from shared.errors import NotFound
from shared.events import to_json
from shared.internal_auth import Principal
from shared.outbox import enqueue
from shared.pagination import DEFAULT_LIMIT, MAX_LIMIT, BadCursor, decode_cursor
from shared.resources import ListQuery, Resource, fetch_one, insert, list_page

settings = Settings()

# Every table the peer touches, found by its unqualified name as the services find theirs.
SEARCH_PATH = "decision, alerts, optimizer, gateway"
_BY_OPERATION = {route.operation_id: route for route in CONTRACT_ROUTES}
# The list and get-by-id routes of each collection served, as the contracts declare them.
COLLECTIONS: tuple[tuple[Route, Route], ...] = tuple(
    (_BY_OPERATION[f"list_{plural}"], _BY_OPERATION[f"get_{resource.name}"])
    for plural, resource in (
        ("decisions", decision.DECISIONS),
        ("alerts", alerts.ALERTS),
        ("recommendations", optimizer.RECOMMENDATIONS),
    )
)
CREATE = decision.CREATE_DECISION
# The contract routes this app answers.
ROUTES: tuple[Route, ...] = (*(r for pair in COLLECTIONS for r in pair), CREATE)
# Keys found good, trusted for as long as the gateway trusts them (ADPILOT_KEY_CACHE_SECONDS).
KEYS = KeyCache(settings.key_cache_seconds)
UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="adpilot", error="invalid_token"'}


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name,
            encoder=lambda value: to_json(value).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        init=_init_connection,
        server_settings={
            "search_path": SEARCH_PATH,
            "application_name": "adpilot-bench-peer",
            "statement_timeout": str(settings.statement_timeout_ms),
        },
    )
    try:
        yield
    finally:
        await app.state.pool.close()


app = FastAPI(title="adpilot peer", lifespan=lifespan, docs_url=None, redoc_url=None)


async def connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as conn:
        yield conn


Conn = Annotated[asyncpg.Connection, Depends(connection)]


def credential(authorization: str | None, x_api_key: str | None) -> str:
    if x_api_key:
        return x_api_key.strip()
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise HTTPException(401, "missing credentials", headers=UNAUTHORIZED)
    return value.strip()


async def principal(
    conn: Conn,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Principal:
    key = credential(authorization, x_api_key)
    if not looks_like_key(key):
        raise HTTPException(401, "unknown or revoked API key", headers=UNAUTHORIZED)
    key_hash = hash_key(key)
    found = KEYS.get(key_hash)
    if found is None:
        found = await principal_for_key(conn, key, key_hash)
        if found is None:
            raise HTTPException(401, "unknown or revoked API key", headers=UNAUTHORIZED)
        KEYS.put(key_hash, found)
    return found


Caller = Annotated[Principal, Depends(principal)]


def allowed(caller: Principal, route: Route) -> None:
    if not caller.allows(route.role):
        raise HTTPException(403, f"this call needs the {route.role} role")


def add_collection(list_route: Route, get_route: Route) -> None:
    resource = list_route.resource
    assert resource is not None

    async def list_items(
        conn: Conn,
        caller: Caller,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Any:
        allowed(caller, list_route)
        try:
            after = decode_cursor(cursor) if cursor else None
        except BadCursor as exc:
            raise HTTPException(422, str(exc)) from exc
        return await list_page(conn, resource, caller.tenant_id, ListQuery(limit, after, {}))

    async def get_item(id: UUID, conn: Conn, caller: Caller) -> Any:
        allowed(caller, get_route)
        return await _one(conn, resource, caller.tenant_id, id)

    app.get(list_route.path, response_model=list_route.response, name=list_route.operation_id)(
        list_items
    )
    app.get(get_route.path, response_model=get_route.response, name=get_route.operation_id)(
        get_item
    )


async def _one(conn: asyncpg.Connection, resource: Resource, tenant: UUID, id_: UUID) -> Any:
    try:
        return await fetch_one(conn, resource, tenant, id_)
    except NotFound as exc:
        raise HTTPException(404, f"{resource.name} {id_} not found") from exc


for pair in COLLECTIONS:
    add_collection(*pair)


@app.post(CREATE.path, response_model=CREATE.response, status_code=201, name=CREATE.operation_id)
async def create_decision(
    body: decision.DecisionCreate, request: Request, conn: Conn, caller: Caller
) -> Any:
    allowed(caller, CREATE)
    tenant = caller.tenant_id
    correlation = uuid4()
    async with conn.transaction():
        row = await insert(conn, decision.DECISIONS, tenant, body.model_dump())
        event = decision.DECISION_MADE.envelope(
            row, tenant_id=tenant, source=decision.SERVICE, correlation_id=correlation
        )
        await enqueue(conn, event)
        await conn.execute(
            """INSERT INTO ai_audit_trail (tenant_id, actor_type, actor_id, principal_id,
                   action, resource_type, resource_id, after_state, correlation_id,
                   ip_address, status_code, metadata)
               VALUES ($1, 'user', $2, $3, $4, 'decisions', $5, $6, $7, $8::inet, 201, $9)""",
            tenant,
            caller.subject,
            caller.kind,
            f"POST {request.url.path}",
            str(row["id"]),
            row,
            correlation,
            request.client.host if request.client else None,
            {"role": caller.role},
        )
    return row
