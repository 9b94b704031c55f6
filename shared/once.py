"""A write sent twice is carried out once, however its first answer was lost.

The gateway answers a repeated ``Idempotency-Key`` from its own store, but it cannot know
whether a write it gave up on was carried out: the service may have committed just before
it died, or after the gateway stopped waiting for it. So the gateway passes the key on,
and the service records it in the very transaction that makes the write, together with the
answer. A copy of the request that comes after the first committed gets that answer again;
one that comes while the first is still running waits on the key's row until the first
commits (and then gets its answer) or rolls back (and then writes itself). Either way the
write happens once.

A route that creates something opens its write transaction with :func:`once`::

    async with once(runtime, request, tenant) as write:
        if write.replay is not None:
            return write.replay
        row = await insert(write.conn, ...)
        return write.answered(json_response(row, status=201))

Keys are kept as long as the gateway keeps its own (``RETENTION``); housekeeping removes
older ones, and an older one found here counts as unused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg
from aiohttp import web

if TYPE_CHECKING:
    from shared.service import ServiceRuntime

HEADER = "Idempotency-Key"
RETENTION = timedelta(hours=24)
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass
class Write:
    """The transaction of one keyed write: ``replay`` is the first answer when this
    request was carried out before; otherwise the route writes on ``conn`` and hands its
    answer to :meth:`answered`, which keeps it with the key as the transaction commits."""

    conn: asyncpg.Connection
    key: str | None
    replay: web.Response | None = None
    answer: web.Response | None = None

    def answered(self, response: web.Response) -> web.Response:
        self.answer = response
        return response


async def _claim(conn: asyncpg.Connection, tenant: UUID, key: str) -> web.Response | None:
    """Record ``key`` as this transaction's, or answer what its first write answered."""
    claimed = await conn.fetchval(
        """INSERT INTO request_keys AS k (tenant_id, key) VALUES ($1, $2)
           ON CONFLICT (tenant_id, key) DO UPDATE
               SET status = NULL, body = NULL, created_at = now()
               WHERE k.created_at < now() - $3::interval
           RETURNING true""",
        tenant,
        key,
        RETENTION,
    )
    if claimed:
        return None
    row = await conn.fetchrow(
        "SELECT status, body FROM request_keys WHERE tenant_id = $1 AND key = $2", tenant, key
    )
    if row is None or row["status"] is None:
        # Cannot be seen: a key's row and its answer commit together.
        raise RuntimeError(f"request key {key!r} is recorded without its answer")
    return web.Response(
        body=row["body"],
        status=row["status"],
        content_type="application/json",
        headers={REPLAYED_HEADER: "true"},
    )


@asynccontextmanager
async def once(runtime: ServiceRuntime, request: web.Request, tenant: UUID) -> AsyncIterator[Write]:
    """The tenant's write transaction for ``request``, carried out once per key."""
    key = request.headers.get(HEADER)
    async with runtime.tenant_tx(tenant) as conn:
        write = Write(conn, key)
        if key is not None:
            write.replay = await _claim(conn, tenant, key)
        yield write
        if key is None or write.replay is not None:
            return
        if write.answer is None or not isinstance(write.answer.body, bytes):
            raise RuntimeError("a keyed write ended without an answer to keep")
        await conn.execute(
            "UPDATE request_keys SET status = $3, body = $4 WHERE tenant_id = $1 AND key = $2",
            tenant,
            key,
            write.answer.status,
            write.answer.body,
        )
