"""A keyed write on real PostgreSQL (shared/once.py): carried out once, whether its copy
comes after the first committed, while the first is still running, or after the first
failed."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from shared.config import Settings
from shared.db import connect, migrate_schema, scoped
from shared.once import HEADER, REPLAYED_HEADER, once
from tests.conftest import schema_pool

pytestmark = pytest.mark.integration

TENANT = uuid.UUID("00000000-0000-0000-0000-0000000000bb")


class Runtime:
    """What :func:`once` asks of a service: its tenant transactions."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    def tenant_tx(self, tenant: uuid.UUID) -> AbstractAsyncContextManager[asyncpg.Connection]:
        return scoped(self.pool, tenant)


@pytest.fixture(scope="module")
async def runtime(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Runtime]:
    folder: Path = tmp_path_factory.mktemp("once_migrations")
    (folder / "001_things.sql").write_text(
        "CREATE TABLE things (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL, name text);"
    )
    conn = await connect(settings.database_url)
    try:
        await migrate_schema(conn, "once_probe", folder)
    finally:
        await conn.close()
    pool = await schema_pool(settings, "once_probe")
    yield Runtime(pool)
    await pool.close()


def keyed(key: str | None) -> web.Request:
    headers = {HEADER: key} if key is not None else {}
    return make_mocked_request("POST", "/things", headers=headers)


async def create(
    runtime: Runtime,
    key: str | None,
    name: str,
    *,
    hold: asyncio.Event | None = None,
    fail: bool = False,
) -> web.Response:
    """The shape of a create route: insert, answer 201 with the row."""
    async with once(runtime, keyed(key), TENANT) as write:  # type: ignore[arg-type]
        if write.replay is not None:
            return write.replay
        row = await write.conn.fetchrow(
            "INSERT INTO things (tenant_id, name) VALUES ($1, $2) RETURNING id, name",
            TENANT,
            name,
        )
        if hold is not None:
            await hold.wait()
        if fail:
            raise RuntimeError("the write failed after its insert")
        body = json.dumps({"id": row["id"], "name": row["name"]}).encode()
        return write.answered(web.Response(body=body, status=201))


async def names(runtime: Runtime) -> list[str]:
    async with runtime.tenant_tx(TENANT) as conn:
        return [r["name"] for r in await conn.fetch("SELECT name FROM things ORDER BY id")]


@pytest.fixture(autouse=True)
async def empty(runtime: Runtime) -> None:
    async with runtime.tenant_tx(TENANT) as conn:
        await conn.execute("DELETE FROM things")
        await conn.execute("DELETE FROM request_keys")


async def test_a_copy_after_the_first_committed_gets_the_first_answer(runtime: Runtime) -> None:
    first = await create(runtime, "k-1", "first")
    again = await create(runtime, "k-1", "second")
    assert again.status == 201 and again.body == first.body
    assert again.headers[REPLAYED_HEADER] == "true"
    assert REPLAYED_HEADER not in first.headers
    assert await names(runtime) == ["first"]


async def test_a_copy_sent_while_the_first_runs_waits_for_its_answer(runtime: Runtime) -> None:
    hold = asyncio.Event()
    first = asyncio.create_task(create(runtime, "k-2", "first", hold=hold))
    await asyncio.sleep(0.2)  # the first holds the key's row, uncommitted
    copy = asyncio.create_task(create(runtime, "k-2", "copy"))
    await asyncio.sleep(0.3)
    assert not copy.done(), "the copy must wait for the first to commit or roll back"
    hold.set()
    answered, replayed = await asyncio.gather(first, copy)
    assert replayed.body == answered.body and replayed.headers[REPLAYED_HEADER] == "true"
    assert await names(runtime) == ["first"]


async def test_a_copy_of_a_write_that_failed_writes_itself(runtime: Runtime) -> None:
    with pytest.raises(RuntimeError, match="failed after its insert"):
        await create(runtime, "k-3", "failed", fail=True)
    retried = await create(runtime, "k-3", "retried")
    assert retried.status == 201 and REPLAYED_HEADER not in retried.headers
    assert await names(runtime) == ["retried"]


async def test_without_a_key_every_request_writes(runtime: Runtime) -> None:
    await create(runtime, None, "a")
    await create(runtime, None, "b")
    assert await names(runtime) == ["a", "b"]


async def test_keys_are_the_tenants_own(runtime: Runtime) -> None:
    await create(runtime, "k-4", "ours")
    async with runtime.tenant_tx(uuid.uuid4()) as conn:
        assert await conn.fetchval("SELECT count(*) FROM request_keys") == 0


async def test_a_key_older_than_the_retention_counts_as_unused(runtime: Runtime) -> None:
    await create(runtime, "k-5", "long ago")
    async with runtime.tenant_tx(TENANT) as conn:
        await conn.execute(
            "UPDATE request_keys SET created_at = now() - interval '25 hours' WHERE key = 'k-5'"
        )
    fresh = await create(runtime, "k-5", "today")
    assert REPLAYED_HEADER not in fresh.headers
    assert await names(runtime) == ["long ago", "today"]


async def test_a_keyed_write_without_an_answer_is_refused_and_rolled_back(
    runtime: Runtime,
) -> None:
    with pytest.raises(RuntimeError, match="without an answer"):
        async with once(runtime, keyed("k-6"), TENANT) as write:  # type: ignore[arg-type]
            await write.conn.execute(
                "INSERT INTO things (tenant_id, name) VALUES ($1, 'unanswered')", TENANT
            )
    assert await names(runtime) == []
