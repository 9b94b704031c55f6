"""Give each service's database role, as its defaults, the settings its pool sends.

shared/db.py's pools send search_path and statement_timeout in the startup packet, which
PgBouncer does not pass on: the chart's Pooler drops them, and a session through it takes
them from its role instead. Without a pooler nothing changes (what a client sends wins).
The chart's migration Job runs this after ``adpilot migrate``, which makes the roles, as
the same administrator."""

import asyncio
from urllib.parse import urlsplit

from shared.config import Settings
from shared.contracts import SERVICES
from shared.db import connect, redact, service_role


def role_settings(service: str, settings: Settings) -> dict[str, str]:
    """The startup parameters of the service's connections that PgBouncer drops."""
    return {"search_path": service, "statement_timeout": str(settings.statement_timeout_ms)}


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def statements(settings: Settings, services: tuple[str, ...] = SERVICES) -> list[str]:
    database = urlsplit(settings.database_url).path.lstrip("/") or "postgres"
    return [
        f"ALTER ROLE {_identifier(service_role(service))} IN DATABASE {_identifier(database)} "
        f"SET {name} = {_literal(value)}"
        for service in services
        for name, value in role_settings(service, settings).items()
    ]


async def apply(settings: Settings) -> None:
    conn = await connect(settings.database_url)
    try:
        async with conn.transaction():
            for statement in statements(settings):
                await conn.execute(statement)
    finally:
        await conn.close()
    print(f"role defaults set for {', '.join(SERVICES)} at {redact(settings.database_url)}")


if __name__ == "__main__":
    asyncio.run(apply(Settings()))
