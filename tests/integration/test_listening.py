"""Background jobs LISTEN on one shared connection per pool, not one pooled connection each."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import asyncpg

from shared.config import Settings
from shared.db import listening


async def test_listeners_of_one_pool_share_a_connection_and_each_hears_its_channel(
    settings: Settings,
) -> None:
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=3)
    try:
        heard: dict[str, asyncio.Event] = {f"shared_test_{i}": asyncio.Event() for i in range(5)}
        async with AsyncExitStack() as stack:
            # Five listeners on a pool of three: one connection each would not even fit.
            for channel, event in heard.items():
                await stack.enter_async_context(
                    listening(pool, channel, lambda *_, e=event: e.set())
                )
            # Two connections stay free for work while all five listen.
            async with pool.acquire() as first, pool.acquire() as second:
                for channel in heard:
                    await first.execute("SELECT pg_notify($1, 'x')", channel)
                assert await second.fetchval("SELECT 1") == 1
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in heard.values())), 5)
        # Everyone left: the pool has every connection back and none of them listens.
        async with pool.acquire() as a, pool.acquire() as b, pool.acquire() as c:
            for conn in (a, b, c):
                assert await conn.fetchval("SELECT count(*) FROM pg_listening_channels()") == 0
    finally:
        await pool.close()


async def test_a_listener_joining_after_the_shared_connection_died_gets_a_new_one(
    settings: Settings,
) -> None:
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=3)
    try:
        early, late = asyncio.Event(), asyncio.Event()
        async with listening(pool, "shared_test_early", lambda *_: early.set()):
            # The shared connection is the one pg_listening_channels() is not empty on.
            victims = await pool.fetch(
                """SELECT pid FROM pg_stat_activity
                   WHERE query LIKE 'LISTEN%shared_test_early%' AND pid <> pg_backend_pid()"""
            )
            assert len(victims) == 1
            await pool.execute("SELECT pg_terminate_backend($1)", victims[0]["pid"])
            await asyncio.sleep(0.2)
            async with listening(pool, "shared_test_late", lambda *_: late.set()):
                await pool.execute("SELECT pg_notify('shared_test_late', 'x')")
                await asyncio.wait_for(late.wait(), 5)
        assert not early.is_set()
    finally:
        await pool.close()


async def test_listeners_joining_and_leaving_at_once_do_not_collide(settings: Settings) -> None:
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=3)
    heard = asyncio.Event()
    release = asyncio.Event()

    async def job(channel: str) -> None:
        async with listening(pool, channel, lambda *_: heard.set()):
            await release.wait()

    try:
        # LISTEN and UNLISTEN of many jobs at once on the one connection: asyncpg refuses
        # a second operation while one is in progress unless they take turns.
        jobs = [asyncio.create_task(job(f"shared_test_busy_{i}")) for i in range(8)]
        await asyncio.sleep(0.3)
        await pool.execute("SELECT pg_notify('shared_test_busy_3', 'x')")
        await asyncio.wait_for(heard.wait(), 5)
        release.set()
        await asyncio.gather(*jobs)
    finally:
        await pool.close()
