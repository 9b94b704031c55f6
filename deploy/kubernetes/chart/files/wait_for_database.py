"""Wait until a service's own database role logs in and sees its schema, i.e. until the
migrations have run once. The chart's init containers run this as ``python -c`` with the
service's name, in the service's own environment (ADPILOT_*), before the service starts."""

import asyncio
import sys

import asyncpg

from shared.config import Settings
from shared.db import redact, service_url


async def not_ready(url: str, schema: str) -> str | None:
    """None once a login at ``url`` sees ``schema``; else what stands in the way."""
    try:
        conn = await asyncpg.connect(url, timeout=5)
    except Exception as exc:
        return f"{exc.__class__.__name__}: {exc}"
    try:
        if await conn.fetchval("SELECT to_regnamespace($1) IS NULL", schema):
            return f"no schema {schema} yet"
    finally:
        await conn.close()
    return None


async def wait(service: str, pause: float = 2.0) -> None:
    settings = Settings()
    url = service_url(settings.database_url, service, settings.service_password)
    while (reason := await not_ready(url, service)) is not None:
        print(f"waiting for the migrations at {redact(url)}: {reason}", file=sys.stderr, flush=True)
        await asyncio.sleep(pause)
    print(f"{service} logs in at {redact(url)}", flush=True)


if __name__ == "__main__":
    asyncio.run(wait(sys.argv[1]))
