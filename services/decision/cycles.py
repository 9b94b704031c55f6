"""Master AI cycles: queue, claim (one per tenant at a time), and run step by step.

A cycle gathers the tenant's state from this service's own copies (metrics, open alerts,
risks), analyses it per campaign, asks the pure policy for decisions, and publishes them.
Each step is a row in ``ai_workflow_states``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from services.decision import budget_curves, policy
from shared.contracts.decision import (
    CYCLE_COMPLETED,
    CYCLES,
    DECISION_MADE,
    DECISIONS,
)
from shared.contracts.spec import EventType
from shared.curves import DayTotals
from shared.db import listening, scoped
from shared.events import Envelope
from shared.metrics import HourlyMetrics
from shared.metrics_store import (
    campaigns_since,
    load_history,
    newest_hour,
    tenants_recorded_within,
)
from shared.outbox import enqueue
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

SOURCE = "decision"
# Advisory lock class for "a cycle of this tenant is running" (second key: the tenant).
CYCLE_LOCK_CLASS = 0x41445043
MAX_TRIGGERS = 50
HOUR = timedelta(hours=1)
ACTIVE_WINDOW = timedelta(hours=48)
HISTORY = timedelta(days=8)
# The same action on the same campaign is not decided again within this much data time.
REPEAT_GUARD = timedelta(hours=24)
STEPS = ("gather", "analyse", "decide", "publish")
# Response curves are fitted on this many most recent complete days...
CURVE_DAYS = 28
# ...and a cycle fits at most this many campaigns' new curves (two each, ~2 ms apiece);
# the others keep fixed budget steps until a later cycle reaches them.
MAX_CURVE_FITS = 200
# Curves fitted per campaign, refitted when its days change (about once a day).
CURVES = budget_curves.CurveCache()


async def request_cycle(
    conn: asyncpg.Connection, tenant_id: UUID, trigger: str
) -> tuple[dict[str, Any], bool]:
    """Queue an automatic cycle, or join the tenant's pending one. True when newly queued."""
    row = await conn.fetchrow(
        f"""INSERT INTO master_ai_cycles AS c (tenant_id, cycle_name, cycle_type, status,
                trigger_event, joinable, metadata)
            VALUES ($1, 'master cycle', 'decision', 'pending', $2, true,
                    jsonb_build_object('triggers', jsonb_build_array($2::text)))
            ON CONFLICT (tenant_id) WHERE status = 'pending' AND joinable DO UPDATE SET
                metadata = CASE WHEN jsonb_array_length(c.metadata -> 'triggers') < {MAX_TRIGGERS}
                    THEN jsonb_set(c.metadata, '{{triggers}}',
                                   (c.metadata -> 'triggers') || to_jsonb($2::text))
                    ELSE c.metadata END,
                updated_at = now()
            RETURNING {CYCLES.select_list}, (xmax = 0) AS created""",
        tenant_id,
        trigger,
    )
    assert row is not None
    data = dict(row)
    return data, bool(data.pop("created"))


# --- gathering -----------------------------------------------------------------------


async def _gather(conn: asyncpg.Connection, tenant: UUID) -> dict[str, Any]:
    now_hour = await newest_hour(conn, tenant)
    if now_hour is None:
        return {"as_of": None, "campaigns": []}
    campaign_ids = await campaigns_since(conn, tenant, now_hour - ACTIVE_WINDOW)
    history = await load_history(conn, tenant, campaign_ids, now_hour - HISTORY, now_hour)
    alerts = await conn.fetch(
        """SELECT alert_id, campaign_id, kind, symptoms, metric, severity, observed, baseline
           FROM alert_view WHERE tenant_id = $1 AND status IN ('active', 'acknowledged')""",
        tenant,
    )
    risks = await conn.fetch(
        "SELECT campaign_id, risk_type, risk_level, probability_score FROM risk_view "
        "WHERE tenant_id = $1",
        tenant,
    )
    # Whole UTC days only, summed in the database: a curve needs days, not hours.
    daily = await conn.fetch(
        """SELECT campaign_id, (hour AT TIME ZONE 'UTC')::date AS day, sum(spend) AS spend,
                  sum(conversions) AS conversions, sum(revenue) AS revenue
           FROM campaign_metrics
           WHERE tenant_id = $1 AND campaign_id = ANY($2::uuid[]) AND hour >= $3 AND hour <= $4
           GROUP BY 1, 2 HAVING count(*) = 24
           ORDER BY 1, 2""",
        tenant,
        campaign_ids,
        now_hour - timedelta(days=CURVE_DAYS + 1),
        now_hour,
    )
    outcomes = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE validation_status = 'validated') AS correct,
                  count(*) FILTER (WHERE validation_status IN ('validated', 'incorrect')) AS total
           FROM ai_decision_logs WHERE tenant_id = $1""",
        tenant,
    )
    assert outcomes is not None
    return {
        "as_of": now_hour + HOUR,
        "campaigns": campaign_ids,
        "history": history,
        "alerts": [dict(a) for a in alerts],
        "risks": [dict(r) for r in risks],
        "daily": [
            (
                r["campaign_id"],
                DayTotals(
                    r["day"], float(r["spend"]), float(r["conversions"]), float(r["revenue"])
                ),
            )
            for r in daily
        ],
        "calibration": policy.update_calibration(outcomes["correct"], outcomes["total"]),
    }


def build_views(state: dict[str, Any]) -> list[policy.CampaignView]:
    """Per-campaign views for the policy, from the gathered state. Pure but for the
    curve cache (:data:`CURVES`), which only saves refitting the same days."""
    by_campaign: dict[UUID, list[HourlyMetrics]] = {c: [] for c in state["campaigns"]}
    for row in state["history"]:
        by_campaign.setdefault(row.campaign_id, []).append(row)
    days: dict[UUID, list[DayTotals]] = {}
    for campaign_id, day in state.get("daily", ()):
        days.setdefault(campaign_id, []).append(day)
    fits_left = MAX_CURVE_FITS
    views = []
    for campaign_id, rows in by_campaign.items():
        if not rows:
            continue
        alerts = tuple(
            policy.AlertView(
                alert_id=a["alert_id"],
                kind=a["kind"] or "",
                symptoms=tuple(a.get("symptoms") or ()),
                metric=a["metric"] or "",
                severity=a["severity"],
                observed=a["observed"],
                baseline=a["baseline"],
            )
            for a in state["alerts"]
            if a["campaign_id"] == campaign_id
        )
        risks = tuple(
            policy.RiskView(r["risk_type"], r["risk_level"], float(r["probability_score"]))
            for r in state["risks"]
            if r["campaign_id"] == campaign_id
        )
        latest = rows[-1]
        curves = None
        if campaign_id in days:
            window = days[campaign_id][-CURVE_DAYS:]
            curves = CURVES.get(campaign_id, window, fit=False)
            if curves is None and fits_left > 0:
                fits_left -= 1
                curves = CURVES.get(campaign_id, window, fit=True)
        views.append(
            policy.CampaignView(
                campaign_id=campaign_id,
                daily_budget=latest.budget,
                metrics=policy.summarise(campaign_id, rows, state["as_of"]),
                alerts=alerts,
                risks=risks,
                # Paused campaigns report no traffic and no spend: nothing to decide on.
                paused=latest.impressions == 0 and latest.spend == 0,
                curves=curves,
            )
        )
    return views


async def _recent_actions(
    conn: asyncpg.Connection, tenant: UUID, as_of: datetime
) -> set[tuple[str, str]]:
    rows = await conn.fetch(
        """SELECT context_data ->> 'campaign_id' AS campaign_id, action_taken
           FROM ai_decision_logs
           WHERE tenant_id = $1 AND as_of > $2""",
        tenant,
        as_of - REPEAT_GUARD,
    )
    return {(r["campaign_id"], r["action_taken"]) for r in rows}


# --- running -------------------------------------------------------------------------


class CycleRunner:
    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime
        self.pool = runtime.db
        self.params = policy.PolicyParams()

    def _tx(self, cycle: dict[str, Any]) -> AbstractAsyncContextManager[asyncpg.Connection]:
        return scoped(self.pool, cycle["tenant_id"])

    async def _step(
        self,
        cycle: dict[str, Any],
        order: int,
        name: str,
        work: Callable[[], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        async with self._tx(cycle) as conn:
            step_id = await conn.fetchval(
                """INSERT INTO ai_workflow_states (tenant_id, workflow_type, workflow_id,
                       step_name, step_order, status, started_at)
                   VALUES ($1, 'master_cycle', $2, $3, $4, 'running', now()) RETURNING id""",
                cycle["tenant_id"],
                cycle["id"],
                name,
                order,
            )
        try:
            output = await work()
        except Exception as exc:
            async with self._tx(cycle) as conn:
                await conn.execute(
                    """UPDATE ai_workflow_states SET status = 'failed', error_message = $2,
                           completed_at = now() WHERE id = $1""",
                    step_id,
                    f"{exc.__class__.__name__}: {exc}"[:1000],
                )
            raise
        async with self._tx(cycle) as conn:
            await conn.execute(
                """UPDATE ai_workflow_states SET status = 'completed', output_data = $2,
                       completed_at = now() WHERE id = $1""",
                step_id,
                {k: v for k, v in output.items() if not k.startswith("_")},
            )
        return output

    async def run(self, cycle: dict[str, Any]) -> dict[str, Any]:
        """Run one claimed cycle to completion or failure; returns the finished row."""
        tenant: UUID = cycle["tenant_id"]
        started = time.monotonic()
        summary: dict[str, Any] = {}
        error: str | None = None
        try:
            state: dict[str, Any] = {}

            async def gather() -> dict[str, Any]:
                async with self._tx(cycle) as conn:
                    state.update(await _gather(conn, tenant))
                return {
                    "as_of": state["as_of"].isoformat() if state["as_of"] else None,
                    "campaigns": len(state["campaigns"]),
                    "metric_rows": len(state.get("history", [])),
                    "open_alerts": len(state.get("alerts", [])),
                    "risks": len(state.get("risks", [])),
                    "calibration": round(state.get("calibration", 0.5), 4),
                }

            views: list[policy.CampaignView] = []

            async def analyse() -> dict[str, Any]:
                if state["as_of"] is not None:
                    # Curve fitting is CPU work: off the event loop.
                    views.extend(await asyncio.to_thread(build_views, state))
                return {
                    "campaigns_analysed": len(views),
                    "with_curves": sum(1 for v in views if v.curves is not None),
                    "curves_supported": sum(
                        1 for v in views if v.curves is not None and v.curves.revenue.supported
                    ),
                    "with_alerts": sum(1 for v in views if v.alerts),
                    "paused": sum(1 for v in views if v.paused),
                }

            chosen: list[policy.Decision] = []

            async def decide() -> dict[str, Any]:
                if not views:
                    return {"decisions": 0, "suppressed": 0}
                proposals = policy.decide(views, self.params, state["calibration"])
                async with self._tx(cycle) as conn:
                    recent = await _recent_actions(conn, tenant, state["as_of"])
                fresh = [d for d in proposals if (str(d.campaign_id), d.action_taken) not in recent]
                chosen.extend(fresh)
                return {
                    "decisions": len(fresh),
                    "suppressed": len(proposals) - len(fresh),
                    "by_type": _count_by(fresh),
                }

            async def publish() -> dict[str, Any]:
                ids = await self._publish(cycle, chosen, state.get("as_of"))
                return {"published": len(ids), "decision_ids": [str(i) for i in ids]}

            for order, (name, work) in enumerate(
                zip(STEPS, (gather, analyse, decide, publish), strict=True), start=1
            ):
                summary[name] = await self._step(cycle, order, name, work)
        except asyncio.CancelledError:
            # Stopping mid-cycle: say so while we can; the reaper covers a hard stop.
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    self._finish(cycle, started, summary, "interrupted: the service stopped")
                )
            raise
        except Exception as exc:
            error = f"{exc.__class__.__name__}: {exc}"
            log.exception("cycle failed", extra={"cycle_id": str(cycle["id"])})
        return await self._finish(cycle, started, summary, error)

    async def _publish(
        self, cycle: dict[str, Any], decisions: list[policy.Decision], as_of: datetime | None
    ) -> list[UUID]:
        ids: list[UUID] = []
        async with self._tx(cycle) as conn:
            for decision in decisions:
                context = {
                    **decision.context_data,
                    "as_of": as_of.isoformat() if as_of else None,
                    "action": decision.action,
                    "current_state": {"daily_budget": decision.context_data.get("daily_budget")},
                }
                row = await conn.fetchrow(
                    f"""INSERT INTO ai_decision_logs (tenant_id, cycle_id, decision_type,
                           context_data, decision_rationale, confidence_score, action_taken,
                           impact_prediction, as_of)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                        RETURNING {DECISIONS.select_list}""",
                    cycle["tenant_id"],
                    cycle["id"],
                    decision.decision_type,
                    context,
                    decision.rationale,
                    round(decision.confidence, 2),
                    decision.action_taken,
                    decision.impact_prediction,
                    as_of,
                )
                assert row is not None
                ids.append(row["id"])
                payload = {**row, "campaign_id": decision.campaign_id}
                await enqueue(conn, self._event(cycle, DECISION_MADE, payload))
        return ids

    def _event(
        self, cycle: dict[str, Any], event_type: EventType[Any], payload: dict[str, Any]
    ) -> Envelope:
        return event_type.envelope(
            payload, tenant_id=cycle["tenant_id"], correlation_id=cycle["id"], source=SOURCE
        )

    async def _finish(
        self, cycle: dict[str, Any], started: float, summary: dict[str, Any], error: str | None
    ) -> dict[str, Any]:
        status = "failed" if error else "completed"
        duration = time.monotonic() - started
        async with self._tx(cycle) as conn:
            row = await conn.fetchrow(
                f"""UPDATE master_ai_cycles SET status = $2, end_time = now(),
                        duration_seconds = $3, error_message = $4, updated_at = now(),
                        metadata = metadata || $5::jsonb
                    WHERE id = $1 AND status = 'running'
                    RETURNING {CYCLES.select_list}, tenant_id""",
                cycle["id"],
                status,
                round(duration),
                error,
                {
                    "duration_ms": round(duration * 1000, 1),
                    "decisions": summary.get("publish", {}).get("published", 0),
                    "steps": list(summary),
                },
            )
            if row is None:
                # Already ended elsewhere (the reaper took it for abandoned): keep that ending.
                current = await conn.fetchrow(
                    f"SELECT {CYCLES.select_list} FROM master_ai_cycles WHERE id = $1", cycle["id"]
                )
                assert current is not None
                return dict(current)
            finished = dict(row)
            finished.pop("tenant_id")
            await enqueue(conn, self._event(cycle, CYCLE_COMPLETED, finished))
        return finished

    async def claim_and_run(self) -> bool:
        """Run one pending cycle whose tenant has no cycle running anywhere. True if one ran."""
        async with scoped(self.pool, system=True) as conn:
            # One candidate per tenant, the tenants oldest-waiting first: a tenant that
            # queues many urgent cycles orders its own queue, not everyone else's.
            candidates = await conn.fetch(
                """SELECT id, tenant_id FROM (
                       SELECT DISTINCT ON (tenant_id) id, tenant_id, created_at
                       FROM master_ai_cycles WHERE status = 'pending'
                       ORDER BY tenant_id, priority DESC, created_at) AS head
                   ORDER BY created_at LIMIT 50"""
            )
        # The lock is per session and held for the whole cycle, on a connection of its own.
        async with self.pool.acquire() as lock:
            for candidate in candidates:
                tenant = str(candidate["tenant_id"])
                locked = await lock.fetchval(
                    "SELECT pg_try_advisory_lock($1, hashtext($2))", CYCLE_LOCK_CLASS, tenant
                )
                if not locked:
                    continue
                try:
                    async with scoped(self.pool, candidate["tenant_id"]) as conn:
                        claimed = await conn.fetchrow(
                            f"""UPDATE master_ai_cycles SET status = 'running',
                                    start_time = now(), updated_at = now()
                                WHERE id = $1 AND status = 'pending'
                                RETURNING {CYCLES.select_list}, tenant_id""",
                            candidate["id"],
                        )
                    if claimed is None:
                        continue
                    await self.run(dict(claimed))
                    return True
                finally:
                    await lock.execute(
                        "SELECT pg_advisory_unlock($1, hashtext($2))", CYCLE_LOCK_CLASS, tenant
                    )
        return False

    async def reap_abandoned(self) -> int:
        """Fail cycles left 'running' by a process that stopped mid-cycle.

        A running cycle's replica holds its tenant's lock; a cycle whose lock anyone can
        take has nobody running it.
        """
        async with scoped(self.pool, system=True) as conn:
            running = await conn.fetch(
                "SELECT id, tenant_id FROM master_ai_cycles WHERE status = 'running'"
            )
        reaped = 0
        async with self.pool.acquire() as lock:
            for cycle in running:
                tenant = str(cycle["tenant_id"])
                if not await lock.fetchval(
                    "SELECT pg_try_advisory_lock($1, hashtext($2))", CYCLE_LOCK_CLASS, tenant
                ):
                    continue
                try:
                    async with scoped(self.pool, cycle["tenant_id"]) as conn:
                        done = await conn.execute(
                            """UPDATE master_ai_cycles SET status = 'failed', end_time = now(),
                                   updated_at = now(),
                                   error_message = 'abandoned: the process running it stopped'
                               WHERE id = $1 AND status = 'running'""",
                            cycle["id"],
                        )
                        await conn.execute(
                            """UPDATE ai_workflow_states SET status = 'failed',
                                   completed_at = now(), error_message = 'abandoned'
                               WHERE workflow_id = $1 AND status = 'running'""",
                            cycle["id"],
                        )
                    reaped += done == "UPDATE 1"
                finally:
                    await lock.execute(
                        "SELECT pg_advisory_unlock($1, hashtext($2))", CYCLE_LOCK_CLASS, tenant
                    )
        return reaped

    async def schedule(self) -> None:
        """Queue a scheduled cycle for every tenant with recent metrics."""
        async with scoped(self.pool, system=True) as conn:
            for tenant in await tenants_recorded_within(conn, timedelta(days=1)):
                await request_cycle(conn, tenant, "schedule")


def _count_by(decisions: list[policy.Decision]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for d in decisions:
        counts[d.decision_type] = counts.get(d.decision_type, 0) + 1
    return counts


async def run_cycles(runtime: ServiceRuntime) -> None:
    """Background job: run queued cycles as they come, and queue scheduled ones."""
    runner = CycleRunner(runtime)
    wake = asyncio.Event()
    interval = runtime.settings.cycle_interval_seconds
    next_schedule = time.monotonic() + interval
    await runner.reap_abandoned()
    async with listening(runtime.db, "decision_cycles", lambda *_: wake.set()):
        while True:
            wake.clear()
            if time.monotonic() >= next_schedule:
                await runner.reap_abandoned()
                await runner.schedule()
                next_schedule = time.monotonic() + interval
            if await runner.claim_and_run():
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), max(0.1, next_schedule - time.monotonic()))
