"""Key administration: the functions the gateway's routes and the CLI both call."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from services.gateway.keys import (
    create_key,
    ensure_tenant,
    list_keys,
    principal_for_key,
    revoke_key,
    rotate_key,
)
from shared.config import Settings
from shared.db import scoped
from tests.conftest import schema_pool

pytestmark = pytest.mark.integration


async def test_create_list_rotate_and_revoke(settings: Settings) -> None:
    pool = await schema_pool(settings, "gateway")
    name = f"keys-{uuid.uuid4().hex[:8]}"
    try:
        async with scoped(pool, system=True) as conn:
            tenant = await ensure_tenant(conn, name)
            other = await ensure_tenant(conn, f"{name}-other")
            first, first_key = await create_key(conn, tenant, "ci", "operator")
            await create_key(conn, other, "ci", "viewer")
            second, second_key = await rotate_key(conn, tenant, "ci", "operator")
            listed = await list_keys(conn, name)
            assert [(k["id"], k["tenant"], k["role"]) for k in listed] == [
                (first["id"], name, "operator"),
                (second["id"], name, "operator"),
            ]
            assert "key_hash" not in listed[0]
            # rotating revoked the earlier key of that name, and only in that tenant
            assert listed[0]["revoked_at"] is not None and listed[1]["revoked_at"] is None
            assert await principal_for_key(conn, first_key) is None
            assert await principal_for_key(conn, second_key) is not None
            assert len(await list_keys(conn, f"{name}-other")) == 1
            assert {k["tenant"] for k in await list_keys(conn)} >= {name, f"{name}-other"}

            # a tenant cannot revoke another tenant's key; the platform can
            assert await revoke_key(conn, other, second["id"]) is None
            revoked = await revoke_key(conn, None, second["id"])
            assert revoked is not None and revoked["revoked_at"] is not None
            again = await revoke_key(conn, tenant, second["id"])
            assert again is not None and again["revoked_at"] == revoked["revoked_at"]
            assert await revoke_key(conn, None, uuid.uuid4()) is None
    finally:
        await pool.close()


def _adpilot(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.getcwd(),
        "ADPILOT_DATABASE_URL": settings.database_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "adpilot.cli", "keys", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_the_cli_creates_lists_and_revokes_keys(settings: Settings) -> None:
    tenant = f"cli-{uuid.uuid4().hex[:8]}"
    created = _adpilot(settings, "create", "--tenant", tenant, "--role", "viewer")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("adp_")
    listed = _adpilot(settings, "list", "--tenant", tenant)
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()[1:]
    key_id, shown_tenant, role, prefix, state, label = line.split(maxsplit=5)
    assert (shown_tenant, role, state, label) == (tenant, "viewer", "active", "viewer key")
    assert key.startswith(f"adp_{prefix}_")
    revoked = _adpilot(settings, "revoke", key_id)
    assert revoked.returncode == 0 and revoked.stdout.strip() == f"revoked {key_id}"
    assert "revoked" in _adpilot(settings, "list", "--tenant", tenant).stdout
    missing = _adpilot(settings, "revoke", str(uuid.uuid4()))
    assert missing.returncode != 0 and "no key" in missing.stderr
