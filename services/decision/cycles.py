"""Master AI cycles: queue, claim (one per tenant at a time), and run step by step.

A cycle gathers the tenant's state from this service's own copies (metrics, open alerts,
risks), analyses it per campaign, asks the pure policy for decisions, and publishes them.
Each step is a row in ``ai_workflow_states``.

Scheduled cycles come once per tenant and period of ``cycle_interval_seconds``, however
many replicas run: each period is a row of ``cycle_schedule`` that the first replica to
reach it inserts, together with the cycle it queues. A scheduled cycle whose run is cut
short (its process stopped or died) hands its periods to a cycle queued in its place.
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

from services.decision import budget_curves, learning, policy, validation
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
INTERRUPTED = "interrupted: the service stopped"
# Replicas wake this long after a period starts (by their own clocks), so that the
# database's clock, which names the period, has surely reached it too.
PERIOD_MARGIN_SECONDS = 0.05
# Periods that began while no replica could queue their cycles are queued late, up to
# this many back; one cycle then does their work and the current period's.
CATCH_UP_PERIODS = 5
# Response curves are fitted on this many most recent complete days...
CURVE_DAYS = 28
# ...and a cycle fits at most this many campaigns' new curves (two each, ~2 ms apiece);
# the others keep fixed budget steps until a later cycle reaches them.
MAX_CURVE_FITS = 200
# Curves fitted per campaign, refitted when its days change (about once a day).
CURVES = budget_curves.CurveCache()
NOISE_METRICS = ("spend", "conversions", "impressions", "cpc")


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


async def requeue_schedule(conn: asyncpg.Connection, cycle: dict[str, Any]) -> UUID | None:
    """Queue a cycle in the place of ``cycle``, a scheduled one whose run was cut short,
    and hand it the periods ``cycle`` was to do; None when ``cycle`` had none."""
    scheduled = await conn.fetchval(
        "SELECT count(*) FROM cycle_schedule WHERE cycle_id = $1", cycle["id"]
    )
    if not scheduled:
        return None
    fresh, _ = await request_cycle(conn, cycle["tenant_id"], "schedule")
    await conn.execute(
        "UPDATE cycle_schedule SET cycle_id = $2 WHERE cycle_id = $1", cycle["id"], fresh["id"]
    )
    return UUID(str(fresh["id"]))


# --- gathering -----------------------------------------------------------------------


async def _gather(conn: asyncpg.Connection, tenant: UUID) -> dict[str, Any]:
    now_hour = await newest_hour(conn, tenant)
    if now_hour is None:
        return {"as_of": None, "campaigns": []}
    campaign_ids = await campaigns_since(conn, tenant, now_hour - ACTIVE_WINDOW)
    history = await load_history(conn, tenant, campaign_ids, now_hour - HISTORY, now_hour)
    alerts = await conn.fetch(
        """SELECT alert_id, campaign_id, kind, symptoms, metric, severity, observed, baseline,
                  competitors
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
        # Per decision type: the confidence its track record earns.
        "fits": await learning.type_calibration(conn, tenant),
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
                competitors=tuple(policy.CompetitorLink.of(k) for k in a.get("competitors") or ()),
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
                noise=campaign_noise(rows, state["as_of"]),
            )
        )
    return views


def campaign_noise(rows: list[HourlyMetrics], as_of: datetime) -> dict[str, float]:
    """Day-to-day variability of each metric the policy predicts, for its intervals."""
    measured = {m: validation.daily_noise(rows, m, as_of) for m in NOISE_METRICS}
    return {m: n for m, n in measured.items() if n is not None}


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
                    "calibration": {
                        kind: {
                            "calibrator": f.kind.value,
                            "outcomes": round(f.outcomes, 4),
                            "calibration": round(f.calibration, 4),
                            "slope": round(f.slope, 4),
                        }
                        for kind, f in state.get("fits", {}).items()
                    },
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
                proposals = policy.decide(views, self.params, fits=state["fits"])
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
                await asyncio.shield(self._finish(cycle, started, summary, INTERRUPTED))
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
            if error == INTERRUPTED:
                await requeue_schedule(conn, dict(row))
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
                        if done == "UPDATE 1":
                            await requeue_schedule(conn, dict(cycle))
                    reaped += done == "UPDATE 1"
                finally:
                    await lock.execute(
                        "SELECT pg_advisory_unlock($1, hashtext($2))", CYCLE_LOCK_CLASS, tenant
                    )
        return reaped

    async def schedule(self) -> float:
        """Queue the current period's cycle of every tenant with recent metrics, and of
        the periods since its last scheduled one that nobody queued (a replica busy or
        down when they began; at most ``CATCH_UP_PERIODS``), unless another replica has;
        answers the seconds until the next period starts.

        Periods start at multiples of ``cycle_interval_seconds`` on the database's clock,
        the one clock every replica shares. A replica inserting a period's row waits for
        another's uncommitted insert of it, and then leaves it: one cycle per period."""
        interval = self.runtime.settings.cycle_interval_seconds
        async with scoped(self.pool, system=True) as conn:
            now = float(await conn.fetchval("SELECT extract(epoch FROM clock_timestamp())"))
            current = int(now // interval)
            for tenant in sorted(await tenants_recorded_within(conn, timedelta(days=1)), key=str):
                last = await conn.fetchval(
                    "SELECT extract(epoch FROM max(period_start)) FROM cycle_schedule "
                    "WHERE tenant_id = $1",
                    tenant,
                )
                first = current
                if last is not None:
                    after_last = round(float(last) / interval) + 1
                    first = max(after_last, current - CATCH_UP_PERIODS)
                for period in range(first, current + 1):
                    await _schedule_period(conn, tenant, period * interval)
        return (current + 1) * interval - now + PERIOD_MARGIN_SECONDS


async def _schedule_period(conn: asyncpg.Connection, tenant: UUID, start: float) -> None:
    """Queue the tenant's cycle for the period starting at ``start`` (seconds since the
    epoch), unless it has been."""
    first = await conn.fetchval(
        """INSERT INTO cycle_schedule (tenant_id, period_start)
           VALUES ($1, to_timestamp($2)) ON CONFLICT DO NOTHING RETURNING true""",
        tenant,
        start,
    )
    if not first:
        return
    cycle, _ = await request_cycle(conn, tenant, "schedule")
    await conn.execute(
        """UPDATE cycle_schedule SET cycle_id = $3
           WHERE tenant_id = $1 AND period_start = to_timestamp($2)""",
        tenant,
        start,
        cycle["id"],
    )


def _count_by(decisions: list[policy.Decision]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for d in decisions:
        counts[d.decision_type] = counts.get(d.decision_type, 0) + 1
    return counts


# The periods scheduled are kept this long, for a look at how the schedule went.
SCHEDULE_RETENTION = timedelta(days=2)


async def forget_periods(runtime: ServiceRuntime) -> None:
    """Upkeep: remove the rows of periods long past."""
    async with runtime.system_tx() as conn:
        await conn.execute(
            "DELETE FROM cycle_schedule WHERE period_start < now() - $1::interval",
            SCHEDULE_RETENTION,
        )


async def run_cycles(runtime: ServiceRuntime) -> None:
    """Background job: run queued cycles as they come."""
    runner = CycleRunner(runtime)
    wake = asyncio.Event()
    async with listening(runtime.db, "decision_cycles", lambda *_: wake.set()):
        while True:
            wake.clear()
            if await runner.claim_and_run():
                continue
            # Woken when a cycle is queued; the timeout covers a notification missed.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), runtime.settings.cycle_interval_seconds)


async def run_schedule(runtime: ServiceRuntime) -> None:
    """Background job: at the start of each period, fail the cycles of replicas that
    stopped mid-cycle (queueing their periods' work again) and queue the period's cycles.
    A job of its own, so that a long cycle never holds up the schedule."""
    runner = CycleRunner(runtime)
    while True:
        await runner.reap_abandoned()
        await asyncio.sleep(await runner.schedule())
