"""Row-level security checked directly: the database keeps tenants apart even when a query
forgets to."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.config import Settings
from shared.db import scoped, service_role
from tests.conftest import schema_pool

pytestmark = pytest.mark.integration

TENANT_TABLES = {
    "decision": [
        "master_ai_cycles",
        "ai_decision_logs",
        "ai_learning_feedback",
        "ai_model_versions",
        "ai_workflow_states",
        "ai_performance_scores",
        "campaign_metrics",
        "outbox",
        "inbox",
    ],
    "alerts": ["ai_smart_alerts", "ai_risk_management", "ai_system_health", "campaign_metrics"],
    "optimizer": [
        "ai_recommendations",
        "ai_optimization_history",
        "ai_automation_rules",
        "ai_budget_management",
        "ai_campaign_forecasts",
        "ai_testing_experiments",
        "ai_competitive_intelligence",
        "ai_performance_benchmarks",
        "ai_integration_logs",
        "campaign_metrics",
    ],
    "gateway": ["ai_user_preferences", "ai_audit_trail", "api_keys", "idempotency_keys"],
}


INSERT_DECISION = (
    "INSERT INTO ai_decision_logs (tenant_id, decision_type) VALUES ($1, 'keyword_bid')"
)


@pytest.fixture(scope="module")
async def decision_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await schema_pool(settings, "decision")
    yield pool
    await pool.close()


async def test_service_roles_cannot_bypass_rls(decision_pool: asyncpg.Pool) -> None:
    async with decision_pool.acquire() as conn:
        who = await conn.fetchrow(
            "SELECT current_user AS name, rolsuper, rolbypassrls FROM pg_roles "
            "WHERE rolname = current_user"
        )
        assert who["name"] == service_role("decision")
        assert not who["rolsuper"] and not who["rolbypassrls"]
        # The service role is the session user: there is nobody more powerful to become.
        for escape in ("RESET ROLE", "SET ROLE NONE"):
            await conn.execute(escape)
            assert await conn.fetchval("SELECT current_user") == service_role("decision")
        for escape in ("SET ROLE postgres", "SET SESSION AUTHORIZATION postgres"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(escape)
        # Nor can it reach another service's schema.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM gateway.api_keys")


async def test_every_tenant_table_has_a_forced_policy(settings: Settings) -> None:
    pool = await schema_pool(settings, "decision")
    try:
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT n.nspname AS schema, c.relname AS name, c.relrowsecurity AS rls,
                          c.relforcerowsecurity AS forced,
                          EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid) AS policy
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'p')""",
                list(TENANT_TABLES),
            )
    finally:
        await pool.close()
    secured = {(r["schema"], r["name"]) for r in rows if r["rls"] and r["forced"] and r["policy"]}
    for schema, tables in TENANT_TABLES.items():
        for table in tables:
            assert (schema, table) in secured, f"{schema}.{table}"


async def test_a_query_that_forgets_the_tenant_sees_only_its_own(
    decision_pool: asyncpg.Pool,
) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    for tenant in (a, b):
        async with scoped(decision_pool, tenant) as conn:
            await conn.execute(
                INSERT_DECISION,
                tenant,
            )
    async with scoped(decision_pool, a) as conn:
        # No WHERE clause at all: the policy is the filter.
        seen = {r["tenant_id"] for r in await conn.fetch("SELECT tenant_id FROM ai_decision_logs")}
        assert seen == {a}
        # Writing for another tenant is refused, not silently redirected.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                INSERT_DECISION,
                b,
            )
    async with scoped(decision_pool, a) as conn:
        changed = await conn.execute(
            "UPDATE ai_decision_logs SET action_taken = 'x' WHERE tenant_id = $1", b
        )
        assert changed == "UPDATE 0"
    async with decision_pool.acquire() as conn:
        # No tenant set: nothing at all.
        assert await conn.fetchval("SELECT count(*) FROM ai_decision_logs") == 0


async def test_the_audit_trail_is_append_only_by_grant(settings: Settings) -> None:
    pool = await schema_pool(settings, "gateway")
    tenant = uuid.uuid4()
    try:
        async with scoped(pool, tenant) as conn:
            await conn.execute(
                """INSERT INTO ai_audit_trail (tenant_id, actor_type, actor_id, action)
                   VALUES ($1, 'system', 'test', 'probe')""",
                tenant,
            )
        for statement in (
            "UPDATE ai_audit_trail SET action = 'x'",
            "DELETE FROM ai_audit_trail",
            "TRUNCATE ai_audit_trail",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                async with scoped(pool, tenant) as conn:
                    await conn.execute(statement)
    finally:
        await pool.close()
