"""Reallocating budget pools: on a schedule on the platform's clock, and on demand.

A run of one pool:

1. **Claim** (one transaction): the pool's row is leased (``claimed_until``, renewed as
   the run goes) and a ``running`` reallocation is recorded; a partial unique index
   allows one running reallocation per pool, so two replicas (or a schedule and a
   person) never run one pool at once. A run whose replica died is marked ``failed`` by
   the next claim, once its lease has run out.
2. **Compute**, with no transaction held across a call to the platform: the campaigns'
   budgets from the platform, their newest curves (refitted when a new complete day has
   landed), the tenant's safety limits turned into absolute floors and caps per
   campaign (:func:`services.optimizer.pools.pool.act_bounds`), then
   :func:`services.optimizer.pools.allocator.allocate`.
3. **Apply** each campaign's new budget the way every change goes
   (:func:`services.optimizer.core.act.act`): by the tenant's autonomy, within its limits,
   with history and rollback; the change id is derived from the reallocation and the
   campaign, so a retry never applies a budget twice. What the limits or the autonomy
   hold back becomes a recommendation.
4. **Record** (one transaction): each campaign's explanation and outcome, the pool's
   totals, and ``budget.reallocated`` through the outbox.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import numpy as np

from services.optimizer.core.act import Outcome, act
from services.optimizer.core.execution import (
    Cause,
    Desire,
    applied_changes,
    carry_out,
    in_flight_change,
    last_change_at,
)
from services.optimizer.core.platform import connector_for, read_account, store_observed
from services.optimizer.core.recommend import hold_back
from services.optimizer.core.tenants import TenantPolicy, tenant_policy
from services.optimizer.pools.allocator import (
    GUARD_TOLERANCE,
    Allocation,
    PoolLimits,
    predict_pool,
    reallocation,
)
from services.optimizer.pools.curves import curve_of, refresh_curves
from services.optimizer.pools.pool import (
    HOUR,
    LEVEL,
    CampaignLine,
    act_bounds,
    curve_summary,
    held,
    held_note,
    next_due,
    pool_marginal,
    reason_for,
    rounded_budgets,
)
from shared.connectors import CampaignState, Change, ConnectorError, UnknownCampaign
from shared.contracts.pools import BUDGET_POOLS, BUDGET_REALLOCATED, REALLOCATIONS
from shared.curves import CurveSet, ResponseCurve, fit_curve
from shared.metrics_store import newest_hour
from shared.outbox import enqueue
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

# Longer than a run takes between renewals (reading the account and fitting, or one
# campaign's change with the connector's retries): a lease that runs out means its replica
# is gone.
LEASE_SECONDS = 300.0
# Pools of tenants whose metrics stopped are still looked at this often.
SWEEP_SECONDS = 30.0
# Changes carried out at once by one run.
CONCURRENT_CHANGES = 8


class ReallocationRunning(Exception):
    """Another reallocation of the pool is running."""


class PoolUnusable(Exception):
    """The pool cannot be reallocated as it stands (a campaign the platform does not know)."""


# --- computing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Computed:
    """A reallocation worked out, nothing applied: per campaign its line, new budget and
    explanation, and the pool's predicted totals."""

    as_of: datetime
    policy: TenantPolicy
    lines: list[CampaignLine]
    budgets: list[float]
    explanations: list[dict[str, Any]]
    predicted: dict[str, Any]
    unallocated: float
    expected: list[dict[str, Any]]


def _day_start(moment: datetime) -> datetime:
    return datetime.combine(moment.astimezone(UTC).date(), time(), tzinfo=UTC)


async def _lines(
    conn: asyncpg.Connection,
    tenant: UUID,
    states: Sequence[CampaignState],
    as_of: datetime,
    policy: TenantPolicy,
) -> list[CampaignLine]:
    """Each campaign's budget and the bounds the tenant's limits put on it now."""
    limits = policy.limits
    lines = []
    for state in states:
        current = float(state.daily_budget)
        frozen: str | None = None
        if state.status == "paused":
            frozen = "paused"
        elif await in_flight_change(conn, tenant, state.campaign_id, "budget") is not None:
            frozen = "in_flight"
        else:
            last = await last_change_at(conn, tenant, state.campaign_id)
            if (
                last is not None
                and limits.cooldown_hours > 0
                and as_of < last + limits.cooldown_hours * HOUR
            ):
                frozen = "cooldown"
        today = [
            c
            for c in await applied_changes(conn, tenant, state.campaign_id, _day_start(as_of))
            if c.kind == "budget"
        ]
        day_start = float(min(today, key=lambda c: c.applied_at).before) if today else current
        bounds = act_bounds(current, limits.budget, day_start, frozen)
        lines.append(CampaignLine(state.campaign_id, state.name, current, bounds))
    return lines


def _curves(
    fits: dict[tuple[UUID, str], dict[str, Any]], ids: Sequence[UUID], metric: str
) -> list[ResponseCurve]:
    # A campaign never fitted (no metrics yet) gets the cautious curve of no data.
    return [
        curve_of(fits[(c, metric)]) if (c, metric) in fits else fit_curve([], metric)  # type: ignore[arg-type]
        for c in ids
    ]


def _explain(
    lines: Sequence[CampaignLine],
    budgets: Sequence[float],
    revenue: Sequence[ResponseCurve],
    conversions: Sequence[ResponseCurve],
    fits: dict[tuple[UUID, str], dict[str, Any]],
    allocation: Allocation,
    marginal_new: np.ndarray,
    settled: float | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each campaign's new budget with the numbers behind it, and what it should earn."""
    explanations = []
    expected = []
    for i, line in enumerate(lines):
        rev, conv = revenue[i], conversions[i]
        predicted = {
            "revenue_old": float(rev.predict(line.budget)),
            "revenue_new": float(rev.predict(budgets[i])),
            "conversions_old": float(conv.predict(line.budget)),
            "conversions_new": float(conv.predict(budgets[i])),
        }
        low, high = rev.interval(budgets[i], LEVEL)
        predicted |= {"revenue_new_low": low, "revenue_new_high": high}
        m_old, m_new = float(allocation.marginal_old[i]), float(marginal_new[i])
        explanations.append(
            {
                "campaign_id": str(line.campaign_id),
                "name": line.name,
                "old_budget": line.budget,
                "new_budget": budgets[i],
                "marginal_roas_old": m_old,
                "marginal_roas_new": m_new,
                "bound_by": allocation.bound_by[i],
                "floor": line.bounds.floor,
                "cap": line.bounds.cap,
                "predicted": predicted,
                "curve": {
                    "revenue": curve_summary(fits.get((line.campaign_id, "revenue"))),
                    "conversions": curve_summary(fits.get((line.campaign_id, "conversions"))),
                    "limits": {"floor_by": line.bounds.floor_by, "cap_by": line.bounds.cap_by},
                },
                "reason": reason_for(
                    line.budget,
                    budgets[i],
                    m_old,
                    m_new,
                    allocation.bound_by[i],
                    line.bounds,
                    settled,
                ),
            }
        )
        old_revenue = predicted["revenue_old"]
        expected.append(
            {
                "metric": "revenue",
                "expected_change": (predicted["revenue_new"] - old_revenue) / old_revenue
                if old_revenue > 0
                else 0.0,
                "interval": {"low": low, "high": high, "level": LEVEL},
                "horizon_hours": 24,
                "source": "curve",
                "marginal_roas": {"old": m_old, "new": m_new},
            }
        )
    return explanations, expected


def _predicted_pool(
    current: np.ndarray, new: np.ndarray, conversions: CurveSet, revenue: CurveSet
) -> dict[str, dict[str, float]]:
    """The pool's conversions and revenue before and after, with the interval after."""
    predicted_pool = {}
    for metric, curve_set in (("conversions", conversions), ("revenue", revenue)):
        before = predict_pool(current, curve_set, level=LEVEL, rng=np.random.default_rng(0))
        after = predict_pool(new, curve_set, level=LEVEL, rng=np.random.default_rng(0))
        predicted_pool[metric] = {
            "old": before.expected,
            "new": after.expected,
            "low": after.low,
            "high": after.high,
            "level": LEVEL,
        }
    return predicted_pool


async def compute(
    runtime: ServiceRuntime,
    tenant: UUID,
    pool: dict[str, Any],
    rng: np.random.Generator | None = None,
) -> Computed:
    """Work out the pool's reallocation now. Raises ``ConnectorError`` when the platform
    cannot be asked, :class:`PoolUnusable` when it does not know a campaign."""
    connector = await connector_for(runtime, tenant)
    observed = await read_account(connector, tenant)
    snapshot = observed.snapshot
    ids: list[UUID] = list(pool["campaign_ids"])
    try:
        states = [snapshot.campaign(c) for c in ids]
    except UnknownCampaign as exc:
        raise PoolUnusable(f"the ad platform does not know {exc}") from exc
    fits = await refresh_curves(runtime, tenant, ids)
    async with runtime.tenant_tx(tenant) as conn:
        await store_observed(conn, tenant, connector.name, observed)
        policy = await tenant_policy(conn, tenant)
        newest = await newest_hour(conn, tenant)
        lines = await _lines(conn, tenant, states, snapshot.as_of, policy)
    as_of = newest + HOUR if newest is not None else snapshot.as_of
    revenue = _curves(fits, ids, "revenue")
    conversions = _curves(fits, ids, "conversions")
    revenue_set = CurveSet.from_curves(revenue)
    conversions_set = CurveSet.from_curves(conversions)
    thresholds = pool["performance_thresholds"] or {}
    current = np.array([line.budget for line in lines])
    allocation, kept = reallocation(
        float(pool["total_budget"]),
        current,
        revenue_set,
        strategy=pool["allocation_strategy"] or "performance_based",
        limits=PoolLimits(
            min_share=float(thresholds.get("min_share", 0.0)),
            max_share=float(thresholds.get("max_share", 1.0)),
            max_step=thresholds.get("max_step"),
        ),
        floors=np.array([line.bounds.floor for line in lines]),
        caps=np.array([line.bounds.cap for line in lines]),
        rng=rng,
        turn=int(pool.get("reallocation_count") or 0),
    )
    if kept.held:
        allocation = held(allocation, kept)
    budgets = rounded_budgets(allocation.budgets, lines)
    new = np.array(budgets)
    marginal_new = revenue_set.marginal(new)
    settled = pool_marginal(marginal_new, allocation.bound_by)
    explanations, expected = _explain(
        lines, budgets, revenue, conversions, fits, allocation, marginal_new, settled
    )
    if kept.held:
        note = held_note(kept.plan, GUARD_TOLERANCE)
        for explanation in explanations:
            explanation["reason"] += f"; {note}"
    predicted_pool = _predicted_pool(current, new, conversions_set, revenue_set)
    return Computed(
        as_of=as_of,
        policy=policy,
        lines=lines,
        budgets=budgets,
        explanations=explanations,
        predicted=predicted_pool,
        unallocated=float(pool["total_budget"]) - float(sum(budgets)),
        expected=expected,
    )


def plan_json(pool: dict[str, Any], computed: Computed) -> dict[str, Any]:
    """A computed reallocation as ``POST /budgets/{id}/simulate`` answers it."""
    return {
        "pool_id": pool["id"],
        "strategy": pool["allocation_strategy"] or "performance_based",
        "as_of": computed.as_of,
        "total_budget": float(pool["total_budget"]),
        "unallocated": computed.unallocated,
        "campaigns": computed.explanations,
        "predicted": computed.predicted,
    }


# --- claiming -----------------------------------------------------------------------------


async def _claim(
    runtime: ServiceRuntime,
    tenant: UUID,
    pool_id: UUID,
    trigger: str,
    scheduled_for: datetime | None,
    correlation_id: UUID,
) -> tuple[dict[str, Any], UUID] | None:
    """Lease the pool and record a running reallocation; None when the pool is leased by
    another run (or, for a scheduled run, is not due or is switched off)."""
    async with runtime.tenant_tx(tenant) as conn:
        row = await conn.fetchrow(
            f"""UPDATE ai_budget_management
                SET claimed_until = clock_timestamp() + make_interval(secs => $3)
                WHERE tenant_id = $1 AND id = $2
                  AND (claimed_until IS NULL OR claimed_until < clock_timestamp())
                  AND ($4::timestamptz IS NULL OR (is_active AND (
                       next_reallocation_at IS NULL OR next_reallocation_at <= $4)))
                RETURNING {BUDGET_POOLS.select_list}""",
            tenant,
            pool_id,
            LEASE_SECONDS,
            scheduled_for,
        )
        if row is None:
            return None
        pool = dict(row)
        await conn.execute(
            """UPDATE budget_reallocations
               SET status = 'failed', finished_at = clock_timestamp(),
                   error = 'abandoned: the replica running it stopped before it finished'
               WHERE tenant_id = $1 AND pool_id = $2 AND status = 'running'""",
            tenant,
            pool_id,
        )
        realloc_id = await conn.fetchval(
            # The moment of the claim, not of the transaction's start: a claim that waited
            # for the previous run's lock starts after that run finished.
            """INSERT INTO budget_reallocations (tenant_id, pool_id, trigger, strategy,
                   total_budget, as_of, correlation_id, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, clock_timestamp()) RETURNING id""",
            tenant,
            pool_id,
            trigger,
            pool["allocation_strategy"] or "performance_based",
            float(pool["total_budget"]),
            scheduled_for,
            correlation_id,
        )
        if scheduled_for is not None:
            await conn.execute(
                """UPDATE ai_budget_management SET next_reallocation_at = $3
                   WHERE tenant_id = $1 AND id = $2""",
                tenant,
                pool_id,
                next_due(pool["reallocation_frequency"] or "daily", scheduled_for),
            )
        return pool, realloc_id


# --- running ------------------------------------------------------------------------------


async def reallocate(
    runtime: ServiceRuntime,
    tenant: UUID,
    pool_id: UUID,
    *,
    trigger: str,
    scheduled_for: datetime | None = None,
    correlation_id: UUID | None = None,
) -> dict[str, Any] | None:
    """Run one reallocation of the pool; answers its row, or None when a scheduled run
    found the pool not due or claimed. Raises :class:`ReallocationRunning` when an
    on-demand run finds another one running."""
    correlation = correlation_id or uuid4()
    claimed = await _claim(runtime, tenant, pool_id, trigger, scheduled_for, correlation)
    if claimed is None:
        if scheduled_for is None:
            raise ReallocationRunning(str(pool_id))
        return None
    pool, realloc_id = claimed
    try:
        computed = await compute(runtime, tenant, pool)
        entries = await _apply(runtime, tenant, pool, realloc_id, computed, correlation)
    except (ConnectorError, PoolUnusable) as exc:
        return await _finish_failed(runtime, tenant, pool_id, realloc_id, str(exc))
    except asyncio.CancelledError:
        # Left running; the lease runs out and the next claim records it as abandoned.
        raise
    except Exception as exc:
        log.exception("reallocating pool %s failed", pool_id)
        return await _finish_failed(
            runtime, tenant, pool_id, realloc_id, f"{type(exc).__name__}: {exc}"
        )
    return await _finish(runtime, tenant, pool, realloc_id, computed, entries)


def _fixed(change: Change) -> Desire:
    return lambda _state: change


def _key(realloc_id: UUID, campaign: UUID) -> str:
    """What names one campaign's change in one reallocation: asked again, it is the same."""
    return f"reallocation:{realloc_id}:{campaign}"


async def _apply(
    runtime: ServiceRuntime,
    tenant: UUID,
    pool: dict[str, Any],
    realloc_id: UUID,
    computed: Computed,
    correlation: UUID,
) -> list[dict[str, Any]]:
    """Carry out each campaign's new budget; answers each campaign's explanation with
    what became of it (``outcome``, and the optimization or recommendation)."""
    policy = computed.policy
    entries: list[dict[str, Any]] = []
    planned: dict[int, UUID] = {}
    for i, line in enumerate(computed.lines):
        await _renew(runtime, tenant, pool["id"])
        entry = dict(computed.explanations[i])
        new = computed.budgets[i]
        entries.append(entry)
        if abs(new - line.budget) < 0.01:
            entry["outcome"] = "unchanged"
            continue
        if policy.autonomy == "observe":
            entry["outcome"] = "observe"
            entry["detail"] = "the tenant's autonomy is observe: nothing is changed"
            continue
        cause = Cause(
            "reallocation",
            realloc_id,
            key=_key(realloc_id, line.campaign_id),
            expected=computed.expected[i],
            correlation_id=correlation,
        )
        change = Change("budget", new)
        asked = {"kind": "budget", "to": new}
        async with runtime.tenant_tx(tenant) as conn:
            outcome = await act(
                conn,
                runtime,
                tenant,
                line.campaign_id,
                _fixed(change),
                cause,
                policy,
                asked,
            )
            entry["outcome"] = outcome.kind
            if outcome.detail:
                entry["detail"] = outcome.detail
            if outcome.row is not None:
                entry["optimization_id"] = str(outcome.row["id"])
                if outcome.row["status"] == "pending":
                    planned[i] = outcome.row["id"]
            if outcome.kind == "recommend":
                entry["recommendation_id"] = await _recommend(
                    conn, tenant, pool, realloc_id, line.campaign_id, outcome, cause
                )
    limit = asyncio.Semaphore(CONCURRENT_CHANGES)

    async def finish(i: int, optimization: UUID) -> None:
        async with limit:
            done = await carry_out(runtime, tenant, optimization, wait=True)
        if done is not None:
            entries[i]["outcome"] = done["status"]
            if done["status"] == "failed":
                entries[i]["detail"] = done["failure_reason"]

    await asyncio.gather(*(finish(i, o) for i, o in planned.items()))
    return entries


async def _recommend(
    conn: asyncpg.Connection,
    tenant: UUID,
    pool: dict[str, Any],
    realloc_id: UUID,
    campaign: UUID,
    outcome: Outcome,
    cause: Cause,
) -> str:
    """The held-back budget as a recommendation; one open question per campaign and pool
    (a pending one from an earlier run is answered first)."""
    values = {
        "recommendation_type": "budget_optimization",
        "target_entity_type": "campaign",
        "target_entity_id": campaign,
        "current_state": outcome.current_state,
        "recommended_changes": {
            "pool_id": str(pool["id"]),
            "pool_name": pool["budget_pool_name"],
            "reallocation_id": str(realloc_id),
            **outcome.changes,
        },
        "expected_impact": cause.expected,
        "priority_score": 6,
        "implementation_complexity": "low",
    }
    held = await hold_back(
        conn,
        tenant,
        values,
        same_question={"pool_id": str(pool["id"])},
        correlation_id=cause.correlation_id,
    )
    return str(held.id)


async def _renew(runtime: ServiceRuntime, tenant: UUID, pool_id: UUID) -> None:
    """Keep the lease while the run makes progress, so only a stopped run loses it."""
    async with runtime.tenant_tx(tenant) as conn:
        await conn.execute(
            """UPDATE ai_budget_management
               SET claimed_until = clock_timestamp() + make_interval(secs => $3)
               WHERE tenant_id = $1 AND id = $2""",
            tenant,
            pool_id,
            LEASE_SECONDS,
        )


def status_of(autonomy: str, entries: Sequence[dict[str, Any]]) -> str:
    """The run's status from its campaigns' outcomes."""
    moved = [e["outcome"] for e in entries if e["outcome"] != "unchanged"]
    if not moved:
        return "no_change"
    if autonomy == "observe":
        return "observed"
    if all(o == "applied" for o in moved):
        return "applied"
    if all(o in ("recommend", "skip") for o in moved) and "recommend" in moved:
        return "recommended"
    return "partial"


async def _finish(
    runtime: ServiceRuntime,
    tenant: UUID,
    pool: dict[str, Any],
    realloc_id: UUID,
    computed: Computed,
    entries: list[dict[str, Any]],
) -> dict[str, Any]:
    status = status_of(computed.policy.autonomy, entries)
    standing = sum(
        e["new_budget"] if e["outcome"] == "applied" else e["old_budget"] for e in entries
    )
    total = float(pool["total_budget"])
    async with runtime.tenant_tx(tenant) as conn:
        row = await conn.fetchrow(
            f"""UPDATE budget_reallocations
                SET status = $3, autonomy = $4, as_of = $5, allocated_budget = $6,
                    unallocated = $7, campaigns = $8, predicted = $9,
                    finished_at = clock_timestamp()
                WHERE tenant_id = $1 AND id = $2
                RETURNING {REALLOCATIONS.select_list}""",
            tenant,
            realloc_id,
            status,
            computed.policy.autonomy,
            computed.as_of,
            sum(computed.budgets),
            computed.unallocated,
            entries,
            computed.predicted,
        )
        assert row is not None
        await conn.execute(
            """UPDATE ai_budget_management
               SET allocated_budget = $3, remaining_budget = $4,
                   last_reallocation_at = clock_timestamp(),
                   reallocation_count = reallocation_count + 1, claimed_until = NULL,
                   updated_at = clock_timestamp()
               WHERE tenant_id = $1 AND id = $2""",
            tenant,
            pool["id"],
            round(standing, 2),
            round(total - standing, 2),
        )
        payload = {
            "pool_id": pool["id"],
            "reallocation_id": realloc_id,
            "trigger": row["trigger"],
            "strategy": row["strategy"],
            "status": status,
            "as_of": computed.as_of,
            "changes": [
                {
                    "campaign_id": e["campaign_id"],
                    "old_budget": e["old_budget"],
                    "new_budget": e["new_budget"],
                    "bound_by": e["bound_by"],
                    "outcome": e["outcome"],
                    "optimization_id": e.get("optimization_id"),
                    "recommendation_id": e.get("recommendation_id"),
                }
                for e in entries
            ],
        }
        await enqueue(
            conn,
            BUDGET_REALLOCATED.envelope(
                payload,
                tenant_id=tenant,
                source="optimizer",
                correlation_id=row["correlation_id"],
            ),
        )
        return dict(row)


async def _finish_failed(
    runtime: ServiceRuntime, tenant: UUID, pool_id: UUID, realloc_id: UUID, error: str
) -> dict[str, Any]:
    async with runtime.tenant_tx(tenant) as conn:
        row = await conn.fetchrow(
            f"""UPDATE budget_reallocations
                SET status = 'failed', error = $3, finished_at = clock_timestamp()
                WHERE tenant_id = $1 AND id = $2
                RETURNING {REALLOCATIONS.select_list}""",
            tenant,
            realloc_id,
            error[:2000],
        )
        await conn.execute(
            """UPDATE ai_budget_management SET claimed_until = NULL
               WHERE tenant_id = $1 AND id = $2""",
            tenant,
            pool_id,
        )
    assert row is not None
    return dict(row)
