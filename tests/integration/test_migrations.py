"""Migrations on real PostgreSQL: every seed table in its owner's schema, safe to rerun."""

from __future__ import annotations

import pytest

from services.registry import migration_folders
from shared.config import Settings
from shared.db import connect, migrate_all

pytestmark = pytest.mark.integration

OWNERS = {
    "decision": {
        "master_ai_cycles",
        "ai_decision_logs",
        "ai_learning_feedback",
        "ai_model_versions",
        "ai_workflow_states",
        "ai_performance_scores",
    },
    "alerts": {"ai_smart_alerts", "ai_risk_management", "ai_system_health"},
    "optimizer": {
        "ai_recommendations",
        "ai_optimization_history",
        "ai_automation_rules",
        "ai_budget_management",
        "ai_campaign_forecasts",
        "ai_testing_experiments",
        "ai_competitive_intelligence",
        "ai_performance_benchmarks",
        "ai_integration_logs",
    },
    "gateway": {"ai_user_preferences", "ai_audit_trail"},
}


async def test_all_twenty_tables_live_in_their_owners_schema(settings: Settings) -> None:
    conn = await connect(settings.database_url)
    try:
        rows = await conn.fetch(
            """SELECT table_schema, table_name FROM information_schema.tables
               WHERE table_name LIKE 'ai\\_%' OR table_name = 'master_ai_cycles'"""
        )
        found: dict[str, set[str]] = {}
        for r in rows:
            found.setdefault(r["table_schema"], set()).add(r["table_name"])
        assert found == OWNERS
        assert sum(len(t) for t in found.values()) == 20
        nullable = await conn.fetch(
            """SELECT table_schema, table_name FROM information_schema.columns
               WHERE column_name = 'tenant_id' AND is_nullable = 'YES'"""
        )
        assert nullable == []
        with_tenant = await conn.fetchval(
            """SELECT count(*) FROM information_schema.columns
               WHERE column_name = 'tenant_id'
                 AND (table_name LIKE 'ai\\_%' OR table_name = 'master_ai_cycles')"""
        )
        assert with_tenant == 20
    finally:
        await conn.close()


async def test_migrating_twice_applies_nothing_new(settings: Settings) -> None:
    again = await migrate_all(settings.database_url, migration_folders())
    assert again == {schema: [] for schema in OWNERS}


async def test_audit_trail_refuses_updates_and_deletes(settings: Settings) -> None:
    import asyncpg

    conn = await connect(settings.database_url)
    try:
        await conn.execute(
            """INSERT INTO gateway.ai_audit_trail (tenant_id, actor_type, actor_id, action)
               VALUES (gen_random_uuid(), 'system', 'test', 'probe')"""
        )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE gateway.ai_audit_trail SET action = 'tampered'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM gateway.ai_audit_trail")
    finally:
        await conn.close()
