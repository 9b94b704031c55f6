"""PostgreSQL: connection pools, database creation and ordered, recorded migrations."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson

from shared.events import json_default

log = logging.getLogger(__name__)

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"
# Arbitrary but fixed: every migrating process takes this lock, so `adpilot up`,
# replicas and tests never apply the same file twice at once.
MIGRATION_LOCK_KEY = 0x4164_5069_6C6F_74


class DependencyUnavailable(RuntimeError):
    """A server we need is not reachable. The message is one line a person can act on."""


def redact(url: str) -> str:
    """The URL without its password, safe for logs and error lines."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def dumps_json(value: Any) -> str:
    return orjson.dumps(value, default=json_default).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, encoder=dumps_json, decoder=orjson.loads, schema="pg_catalog"
        )


def _unreachable(url: str, exc: BaseException) -> DependencyUnavailable:
    return DependencyUnavailable(
        f"cannot reach PostgreSQL at {redact(url)} ({exc.__class__.__name__}: {exc}); "
        "start it (e.g. `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`)"
        " or set ADPILOT_DATABASE_URL"
    )


async def connect(url: str, *, shown_url: str | None = None, **kwargs: Any) -> asyncpg.Connection:
    """Connect, or fail with one actionable line naming ``shown_url`` (default ``url``)."""
    try:
        conn = await asyncpg.connect(url, timeout=5, **kwargs)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise _unreachable(shown_url or url, exc) from exc
    await _init_connection(conn)
    return conn


async def create_pool(
    url: str, schema: str, *, min_size: int = 1, max_size: int = 10
) -> asyncpg.Pool:
    """A pool whose connections see only ``schema`` (plus pg_catalog) by default."""
    try:
        pool = await asyncpg.create_pool(
            url,
            min_size=min_size,
            max_size=max_size,
            init=_init_connection,
            server_settings={"search_path": schema, "application_name": f"adpilot-{schema}"},
            timeout=5,
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise _unreachable(url, exc) from exc
    assert pool is not None
    return pool


async def ensure_database(url: str) -> bool:
    """Create the database named in ``url`` if it is missing. True if it was created."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "postgres"
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    conn = await connect(maintenance, shown_url=url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        try:
            await conn.execute(f'CREATE DATABASE "{name.replace(chr(34), "")}"')
        except asyncpg.DuplicateDatabaseError:
            return False
        log.info("created database", extra={"database": name})
        return True
    finally:
        await conn.close()


def _migration_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.sql") if p.is_file())


async def _apply_folder(
    conn: asyncpg.Connection, schema: str, folder: Path, prefix: str
) -> list[str]:
    applied: list[str] = []
    done = {
        r["version"]: r["checksum"]
        for r in await conn.fetch(f'SELECT version, checksum FROM "{schema}".schema_migrations')
    }
    for path in _migration_files(folder):
        version = f"{prefix}/{path.stem}"
        sql = path.read_text()
        checksum = hashlib.sha256(sql.encode()).hexdigest()
        if version in done:
            if done[version] != checksum:
                log.warning("applied migration differs from file", extra={"migration": version})
            continue
        async with conn.transaction():
            await conn.execute(f'SET LOCAL search_path TO "{schema}", public')
            await conn.execute(sql)
            await conn.execute(
                f'INSERT INTO "{schema}".schema_migrations (version, checksum) VALUES ($1, $2)',
                version,
                checksum,
            )
        applied.append(version)
    return applied


async def migrate_schema(conn: asyncpg.Connection, schema: str, folder: Path) -> list[str]:
    """Apply the shared messaging tables, then the service's own files, into ``schema``."""
    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    await conn.execute(
        f"""CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations (
                version text PRIMARY KEY,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now())"""
    )
    applied = await _apply_folder(conn, schema, SHARED_MIGRATIONS, "shared")
    applied += await _apply_folder(conn, schema, folder, schema)
    return applied


async def migrate_all(url: str, schemas: dict[str, Path]) -> dict[str, list[str]]:
    """Create the database if needed and bring every schema up to date. Safe to run twice."""
    await ensure_database(url)
    conn = await connect(url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        try:
            return {s: await migrate_schema(conn, s, folder) for s, folder in schemas.items()}
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    finally:
        await conn.close()
