"""The decision service learns: judge decisions whose horizon passed, keep scores, and
give each decision type the confidence its track record earns.

The clock is the data's: a decision made for data hour ``as_of`` with a 24-hour horizon
is judged once the service holds metrics up to ``as_of + 23h`` (the sandbox's simulated
time, or a real platform's reports). A background job looks for such decisions every
few seconds; one replica judges a tenant at a time (a transaction-scoped advisory lock),
and each decision is judged once (its row is locked and its status leaves ``pending``).

Measurement and verdict are the pure functions of services/decision/validation.py, scores
those of services/decision/calibration.py; this module only reads, calls and writes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from services.decision import calibration, validation
from shared.contracts.decision import DECISION_VALIDATED, DECISIONS, FEEDBACK
from shared.contracts.enums import DecisionType
from shared.db import scoped
from shared.metrics import HourlyMetrics
from shared.metrics_store import load_history, newest_hour
from shared.outbox import enqueue
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

SOURCE = "decision"
LEARN_LOCK_CLASS = 0x4144564C
POLL_SECONDS = 2.0
BATCH = 200
HOUR = timedelta(hours=1)
# History a measurement needs before the decision: the seasonal days and the window.
LOOKBACK = timedelta(days=validation.SEASONAL_DAYS + 2)
# A decision whose window is this far in the past and still cannot be measured (hours
# missing, a metric at zero) is marked unmeasurable instead of being tried forever.
GIVE_UP_AFTER = timedelta(hours=24)
# The track record the confidence fit looks at, most recent first.
CALIBRATION_HISTORY = 2000
PERIODS: dict[str, timedelta] = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(weeks=1),
}


# --- periods and groups (pure) ---------------------------------------------------------


def period_start(kind: str, moment: datetime) -> datetime:
    """The start of the ``kind`` period holding ``moment`` (UTC; weeks start on Monday)."""
    moment = moment.astimezone(UTC)
    hour = moment.replace(minute=0, second=0, microsecond=0)
    if kind == "hourly":
        return hour
    day = hour.replace(hour=0)
    if kind == "daily":
        return day
    if kind == "weekly":
        return day - timedelta(days=day.weekday())
    raise ValueError(f"unknown period {kind!r}")


@dataclass(frozen=True, slots=True)
class Scored:
    """One judged decision, or one person's verdict on one, as the scores see it."""

    decision_type: str
    model_version: str
    outcome: calibration.Outcome


Group = tuple[str | None, str | None, str]  # decision type, model version, cohort


def groups(items: Sequence[Scored]) -> dict[Group, list[calibration.Outcome]]:
    """The groups scored in a period: everything; applied and never-applied apart; each
    decision type; each model version."""
    out: dict[Group, list[calibration.Outcome]] = defaultdict(list)
    for item in items:
        cohort = "applied" if item.outcome.applied else "not_applied"
        out[(None, None, "all")].append(item.outcome)
        out[(None, None, cohort)].append(item.outcome)
        out[(item.decision_type, None, "all")].append(item.outcome)
        out[(None, item.model_version, "all")].append(item.outcome)
    return dict(out)


# --- validation ---------------------------------------------------------------------------


async def _forecast(
    conn: asyncpg.Connection, tenant: UUID, campaign: UUID, start: datetime, end: datetime
) -> validation.ForecastCopy | None:
    """The campaign's forecast covering ``[start, end)``: the one starting last but not
    after ``start`` (made closest to the decision, so it has not seen the decision's
    effect)."""
    row = await conn.fetchrow(
        """SELECT period_start, period_end, predicted, model_version FROM campaign_forecasts
           WHERE tenant_id = $1 AND campaign_id = $2 AND period_start <= $3
             AND period_end >= $4
           ORDER BY period_start DESC, received_at DESC LIMIT 1""",
        tenant,
        campaign,
        start,
        end,
    )
    if row is None or not isinstance(row["predicted"], dict):
        return None
    return validation.ForecastCopy(
        row["period_start"], row["period_end"], row["predicted"], row["model_version"]
    )


def _campaign(decision: Mapping[str, Any]) -> UUID | None:
    context = decision.get("context_data")
    raw = context.get("campaign_id") if isinstance(context, dict) else None
    try:
        return UUID(str(raw)) if raw else None
    except ValueError:
        return None


async def validate_due(conn: asyncpg.Connection, tenant: UUID) -> list[dict[str, Any]]:
    """Judge the tenant's decisions whose horizon has passed; returns the judged rows."""
    now_hour = await newest_hour(conn, tenant)
    if now_hour is None:
        return []
    due = await conn.fetch(
        f"""SELECT {DECISIONS.select_list}, as_of FROM ai_decision_logs
            WHERE tenant_id = $1 AND validation_status = 'pending' AND actual_impact IS NULL
              AND as_of IS NOT NULL
              AND jsonb_typeof(impact_prediction -> 'horizon_hours') = 'number'
              AND as_of + make_interval(hours => (impact_prediction ->> 'horizon_hours')::int)
                  <= $2::timestamptz + interval '1 hour'
            ORDER BY as_of, id LIMIT {BATCH} FOR UPDATE SKIP LOCKED""",
        tenant,
        now_hour,
    )
    if not due:
        return []
    by_campaign: dict[UUID, list[asyncpg.Record]] = defaultdict(list)
    for row in due:
        campaign = _campaign(row)
        if campaign is not None:
            by_campaign[campaign].append(row)
    history = await load_history(
        conn, tenant, list(by_campaign), min(r["as_of"] for r in due) - LOOKBACK, now_hour
    )
    rows_of: dict[UUID, list[HourlyMetrics]] = defaultdict(list)
    for metric_row in history:
        rows_of[metric_row.campaign_id].append(metric_row)

    judged = []
    for row in due:
        result = await _judge_one(conn, tenant, row, rows_of, now_hour)
        if result is not None:
            judged.append(result)
    return judged


async def _judge_one(
    conn: asyncpg.Connection,
    tenant: UUID,
    row: asyncpg.Record,
    rows_of: Mapping[UUID, list[HourlyMetrics]],
    now_hour: datetime,
) -> dict[str, Any] | None:
    decision = dict(row)
    as_of: datetime = decision.pop("as_of")
    prediction = decision["impact_prediction"]
    campaign = _campaign(decision)
    horizon = int(prediction["horizon_hours"])
    metric = str(prediction.get("metric"))
    measured = None
    if campaign is not None and "expected_change" in prediction:
        forecast = await _forecast(conn, tenant, campaign, as_of, as_of + horizon * HOUR)
        measured = validation.measure(rows_of.get(campaign, []), metric, as_of, horizon, forecast)
    if measured is None:
        if now_hour + HOUR < as_of + horizon * HOUR + GIVE_UP_AFTER:
            return None  # hours may still arrive
        await conn.execute(
            """UPDATE ai_decision_logs SET actual_impact = $2 WHERE id = $1""",
            decision["id"],
            {
                "measurable": False,
                "reason": f"no complete, non-zero {metric} for the window and its baseline",
            },
        )
        return None
    applied = validation.is_applied(decision.get("outcome"))
    verdict = validation.judge(prediction, measured, applied)
    actual = {
        **measured.as_json(),
        "measurable": True,
        "applied": applied,
        "judged_effect": round(verdict.judged_effect, 6),
        "error": round(verdict.error, 6),
        "sign_ok": verdict.sign_ok,
        "in_interval": verdict.in_interval,
        "reason": verdict.reason,
        "judged_at_hour": (now_hour + HOUR).isoformat(),
    }
    updated = await conn.fetchrow(
        f"""UPDATE ai_decision_logs SET actual_impact = $2, validation_status = $3,
                validated_at = clock_timestamp()
            WHERE id = $1 RETURNING {DECISIONS.select_list}""",
        decision["id"],
        actual,
        verdict.status,
    )
    assert updated is not None
    await conn.execute(
        f"""INSERT INTO {FEEDBACK.table} (tenant_id, decision_id, feedback_type, feedback_value,
                learning_weight, integration_status)
            VALUES ($1, $2, 'outcome_validation', $3, 1.0, 'integrated')""",
        tenant,
        decision["id"],
        {
            "status": verdict.status,
            "correct": verdict.status == validation.VALIDATED,
            "applied": applied,
            "reason": verdict.reason,
            "metric": metric,
            "effect": actual["effect"],
            "judged_effect": actual["judged_effect"],
            "expected_change": prediction.get("expected_change"),
            "interval": prediction.get("interval"),
        },
    )
    payload = {**updated, "campaign_id": campaign, "reason": verdict.reason}
    await enqueue(
        conn,
        DECISION_VALIDATED.envelope(
            payload,
            tenant_id=tenant,
            correlation_id=decision.get("cycle_id") or decision["id"],
            source=SOURCE,
        ),
    )
    return {**dict(updated), "as_of": as_of}


# --- scores ---------------------------------------------------------------------------------


def _period_length(kind: str) -> timedelta:
    return PERIODS[kind]


async def _scored_in(
    conn: asyncpg.Connection, tenant: UUID, start: datetime, end: datetime
) -> list[Scored]:
    """The judged decisions made for ``[start, end)`` and people's verdicts on any
    decision of that time."""
    rows = await conn.fetch(
        f"""SELECT d.decision_type, coalesce(d.context_data -> 'model' ->> 'version', 'manual')
                      AS model_version,
                  d.confidence_score, d.outcome, d.actual_impact,
                  d.validation_status = 'validated' AS correct, 1.0::float8 AS weight,
                  false AS correction
           FROM ai_decision_logs d
           WHERE d.tenant_id = $1 AND d.validation_status IN ('validated', 'incorrect')
             AND coalesce(d.as_of, d.created_at) >= $2 AND coalesce(d.as_of, d.created_at) < $3
           UNION ALL
           SELECT d.decision_type, coalesce(d.context_data -> 'model' ->> 'version', 'manual'),
                  d.confidence_score, d.outcome, d.actual_impact,
                  {_CORRECTION_SAYS_RIGHT}, f.learning_weight::float8, true
           FROM ai_learning_feedback f JOIN ai_decision_logs d ON d.id = f.decision_id
           WHERE f.tenant_id = $1 AND f.feedback_type = 'user_correction'
             AND coalesce(d.as_of, d.created_at) >= $2 AND coalesce(d.as_of, d.created_at) < $3""",
        tenant,
        start,
        end,
    )
    items = []
    for r in rows:
        if r["confidence_score"] is None:
            continue
        actual = r["actual_impact"] if isinstance(r["actual_impact"], dict) else {}
        profit = actual.get("profit_effect") if not r["correction"] else None
        items.append(
            Scored(
                r["decision_type"],
                r["model_version"],
                calibration.Outcome(
                    confidence=min(1.0, max(0.0, float(r["confidence_score"]) / 100.0)),
                    correct=bool(r["correct"]),
                    weight=float(r["weight"]),
                    applied=bool(actual.get("applied", validation.is_applied(r["outcome"]))),
                    profit_effect=float(profit) if isinstance(profit, int | float) else None,
                ),
            )
        )
    return items


async def refresh_scores(
    conn: asyncpg.Connection, tenant: UUID, moments: Iterable[datetime]
) -> int:
    """Recompute every score of each period holding one of ``moments``; returns rows written.

    A decision type's rows also name the calibrator its track record earns now, which
    the next cycle uses."""
    fits = await type_calibration(conn, tenant)
    written = 0
    for kind in PERIODS:
        for start in sorted({period_start(kind, m) for m in moments}):
            written += await _refresh_period(conn, tenant, kind, start, fits)
    return written


async def _refresh_period(
    conn: asyncpg.Connection,
    tenant: UUID,
    kind: str,
    start: datetime,
    fits: Mapping[str, calibration.Fit],
) -> int:
    length = _period_length(kind)
    items = await _scored_in(conn, tenant, start, start + length)
    previous = {
        (r["metric_type"], r["decision_type"], r["model_version"], r["cohort"]): r["score_value"]
        # The latest earlier period with a score for the group: decisions are sparse, and
        # a period without any says nothing about the trend.
        for r in await conn.fetch(
            """SELECT DISTINCT ON (metric_type, decision_type, model_version, cohort)
                      metric_type, decision_type, model_version, cohort, score_value
               FROM ai_performance_scores
               WHERE tenant_id = $1 AND measurement_period = $2 AND period_start < $3
               ORDER BY metric_type, decision_type, model_version, cohort, period_start DESC""",
            tenant,
            kind,
            start,
        )
    }
    records = []
    for (decision_type, model_version, cohort), outcomes in groups(items).items():
        scores = calibration.score(outcomes)
        weight = sum(o.weight for o in outcomes)
        for metric, value in scores.items():
            if value is None:
                continue
            before = previous.get((metric, decision_type, model_version, cohort))
            details: dict[str, Any] = {"entries": len(outcomes)}
            if metric == "ece":
                details["reliability"] = [b.as_json() for b in calibration.reliability(outcomes)]
            fit = fits.get(decision_type) if decision_type and model_version is None else None
            records.append(
                (
                    tenant,
                    metric,
                    float(value),
                    kind,
                    {
                        "decision_type": decision_type,
                        "model_version": model_version,
                        "cohort": cohort,
                        "period_start": start.isoformat(),
                    },
                    before,
                    calibration.trend(metric, value, before),
                    start,
                    decision_type,
                    model_version,
                    cohort,
                    weight,
                    details,
                    None if fit is None else fit.kind.value,
                    None if fit is None else fit.outcomes,
                )
            )
    await conn.executemany(
        """INSERT INTO ai_performance_scores (tenant_id, metric_type, score_value,
               measurement_period, context_filters, benchmark_comparison, trend_direction,
               period_start, decision_type, model_version, cohort, sample_size, details,
               calibrator, calibrator_outcomes, calculated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, now())
           ON CONFLICT (tenant_id, metric_type, measurement_period, period_start,
                        coalesce(decision_type, ''), coalesce(model_version, ''),
                        coalesce(cohort, ''))
               WHERE period_start IS NOT NULL
           DO UPDATE SET score_value = EXCLUDED.score_value,
               context_filters = EXCLUDED.context_filters,
               benchmark_comparison = EXCLUDED.benchmark_comparison,
               trend_direction = EXCLUDED.trend_direction,
               sample_size = EXCLUDED.sample_size, details = EXCLUDED.details,
               calibrator = EXCLUDED.calibrator,
               calibrator_outcomes = EXCLUDED.calibrator_outcomes,
               calculated_at = now()""",
        records,
    )
    return len(records)


# --- confidence that learns -------------------------------------------------------------


async def type_calibration(conn: asyncpg.Connection, tenant: UUID) -> dict[str, calibration.Fit]:
    """Per decision type, the calibrator its recent track record earns (the platform's
    verdicts and people's weighted corrections; see calibration.fit_type). Only judged
    decisions count, and every call refits, so the fits follow the record as it grows
    (weighing its newest verdicts most); a type without verdicts gets the prior."""
    rows = await conn.fetch(
        f"""SELECT decision_type, evidence, correct, weight, rule FROM (
                SELECT d.decision_type, {_EVIDENCE} AS evidence,
                       d.validation_status = 'validated' AS correct, 1.0::float8 AS weight,
                       coalesce(d.context_data ->> 'rule', '') AS rule,
                       coalesce(d.as_of, d.created_at) AS at
                FROM ai_decision_logs d
                WHERE d.tenant_id = $1 AND d.validation_status IN ('validated', 'incorrect')
                UNION ALL
                SELECT d.decision_type, {_EVIDENCE}, {_CORRECTION_SAYS_RIGHT},
                       f.learning_weight::float8, coalesce(d.context_data ->> 'rule', ''),
                       coalesce(d.as_of, d.created_at)
                FROM ai_learning_feedback f JOIN ai_decision_logs d ON d.id = f.decision_id
                WHERE f.tenant_id = $1 AND f.feedback_type = 'user_correction'
            ) AS judged
            WHERE evidence IS NOT NULL
            ORDER BY at DESC LIMIT {CALIBRATION_HISTORY}""",
        tenant,
    )
    history: dict[str, list[calibration.Judged]] = defaultdict(list)
    # Oldest first, as fit_type weighs the newest verdicts most.
    for r in reversed(rows):
        history[r["decision_type"]].append(
            calibration.Judged(
                float(r["evidence"]), bool(r["correct"]), float(r["weight"]), r["rule"]
            )
        )
    return {kind: calibration.fit_type(history[kind]) for kind in DecisionType}


# The rule's evidence the decision was made on; a decision logged by hand has only its
# confidence.
# A person's correction says whether the decision was right; one that does not say is a
# correction, so it says the decision was wrong.
_CORRECTION_SAYS_RIGHT = """coalesce(
    CASE WHEN jsonb_typeof(f.feedback_value -> 'correct') = 'boolean'
    THEN (f.feedback_value ->> 'correct')::boolean END, false)"""
_EVIDENCE = """CASE WHEN jsonb_typeof(d.context_data -> 'evidence') = 'number'
                    THEN least(1.0, greatest(0.0, (d.context_data ->> 'evidence')::float8))
                    ELSE d.confidence_score::float8 / 100 END"""


# --- the job ------------------------------------------------------------------------------


async def learn_once(pool: asyncpg.Pool) -> int:
    """Judge every tenant's due decisions and refresh the scores they fall in."""
    async with scoped(pool, system=True) as conn:
        tenants = [
            r["tenant_id"]
            for r in await conn.fetch(
                """SELECT DISTINCT tenant_id FROM ai_decision_logs
                   WHERE validation_status = 'pending' AND actual_impact IS NULL
                     AND as_of IS NOT NULL"""
            )
        ]
    judged = 0
    for tenant in tenants:
        try:
            async with scoped(pool, tenant) as conn:
                if not await conn.fetchval(
                    "SELECT pg_try_advisory_xact_lock($1, hashtext($2))",
                    LEARN_LOCK_CLASS,
                    str(tenant),
                ):
                    continue
                done = await validate_due(conn, tenant)
                if done:
                    await refresh_scores(conn, tenant, [d["as_of"] for d in done])
                judged += len(done)
        except Exception:
            # One tenant's bad row must not stop everyone else's learning.
            log.exception("validation failed", extra={"tenant_id": str(tenant)})
    return judged


async def run_learning(runtime: ServiceRuntime) -> None:
    """Background job: judge decisions as (simulated or real) time passes."""
    while True:
        await learn_once(runtime.db)
        await asyncio.sleep(POLL_SECONDS)
