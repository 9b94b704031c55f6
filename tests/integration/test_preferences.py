"""Autonomy preferences on real PostgreSQL: the gateway's write and its event, the
optimizer's copy (newest wins) and the policy it reads back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from adpilot.cli import _demo_key
from services.gateway.preferences import TENANT_WIDE, get_preferences, set_preferences
from services.optimizer.core.handlers import subscriptions
from services.optimizer.core.tenants import tenant_policy
from shared.config import Settings
from shared.contracts.gateway import PREFERENCES_UPDATED
from shared.contracts.limits import DEFAULT_LIMITS, SafetyLimits
from shared.db import scoped
from shared.events import Envelope
from tests.conftest import schema_pool
from tests.helpers import deliver

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def updated(tenant: uuid.UUID, autonomy: str, at: datetime, limits: dict | None = None) -> Envelope:
    return PREFERENCES_UPDATED.envelope(
        {"autonomy": autonomy, "safety_limits": limits, "updated_at": at},
        tenant_id=tenant,
        source="gateway",
    )


async def test_set_preferences_writes_the_tenant_row_and_its_event(settings: Settings) -> None:
    pool = await schema_pool(settings, "gateway")
    tenant = uuid.uuid4()
    try:
        async with scoped(pool, tenant) as conn:
            assert (await get_preferences(conn, tenant))["autonomy"] == "recommend"
            limits = SafetyLimits.model_validate({"budget": {"ceiling": 250}})
            first = await set_preferences(conn, tenant, "act", limits)
            second = await set_preferences(conn, tenant, "observe", None)
            assert first["safety_limits"] == {"budget": {"ceiling": 250.0}}
            assert first["effective_limits"]["budget"]["ceiling"] == 250.0
            assert first["effective_limits"]["min_confidence"] == DEFAULT_LIMITS.min_confidence
            # Two changes in one transaction still stamp in order.
            assert second["updated_at"] > first["updated_at"]
            assert await get_preferences(conn, tenant) == second
            rows = await conn.fetch(
                "SELECT user_id, autonomy FROM ai_user_preferences WHERE tenant_id = $1", tenant
            )
            assert [(r["user_id"], r["autonomy"]) for r in rows] == [(TENANT_WIDE, "observe")]
            events = await conn.fetch(
                """SELECT routing_key, body FROM outbox WHERE tenant_id = $1
                   ORDER BY id""",
                tenant,
            )
            assert [e["routing_key"] for e in events] == ["preferences.updated"] * 2
            payloads = [e["body"]["payload"] for e in events]
            assert payloads[0]["autonomy"] == "act"
            assert payloads[0]["safety_limits"] == {"budget": {"ceiling": 250.0}}
            assert payloads[1]["safety_limits"] is None
            with pytest.raises(ValueError, match="autonomy"):
                await set_preferences(conn, tenant, "yolo", None)
        async with scoped(pool, tenant) as conn:
            # The refused change left nothing behind.
            assert (
                await conn.fetchval("SELECT count(*) FROM outbox WHERE tenant_id = $1", tenant) == 2
            )
    finally:
        await pool.close()


async def test_the_table_refuses_an_unknown_autonomy(settings: Settings) -> None:
    pool = await schema_pool(settings, "gateway")
    tenant = uuid.uuid4()
    try:
        async with scoped(pool, tenant) as conn:
            with pytest.raises(Exception, match="autonomy"):
                await conn.execute(
                    """INSERT INTO ai_user_preferences (tenant_id, user_id, autonomy)
                       VALUES ($1, '*', 'yolo')""",
                    tenant,
                )
    finally:
        await pool.close()


async def test_the_optimizer_keeps_the_newest_settings(settings: Settings) -> None:
    pool = await schema_pool(settings, "optimizer")
    tenant = uuid.uuid4()
    try:
        async with scoped(pool, tenant) as conn:
            policy = await tenant_policy(conn, tenant)
            assert (policy.autonomy, policy.limits) == ("recommend", DEFAULT_LIMITS)

            newer = updated(tenant, "act", T0 + timedelta(minutes=5), {"bid": {"floor": 0.5}})
            older = updated(tenant, "observe", T0)
            await deliver(conn, subscriptions, newer)
            await deliver(conn, subscriptions, older)  # late: changes nothing
            policy = await tenant_policy(conn, tenant)
            assert policy.autonomy == "act"
            assert policy.limits.bid.floor == 0.5
            assert policy.limits.bid.max_step_share == DEFAULT_LIMITS.bid.max_step_share
            assert policy.limits.min_confidence == DEFAULT_LIMITS.min_confidence

            # The same instant again is no newer either.
            await deliver(conn, subscriptions, updated(tenant, "observe", newer_at(newer)))
            assert (await tenant_policy(conn, tenant)).autonomy == "act"

            await deliver(conn, subscriptions, updated(tenant, "observe", T0 + timedelta(hours=1)))
            policy = await tenant_policy(conn, tenant)
            assert (policy.autonomy, policy.limits) == ("observe", DEFAULT_LIMITS)
        other = uuid.uuid4()
        async with scoped(pool, other) as conn:
            # Another tenant sees none of it.
            assert (await tenant_policy(conn, tenant)).autonomy == "recommend"
    finally:
        await pool.close()


def newer_at(event: Envelope) -> datetime:
    return datetime.fromisoformat(event.payload["updated_at"])


async def test_unreadable_stored_limits_mean_a_person_decides(settings: Settings) -> None:
    pool = await schema_pool(settings, "optimizer")
    tenant = uuid.uuid4()
    try:
        async with scoped(pool, tenant) as conn:
            await conn.execute(
                """INSERT INTO optimizer_tenant_settings VALUES ($1, 'act', $2, now())""",
                tenant,
                {"budget": {"floor": 9, "ceiling": 1}},
            )
            policy = await tenant_policy(conn, tenant)
            assert (policy.autonomy, policy.limits) == ("recommend", DEFAULT_LIMITS)
    finally:
        await pool.close()


def test_an_invalid_event_cannot_be_made() -> None:
    with pytest.raises(ValidationError):
        updated(uuid.uuid4(), "act", T0, {"budget": {"floor": 9, "ceiling": 1}})


async def test_the_demo_tenant_acts(settings: Settings) -> None:
    demo = settings.model_copy(update={"default_tenant": uuid.uuid4()})
    key = await _demo_key(demo)
    assert key.startswith("adp_")
    pool = await schema_pool(settings, "gateway")
    try:
        async with scoped(pool, system=True) as conn:
            tenant = await conn.fetchval("SELECT id FROM tenants WHERE name = 'demo'")
            assert (await get_preferences(conn, tenant))["autonomy"] == "act"
            assert await conn.fetchval(
                """SELECT count(*) FROM outbox
                   WHERE tenant_id = $1 AND routing_key = 'preferences.updated'""",
                tenant,
            )
    finally:
        await pool.close()
