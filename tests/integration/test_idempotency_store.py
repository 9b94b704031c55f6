"""The gateway's idempotency key store on real PostgreSQL: claims, answers, expiry, tenants."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest

from services.gateway.idempotency import (
    Busy,
    Claimed,
    Stored,
    claim_key,
    fingerprint,
    release_key,
    store_answer,
    sweep,
)
from shared.config import Settings
from shared.db import scoped
from tests.conftest import schema_pool

pytestmark = pytest.mark.integration

LEASE = timedelta(seconds=40)
FIRST = fingerprint("POST", "/api/ai/decisions", b'{"a": 1}')
OTHER = fingerprint("POST", "/api/ai/decisions", b'{"a": 2}')
ANSWER = Stored(201, {"Content-Type": "application/json"}, b'{"id": "x"}')


@pytest.fixture(scope="module")
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await schema_pool(settings, "gateway")
    yield pool
    await pool.close()


async def claim(
    pool: asyncpg.Pool, tenant: uuid.UUID, key: str, request_hash: bytes = FIRST
) -> Claimed | Stored | Busy:
    async with scoped(pool, tenant) as conn:
        return await claim_key(conn, tenant, key, request_hash, "POST", "/api/ai/decisions", LEASE)


async def age(pool: asyncpg.Pool, tenant: uuid.UUID, key: str, by: timedelta) -> None:
    async with scoped(pool, system=True) as conn:
        await conn.execute(
            "UPDATE idempotency_keys SET created_at = created_at - $3::interval "
            "WHERE tenant_id = $1 AND key = $2",
            tenant,
            key,
            by,
        )


async def test_a_key_is_claimed_once_then_answers_what_was_stored(pool: asyncpg.Pool) -> None:
    tenant, key = uuid.uuid4(), "order-1"
    first = await claim(pool, tenant, key)
    assert isinstance(first, Claimed)
    assert await claim(pool, tenant, key) is Busy.IN_PROGRESS
    assert await claim(pool, tenant, key, OTHER) is Busy.MISMATCH
    async with scoped(pool, tenant) as conn:
        assert await store_answer(conn, tenant, key, first.claim, ANSWER)
    assert await claim(pool, tenant, key) == ANSWER
    assert await claim(pool, tenant, key, OTHER) is Busy.MISMATCH


async def test_a_released_claim_may_be_taken_again(pool: asyncpg.Pool) -> None:
    tenant, key = uuid.uuid4(), "retry-me"
    first = await claim(pool, tenant, key)
    assert isinstance(first, Claimed)
    async with scoped(pool, tenant) as conn:
        await release_key(conn, tenant, key, first.claim)
    second = await claim(pool, tenant, key)
    assert isinstance(second, Claimed) and second.claim != first.claim
    # The first request's claim is gone: it can no longer store an answer over the second's.
    async with scoped(pool, tenant) as conn:
        assert not await store_answer(conn, tenant, key, first.claim, ANSWER)


async def test_concurrent_claims_of_one_key_have_one_winner(pool: asyncpg.Pool) -> None:
    tenant, key = uuid.uuid4(), "race"
    results = await asyncio.gather(*(claim(pool, tenant, key) for _ in range(4)))
    assert sum(isinstance(r, Claimed) for r in results) == 1
    assert [r for r in results if not isinstance(r, Claimed)] == [Busy.IN_PROGRESS] * 3


async def test_keys_are_per_tenant(pool: asyncpg.Pool) -> None:
    a, b, key = uuid.uuid4(), uuid.uuid4(), "shared-name"
    first = await claim(pool, a, key)
    assert isinstance(first, Claimed)
    async with scoped(pool, a) as conn:
        await store_answer(conn, a, key, first.claim, ANSWER)
    assert isinstance(await claim(pool, b, key, OTHER), Claimed)
    async with scoped(pool, b) as conn:
        # Row-level security: tenant b sees its own row only.
        seen = await conn.fetch("SELECT tenant_id FROM idempotency_keys WHERE key = $1", key)
        assert [r["tenant_id"] for r in seen] == [b]


async def test_a_key_older_than_a_day_counts_as_new(pool: asyncpg.Pool) -> None:
    tenant, key = uuid.uuid4(), "yesterday"
    first = await claim(pool, tenant, key)
    assert isinstance(first, Claimed)
    async with scoped(pool, tenant) as conn:
        await store_answer(conn, tenant, key, first.claim, ANSWER)
    await age(pool, tenant, key, timedelta(hours=23))
    assert await claim(pool, tenant, key) == ANSWER
    await age(pool, tenant, key, timedelta(hours=1, seconds=1))
    # A day on, even a different request may use the key.
    assert isinstance(await claim(pool, tenant, key, OTHER), Claimed)


async def test_a_claim_abandoned_past_its_lease_is_taken_over(pool: asyncpg.Pool) -> None:
    tenant, key = uuid.uuid4(), "gateway-died"
    assert isinstance(await claim(pool, tenant, key), Claimed)
    await age(pool, tenant, key, LEASE - timedelta(seconds=5))
    assert await claim(pool, tenant, key) is Busy.IN_PROGRESS
    await age(pool, tenant, key, timedelta(seconds=10))
    assert await claim(pool, tenant, key, OTHER) is Busy.MISMATCH
    assert isinstance(await claim(pool, tenant, key), Claimed)


async def test_sweep_forgets_only_expired_keys(pool: asyncpg.Pool) -> None:
    tenant = uuid.uuid4()
    for key in ("old", "recent"):
        assert isinstance(await claim(pool, tenant, key), Claimed)
    await age(pool, tenant, "old", timedelta(hours=24, seconds=1))
    async with scoped(pool, system=True) as conn:
        assert await sweep(conn) >= 1
    async with scoped(pool, tenant) as conn:
        left = await conn.fetch("SELECT key FROM idempotency_keys")
    assert [r["key"] for r in left] == ["recent"]
