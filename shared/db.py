"""PostgreSQL: connection pools, database creation and ordered, recorded migrations."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit, urlunsplit
from uuid import UUID

import asyncpg
import orjson

from shared.events import to_json

log = logging.getLogger(__name__)

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"
# Arbitrary but fixed: every migrating process takes this lock, so `adpilot up`,
# replicas and tests never apply the same file twice at once.
MIGRATION_LOCK_KEY = 0x4164_5069_6C6F_74


class DependencyUnavailable(RuntimeError):
    """A server we need is not reachable. The message is one line a person can act on."""


# Errors that say the database cannot be reached right now, not that a query is wrong.
DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.TooManyConnectionsError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc``, or what caused it, says the database is unreachable.

    A connection lost mid-transaction surfaces as the rollback's InterfaceError, with the
    real cause behind it."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DATABASE_UNAVAILABLE) or (
            isinstance(seen, asyncpg.InterfaceError) and "connection is closed" in str(seen)
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def redact(url: str) -> str:
    """The URL without its password, safe for logs and error lines."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def dumps_json(value: Any) -> str:
    return to_json(value).decode()


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


def service_role(schema: str) -> str:
    """The database role a service's connections act as: no superuser, no BYPASSRLS."""
    return f"adpilot_{schema}"


def service_url(url: str, schema: str, password: str | None = None) -> str:
    """``url`` logging in as the service's own role instead of the configured user."""
    parts = urlsplit(url)
    user = service_role(schema)
    credentials = f"{user}:{quote(password, safe='')}" if password else user
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{credentials}@{host}"))


class _PooledConnection(asyncpg.Connection):
    """A service pool's connection, which knows whether its session needs a reset when it
    goes back to the pool.

    asyncpg resets every connection it takes back (``RESET ALL``, ``UNLISTEN *``, advisory
    locks released: a round trip). A connection that comes back from :func:`scoped` has
    changed nothing outside its transaction: row-level security's settings are
    transaction-local, and the transaction is over. It skips that round trip. Session
    state set inside :func:`scoped` (a plain ``SET``, ``LISTEN``, a session advisory lock)
    would outlive it: use the transaction-scoped forms there, or a connection of its own.
    """

    __slots__ = ("_session_unchanged",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session_unchanged = False

    def session_unchanged(self) -> None:
        self._session_unchanged = True

    async def reset_session(self) -> None:
        unchanged, self._session_unchanged = self._session_unchanged, False
        if not unchanged and (query := self.get_reset_query()):
            await self.execute(query)


async def _reset(conn: asyncpg.Connection) -> None:
    """The pool's reset (after asyncpg has rolled back any open transaction)."""
    if isinstance(conn, _PooledConnection):
        await conn.reset_session()
    elif query := conn.get_reset_query():
        await conn.execute(query)


async def create_pool(
    url: str,
    schema: str,
    *,
    password: str | None = None,
    min_size: int = 1,
    max_size: int = 10,
    statement_timeout_ms: int = 10_000,
) -> asyncpg.Pool:
    """A pool for one service: its schema on the search path, logged in as its own role.

    The service role is the session user, not a role switched to: there is no more
    privileged identity for the session to return to (``SET ROLE NONE`` and
    ``RESET ROLE`` leave it where it is).
    """
    login = service_url(url, schema, password)
    try:
        pool = await asyncpg.create_pool(
            login,
            min_size=min_size,
            max_size=max_size,
            init=_init_connection,
            connection_class=_PooledConnection,
            reset=_reset,
            server_settings={
                "search_path": schema,
                "application_name": f"adpilot-{schema}",
                "statement_timeout": str(statement_timeout_ms),
            },
            timeout=5,
        )
    except (
        asyncpg.InvalidParameterValueError,
        asyncpg.InvalidCatalogNameError,
        asyncpg.InvalidAuthorizationSpecificationError,
    ) as exc:
        # The server answered: it is the database that is not ready for us.
        raise DependencyUnavailable(
            f"the database at {redact(url)} is not set up for adpilot ({exc}); "
            "run `adpilot migrate` first"
        ) from exc
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


class MigrationSet(NamedTuple):
    """A folder of migration files, applied in name order and recorded as ``prefix/name``."""

    prefix: str
    folder: Path


# A schema's migrations: its service's own folder, or the sets it is built from in order
# (shared parts such as the campaign-metrics store first, the service's own folder last).
SchemaMigrations = Path | Sequence[MigrationSet]

# A migration file rewritten after release, without changing what it does to a database
# that already ran it, names the checksum it replaces; such a database then records the
# new checksum instead of warning on every run.
_REPLACES = re.compile(r"^-- replaces checksum ([0-9a-f]{64})$", re.MULTILINE)


def _migration_files(folder: Path) -> list[Path]:
    # A folder that is not there is a mistake in the caller, not a schema without changes.
    if not folder.is_dir():
        raise FileNotFoundError(f"no migrations folder at {folder}")
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
            if done[version] == checksum:
                continue
            if done[version] in _REPLACES.findall(sql):
                await conn.execute(
                    f'UPDATE "{schema}".schema_migrations SET checksum = $2 WHERE version = $1',
                    version,
                    checksum,
                )
                log.info("applied migration rewritten", extra={"migration": version})
            else:
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


TENANT_POLICY = """
    tenant_id = nullif(current_setting('adpilot.tenant_id', true), '')::uuid
    OR current_setting('adpilot.scope', true) = 'system'
"""
# Tables whose rows are history: the service role may read and add, never change.
APPEND_ONLY_MARK = "append-only"


async def _ensure_login_role(conn: asyncpg.Connection, role: str, password: str | None) -> None:
    """The role exists, logs in, and has no privilege beyond its grants.

    Roles belong to the whole server, not to one database, so processes migrating two
    databases of one server (test runs, several platforms) meet here. PostgreSQL refuses
    one of two simultaneous changes to a role ("tuple concurrently updated"): the role is
    changed only where it differs, and a refused change is tried again once the other is
    done."""
    for attempt in range(5):
        try:
            await _create_or_align_role(conn, role, password)
            return
        except asyncpg.InternalServerError as exc:
            if "concurrently" not in str(exc) or attempt == 4:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))


async def _create_or_align_role(conn: asyncpg.Connection, role: str, password: str | None) -> None:
    await conn.execute(
        f"""DO $$ BEGIN
                CREATE ROLE "{role}" LOGIN;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"""
    )
    aligned = await conn.fetchval(
        """SELECT rolcanlogin AND NOT (rolsuper OR rolbypassrls OR rolcreatedb OR rolcreaterole
                                       OR rolreplication)
           FROM pg_roles WHERE rolname = $1""",
        role,
    )
    if not aligned:
        await conn.execute(
            f'ALTER ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE '
            "NOREPLICATION"
        )
    if password:
        # DDL takes no parameters; the literal is quoted the way PostgreSQL quotes literals.
        literal = "'" + password.replace("'", "''") + "'"
        await conn.execute(f'ALTER ROLE "{role}" PASSWORD {literal}')


async def secure_schema(conn: asyncpg.Connection, schema: str, password: str | None = None) -> None:
    """Give ``schema`` its service login role and put every tenant table under row-level
    security. Runs after every migration, so a table added later is secured by construction.
    """
    role = service_role(schema)
    await _ensure_login_role(conn, role, password)
    await conn.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
    await conn.execute(
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"'
    )
    await conn.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"')
    # Functions a migration revoked from PUBLIC (such as those that keep the partitions of
    # campaign_metrics) are the service's to call.
    await conn.execute(f'GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA "{schema}" TO "{role}"')
    # Partitioned tables ('p') hold the policy their partitions are read through.
    tables = await conn.fetch(
        """SELECT c.relname AS name, obj_description(c.oid, 'pg_class') AS note,
                  EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                          AND a.attname = 'tenant_id' AND NOT a.attisdropped) AS tenanted
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')""",
        schema,
    )
    for table in tables:
        name = f'"{schema}"."{table["name"]}"'
        if table["note"] == APPEND_ONLY_MARK:
            await conn.execute(f'REVOKE UPDATE, DELETE, TRUNCATE ON {name} FROM "{role}"')
        if not table["tenanted"]:
            continue
        await conn.execute(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY")
        await conn.execute(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY")
        await conn.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {name}")
        await conn.execute(
            f"CREATE POLICY tenant_isolation ON {name} "
            f"USING ({TENANT_POLICY}) WITH CHECK ({TENANT_POLICY})"
        )


async def migrate_schema(
    conn: asyncpg.Connection,
    schema: str,
    folder: SchemaMigrations,
    password: str | None = None,
) -> list[str]:
    """Apply the shared messaging tables, then ``folder`` (the service's own files, or the
    sets its schema is built from) into ``schema``, then secure it."""
    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    await conn.execute(
        f"""CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations (
                version text PRIMARY KEY,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now())"""
    )
    sets = [MigrationSet(schema, folder)] if isinstance(folder, Path) else list(folder)
    applied = await _apply_folder(conn, schema, SHARED_MIGRATIONS, "shared")
    for migrations in sets:
        applied += await _apply_folder(conn, schema, migrations.folder, migrations.prefix)
    await secure_schema(conn, schema, password)
    return applied


@asynccontextmanager
async def scoped(
    pool: asyncpg.Pool, tenant_id: UUID | None = None, *, system: bool = False
) -> AsyncIterator[asyncpg.Connection]:
    """A transaction that row-level security confines to one tenant.

    ``system=True`` is for the platform's own cross-tenant work (the outbox relay, the
    cycle scheduler, status counts); it must be asked for by name.
    """
    if (tenant_id is None) == (not system):
        raise ValueError("scoped() needs exactly one of a tenant or system=True")
    # The transaction opens and takes its scope in one round trip. The value is a UUID's
    # canonical text (hex digits and dashes), so it needs no quoting; a simple query is
    # not prepared, so no tenant fills the statement cache.
    if system:
        opening = "BEGIN; SELECT set_config('adpilot.scope', 'system', true)"
    else:
        opening = f"BEGIN; SELECT set_config('adpilot.tenant_id', '{UUID(str(tenant_id))}', true)"
    async with pool.acquire() as conn:
        try:
            await conn.execute(opening)
            yield conn
        except BaseException:
            await _roll_back(conn)
            raise
        await conn.execute("COMMIT")
        # Nothing but this transaction's settings changed the session, and COMMIT undid
        # them: the pool need not reset it (see _PooledConnection).
        mark = getattr(conn, "session_unchanged", None)
        if callable(mark):
            mark()


async def _roll_back(conn: asyncpg.Connection) -> None:
    """End the transaction a failed block left open. A connection that cannot is left to
    the pool, which resets or drops it; the block's own error is the one that counts."""
    if conn.is_closed() or not conn.is_in_transaction():
        return
    with contextlib.suppress(Exception):
        await conn.execute("ROLLBACK")


Notified = Callable[[asyncpg.Connection, int, str, str], None]


class _SharedListener:
    """The one connection a pool's background jobs LISTEN on, whatever their channels.

    A service runs several jobs woken by NOTIFY; a pooled connection each would hold a
    good part of a small pool for ever (six of six in the optimizer, whose readiness
    check then waited for a connection). A connection that dies is replaced for the jobs
    that join after; the ones on it give it back when they leave.
    """

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.current: asyncpg.Connection | None = None
        self.users: dict[asyncpg.Connection, int] = {}

    async def join(
        self, pool: asyncpg.Pool, channel: str, callback: Notified
    ) -> asyncpg.Connection:
        # Under the lock: LISTEN and UNLISTEN of two jobs must not run on the connection
        # at once (asyncpg refuses a second operation in progress).
        async with self.lock:
            if self.current is None or _closed(self.current):
                self.current = await pool.acquire()
            conn = self.current
            self.users[conn] = self.users.get(conn, 0) + 1
        try:
            async with self.lock:
                await conn.add_listener(channel, callback)
        except BaseException:
            await asyncio.shield(self.leave(pool, conn, channel, callback))
            raise
        return conn

    async def leave(
        self, pool: asyncpg.Pool, conn: asyncpg.Connection, channel: str, callback: Notified
    ) -> None:
        """Never raises: it runs on the way out, where an error would hide why we left."""
        async with self.lock:
            try:
                await conn.remove_listener(channel, callback)
            except Exception:
                with contextlib.suppress(Exception):
                    conn.terminate()
            left = self.users.get(conn, 1) - 1
            if left > 0 and not _closed(conn):
                self.users[conn] = left
                return
            self.users.pop(conn, None)
            if conn is self.current:
                self.current = None
            if not self.users and _LISTENERS.get(pool) is self:
                del _LISTENERS[pool]
            with contextlib.suppress(Exception):
                await pool.release(conn)


def _closed(conn: asyncpg.Connection) -> bool:
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:  # a pooled connection the pool took back when it died
        return True


# Per pool, while anyone listens on it (entries go when their last listener leaves).
_LISTENERS: dict[asyncpg.Pool, _SharedListener] = {}


@asynccontextmanager
async def listening(pool: asyncpg.Pool, channel: str, callback: Notified) -> AsyncIterator[None]:
    """LISTEN on ``channel`` for as long as the block runs, on the connection every
    listener of ``pool`` shares (not for queries: it is nobody's alone)."""
    shared = _LISTENERS.setdefault(pool, _SharedListener())
    conn = await shared.join(pool, channel, callback)
    try:
        yield
    finally:
        # Shielded: a cancelled block must still not hand back a connection that listens.
        await asyncio.shield(shared.leave(pool, conn, channel, callback))


async def unlisten(
    pool: asyncpg.Pool, conn: asyncpg.Connection, channel: str, callback: Notified
) -> None:
    """UNLISTEN and give ``conn`` back to ``pool``; a connection that cannot is closed.
    Never raises: it runs on the way out, where an error would hide why we left."""
    try:
        await conn.remove_listener(channel, callback)
    except Exception:
        with contextlib.suppress(Exception):
            conn.terminate()
    with contextlib.suppress(Exception):
        await pool.release(conn)


async def migrate_all(
    url: str,
    schemas: Mapping[str, SchemaMigrations],
    service_password: str | None = None,
    on_schema: Callable[[str, list[str]], None] | None = None,
) -> dict[str, list[str]]:
    """Create the database if needed and bring every schema up to date. Safe to run twice.
    ``on_schema`` hears of each schema once it is up to date, with what was applied to it."""
    await ensure_database(url)
    conn = await connect(url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        try:
            applied: dict[str, list[str]] = {}
            for schema, folder in schemas.items():
                applied[schema] = await migrate_schema(conn, schema, folder, service_password)
                if on_schema is not None:
                    on_schema(schema, applied[schema])
            return applied
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    finally:
        await conn.close()
