"""Migrations on real PostgreSQL: every seed table in its owner's schema, safe to rerun."""

from __future__ import annotations

import hashlib
import logging
import uuid
from pathlib import Path

import pytest

from adpilot.registry import KEEP_CAMPAIGN_METRICS, migration_folders
from shared.config import Settings
from shared.db import connect, migrate_all, migrate_schema

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


async def test_every_keeper_of_campaign_metrics_has_the_one_shared_table(
    settings: Settings,
) -> None:
    conn = await connect(settings.database_url)
    try:
        columns = await conn.fetch(
            """SELECT table_schema, column_name, data_type, is_nullable
               FROM information_schema.columns WHERE table_name = 'campaign_metrics'
               ORDER BY table_schema, ordinal_position"""
        )
        indexes = await conn.fetch(
            """SELECT schemaname, indexname FROM pg_indexes
               WHERE tablename = 'campaign_metrics' ORDER BY schemaname, indexname"""
        )
    finally:
        await conn.close()
    by_schema: dict[str, list[tuple[str, str, str]]] = {}
    for c in columns:
        by_schema.setdefault(c["table_schema"], []).append(
            (c["column_name"], c["data_type"], c["is_nullable"])
        )
    assert set(by_schema) == set(KEEP_CAMPAIGN_METRICS)
    assert by_schema["alerts"] == by_schema["decision"]
    assert {(i["schemaname"], i["indexname"]) for i in indexes} == {
        (schema, name)
        for schema in KEEP_CAMPAIGN_METRICS
        for name in ("campaign_metrics_pkey", "campaign_metrics_recent")
    }


async def test_a_rewritten_migration_that_names_its_old_checksum_is_accepted(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    schema = f"probe_rewrite_{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "migrations"
    folder.mkdir()
    original = "CREATE TABLE a (x int);\nCREATE TABLE b (y int);\n"
    (folder / "001_two.sql").write_text(original)
    conn = await connect(settings.database_url)
    try:
        assert await migrate_schema(conn, schema, folder) == [
            "shared/001_messaging",
            "shared/002_request_keys",
            f"{schema}/001_two",
        ]
        old = hashlib.sha256(original.encode()).hexdigest()
        # table b moves elsewhere; a database that ran the old file already has it
        rewritten = f"-- replaces checksum {old}\nCREATE TABLE a (x int);\n"
        (folder / "001_two.sql").write_text(rewritten)
        with caplog.at_level(logging.INFO, logger="shared.db"):
            assert await migrate_schema(conn, schema, folder) == []
        assert "applied migration rewritten" in caplog.messages
        assert "applied migration differs from file" not in caplog.messages
        recorded = await conn.fetchval(
            f'SELECT checksum FROM "{schema}".schema_migrations WHERE version = $1',
            f"{schema}/001_two",
        )
        assert recorded == hashlib.sha256(rewritten.encode()).hexdigest()
        # an edit that names no checksum it replaces is still called out
        caplog.clear()
        (folder / "001_two.sql").write_text(rewritten + "-- changed again\n")
        with caplog.at_level(logging.INFO, logger="shared.db"):
            assert await migrate_schema(conn, schema, folder) == []
        assert "applied migration differs from file" in caplog.messages
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.execute(f'DROP ROLE IF EXISTS "adpilot_{schema}"')
        await conn.close()
