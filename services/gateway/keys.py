"""API keys: random, shown once, stored as a hash, bound to one tenant and one role."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg

from shared.contracts.gateway import KEYS
from shared.internal_auth import ROLES, Principal

KEY_PREFIX = "adp_"


def new_key() -> tuple[str, str]:
    """A fresh key and its public prefix (the prefix lets people tell keys apart)."""
    prefix = secrets.token_hex(4)
    return f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", prefix


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(credential: str) -> bool:
    return credential.startswith(KEY_PREFIX)


async def ensure_tenant(conn: asyncpg.Connection, name: str, tenant_id: UUID | None = None) -> UUID:
    """The id of the tenant called ``name``, creating it if needed."""
    existing = await conn.fetchval("SELECT id FROM tenants WHERE name = $1", name)
    if existing is not None:
        return UUID(str(existing))
    created = await conn.fetchval(
        """INSERT INTO tenants (id, name) VALUES (coalesce($1, gen_random_uuid()), $2)
           ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id""",
        tenant_id,
        name,
    )
    return UUID(str(created))


async def create_key(
    conn: asyncpg.Connection, tenant_id: UUID, name: str, role: str
) -> tuple[dict[str, Any], str]:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    key, prefix = new_key()
    row = await conn.fetchrow(
        # clock_timestamp(): keys made in one transaction (a rotation) still list in order.
        f"""INSERT INTO api_keys (tenant_id, name, role, prefix, key_hash, created_at)
            VALUES ($1, $2, $3, $4, $5, clock_timestamp()) RETURNING {KEYS.select_list}""",
        tenant_id,
        name,
        role,
        prefix,
        hash_key(key),
    )
    assert row is not None
    return {**dict(row), "tenant_id": tenant_id}, key


async def revoke_key(
    conn: asyncpg.Connection, tenant_id: UUID | None, key_id: UUID
) -> dict[str, Any] | None:
    """Revoke one key (revoking twice keeps the first time). ``tenant_id`` None finds the key
    in whichever tenant holds it, which needs a system-scoped connection."""
    row = await conn.fetchrow(
        f"""UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
            WHERE ($1::uuid IS NULL OR tenant_id = $1) AND id = $2
            RETURNING {KEYS.select_list}""",
        tenant_id,
        key_id,
    )
    return dict(row) if row is not None else None


async def rotate_key(
    conn: asyncpg.Connection, tenant_id: UUID, name: str, role: str
) -> tuple[dict[str, Any], str]:
    """A fresh key called ``name``, revoking the tenant's live keys of that name."""
    await conn.execute(
        """UPDATE api_keys SET revoked_at = now()
           WHERE tenant_id = $1 AND name = $2 AND revoked_at IS NULL""",
        tenant_id,
        name,
    )
    return await create_key(conn, tenant_id, name, role)


async def list_keys(
    conn: asyncpg.Connection, tenant_name: str | None = None
) -> list[dict[str, Any]]:
    """Every key (never its secret) with its tenant's name, oldest first; or one tenant's.
    Across tenants this needs a system-scoped connection."""
    rows = await conn.fetch(
        f"""SELECT {", ".join(f"k.{c}" for c in KEYS.columns)}, t.name AS tenant
            FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
            WHERE $1::text IS NULL OR t.name = $1 ORDER BY k.created_at, k.id""",
        tenant_name,
    )
    return [dict(r) for r in rows]


async def principal_for_key(
    conn: asyncpg.Connection, key: str, key_hash: str | None = None
) -> Principal | None:
    """The principal a live key stands for (``key_hash``: its hash, where the caller has it
    already). Needs a system-scoped connection: the tenant is what we are trying to learn.
    ``last_used_at`` is brought up to date at most once a minute, in the same statement."""
    row = await conn.fetchrow(
        """WITH live AS (
               SELECT id, tenant_id, role, last_used_at FROM api_keys
               WHERE key_hash = $1 AND revoked_at IS NULL),
           used AS (
               UPDATE api_keys k SET last_used_at = now() FROM live
               WHERE k.id = live.id
                 AND (live.last_used_at IS NULL
                      OR live.last_used_at < now() - interval '1 minute'))
           SELECT id, tenant_id, role FROM live""",
        key_hash or hash_key(key),
    )
    if row is None:
        return None
    return Principal(row["tenant_id"], row["role"], f"key:{row['id']}", "api_key")


@dataclass
class KeyCache:
    """Principals of the keys found good in the last ``seconds``, by the key's hash.

    A key used again within that time is not looked up again, so a key revoked by anyone
    but this gateway (another replica, ``adpilot keys revoke``) keeps working for at most
    ``seconds``; :meth:`forget` makes a revocation through this gateway count at once.
    Unknown and revoked keys are never kept: each of their requests is looked up."""

    seconds: float
    limit: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _found: dict[str, tuple[float, Principal]] = field(default_factory=dict)

    def get(self, key_hash: str) -> Principal | None:
        found = self._found.get(key_hash)
        if found is None:
            return None
        if found[0] <= self.clock():
            del self._found[key_hash]
            return None
        return found[1]

    def put(self, key_hash: str, principal: Principal) -> None:
        if self.seconds <= 0:
            return
        now = self.clock()
        if len(self._found) >= self.limit:
            self._found = {k: v for k, v in self._found.items() if v[0] > now}
            if len(self._found) >= self.limit:
                self._found.clear()
        self._found[key_hash] = (now + self.seconds, principal)

    def forget(self) -> None:
        self._found.clear()
