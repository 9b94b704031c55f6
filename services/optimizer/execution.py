"""Carrying a change out on the ad platform: plan it, then make it, and record both.

A change goes through two transactions:

1. **Plan** (:func:`plan`), under a lock on the campaign: read the campaign from the
   platform, pass the desired change through the safety limits, and, when it may be
   applied, write an ``ai_optimization_history`` row in status ``pending`` with the change
   id the platform will know it by. The partial unique index on pending rows keeps one
   change per campaign in flight, whichever replica planned it, so two replicas never
   apply conflicting changes.
2. **Carry out** (:func:`carry_out`), holding the pending row locked: send the change,
   then mark the row ``applied`` (with the platform's view of the campaign) or ``failed``
   (with the reason), and emit the event, in one transaction.

A crash between the two leaves a pending row; :func:`carry_out` finishes it later with the
same change id, which the platform applies once. Nothing is marked applied that the
platform did not confirm.

Change ids are derived from what asked for the change (:func:`change_id_for`): a decision
delivered twice, or a rule firing twice for one hour, asks for the same change id, finds
the row already there and plans nothing new.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any
from uuid import UUID, uuid4, uuid5

import asyncpg

from services.optimizer.applied import AppliedChange
from services.optimizer.campaigns import state_json, store_snapshot, store_states
from services.optimizer.limits import Apply, Refusal, SafetyLimits, Verdict, clamp
from services.optimizer.platform import CORRELATION, connector_of
from services.optimizer.rules import NoAction
from shared.connectors import (
    AccountSnapshot,
    AdPlatformConnector,
    CampaignState,
    Change,
    ChangeRefused,
    ConnectorError,
    PlatformUnavailable,
    UnknownAccount,
    UnknownCampaign,
)
from shared.contracts.enums import RefusalReason
from shared.contracts.optimizer import (
    OPTIMIZATION_APPLIED,
    OPTIMIZATION_FAILED,
    OPTIMIZATION_HISTORY,
    OPTIMIZATION_ROLLED_BACK,
    RECOMMENDATIONS,
    CauseKind,
)
from shared.contracts.spec import EventType
from shared.events import Envelope
from shared.outbox import enqueue
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

_CHANGE_IDS = UUID("2d6f5c1e-8a53-4a8e-9c1f-5b0e4f7d2a61")
PENDING_CHANNEL = "optimizer_pending"

OPTIMIZATION_TYPE = {
    "budget": "budget_change",
    "bid": "bid_change",
    "status": "status_change",
    "audience": "audience_change",
}


def change_id_for(tenant_id: UUID, key: str) -> UUID:
    """The change id for what ``key`` names (``decision:<id>``, ``rule:<id>:...``)."""
    return uuid5(_CHANGE_IDS, f"{tenant_id}:{key}")


@dataclass(frozen=True, slots=True)
class Cause:
    """What asks for a change, and how sure it is.

    ``key`` names the request: asking again with the same key is the same change.
    ``by_person`` is a person's approval: it stands in for the confidence gate and the
    cooldown, which exist to hold back the machine; floor, ceiling, step and daily cap
    still hold.
    """

    kind: CauseKind
    id: UUID
    key: str
    confidence: float = 100.0
    expected: dict[str, Any] | None = None
    decision_id: UUID | None = None
    rule_id: UUID | None = None
    recommendation_id: UUID | None = None
    rollback_of: UUID | None = None
    by_person: bool = False
    correlation_id: UUID | None = None


Desire = Callable[[CampaignState], Change | NoAction]


@dataclass(frozen=True, slots=True)
class Planned:
    """A change recorded as pending (or found already recorded: ``repeat``)."""

    row: dict[str, Any]
    repeat: bool = False


@dataclass(frozen=True, slots=True)
class Held:
    """Not planned: the limits' refusal, or why the change cannot be made at all.

    ``desired`` is the change asked for, when one could be worked out.
    """

    refusal: Refusal
    state: CampaignState | None = None
    desired: Change | None = None


@dataclass(frozen=True, slots=True)
class Unreachable:
    """The platform could not be asked about the campaign. ``row`` records the failure
    when a change was to be applied; a proposal records nothing."""

    reason: str
    row: dict[str, Any] | None = None


PlanOutcome = Planned | Held | Unreachable


@dataclass(frozen=True, slots=True)
class Proposal:
    """What the limits would allow now: the verdict on the campaign as it stands."""

    verdict: Verdict
    state: CampaignState
    desired: Change
    as_of: datetime


async def lock_campaign(conn: asyncpg.Connection, tenant_id: UUID, campaign_id: UUID) -> None:
    """Serialise planning on one campaign across replicas until the transaction ends."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{tenant_id}:{campaign_id}"
    )


def applied_change_of(
    row: asyncpg.Record | dict[str, Any], clock: str = "effective_from"
) -> AppliedChange:
    """A history row as the limits and rollback planning see it, named by its id.

    ``clock`` picks the time it is placed at: ``effective_from`` (the platform's hour, for
    cooldowns and daily caps) or ``applied_at`` (when it was confirmed, which orders
    changes made within one platform hour).
    """
    return AppliedChange(
        change_id=row["id"],
        entity_id=row["target_entity_id"],
        kind=row["setting"],
        before=row["value_before"],
        after=row["value_after"],
        applied_at=row[clock],
        rollback_of=row["rollback_of"],
    )


async def applied_since(
    conn: asyncpg.Connection, tenant_id: UUID, campaign_id: UUID, since: datetime
) -> list[AppliedChange]:
    """Changes applied to the campaign that took effect from ``since`` on, oldest first."""
    rows = await conn.fetch(
        """SELECT id, target_entity_id, setting, value_before, value_after, effective_from,
                  rollback_of
           FROM ai_optimization_history
           WHERE tenant_id = $1 AND target_entity_id = $2 AND status = 'applied'
             AND effective_from >= $3
           ORDER BY effective_from, applied_at""",
        tenant_id,
        campaign_id,
        since,
    )
    return [applied_change_of(r) for r in rows]


async def applied_after(
    conn: asyncpg.Connection, tenant_id: UUID, campaign_id: UUID, since: datetime
) -> list[AppliedChange]:
    """Changes applied to the campaign confirmed at ``since`` or later, in that order."""
    rows = await conn.fetch(
        """SELECT id, target_entity_id, setting, value_before, value_after, applied_at,
                  rollback_of
           FROM ai_optimization_history
           WHERE tenant_id = $1 AND target_entity_id = $2 AND status = 'applied'
             AND applied_at >= $3
           ORDER BY applied_at""",
        tenant_id,
        campaign_id,
        since,
    )
    return [applied_change_of(r, "applied_at") for r in rows]


async def last_change_at(
    conn: asyncpg.Connection, tenant_id: UUID, campaign_id: UUID
) -> datetime | None:
    moment: datetime | None = await conn.fetchval(
        """SELECT max(effective_from) FROM ai_optimization_history
           WHERE tenant_id = $1 AND target_entity_id = $2 AND status = 'applied'""",
        tenant_id,
        campaign_id,
    )
    return moment


def _day_start(moment: datetime) -> datetime:
    return datetime.combine(moment.astimezone(UTC).date(), time(), tzinfo=UTC)


async def propose(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    state: CampaignState,
    as_of: datetime,
    desired: Change,
    cause: Cause,
    limits: SafetyLimits,
) -> Proposal:
    """The limits' verdict on ``desired`` for the campaign in ``state`` at ``as_of``."""
    history = await applied_since(conn, tenant_id, state.campaign_id, _day_start(as_of))
    last = None if cause.by_person else await last_change_at(conn, tenant_id, state.campaign_id)
    confidence = 100.0 if cause.by_person else cause.confidence
    verdict = clamp(desired, state, history, last, confidence, limits, as_of)
    return Proposal(verdict, state, desired, as_of)


async def snapshot_of(
    conn: asyncpg.Connection, tenant_id: UUID, connector: AdPlatformConnector
) -> AccountSnapshot:
    """The account as the platform holds it now; the stored view is refreshed from it."""
    snapshot = await connector.list_campaigns(tenant_id)
    await store_snapshot(conn, tenant_id, connector.name, snapshot)
    return snapshot


async def plan(
    conn: asyncpg.Connection,
    runtime: ServiceRuntime,
    tenant_id: UUID,
    campaign_id: UUID,
    desire: Desire,
    cause: Cause,
    limits: SafetyLimits,
    *,
    apply: bool = True,
) -> PlanOutcome | Proposal:
    """Plan the change ``desire`` asks for on the campaign, within ``limits``.

    With ``apply`` the change, if the limits let it through, is recorded as pending and a
    notification wakes the executor once the transaction commits. Without it, the
    :class:`Proposal` is returned for the caller to turn into a recommendation.
    """
    connector = connector_of(runtime)
    await lock_campaign(conn, tenant_id, campaign_id)
    change_id = change_id_for(tenant_id, cause.key)
    existing = await conn.fetchrow(
        f"SELECT {OPTIMIZATION_HISTORY.select_list} FROM ai_optimization_history "
        "WHERE change_id = $1",
        change_id,
    )
    if existing is not None:
        return Planned(dict(existing), repeat=True)
    in_flight = await conn.fetchval(
        """SELECT id FROM ai_optimization_history
           WHERE tenant_id = $1 AND target_entity_id = $2 AND status = 'pending'""",
        tenant_id,
        campaign_id,
    )
    if in_flight is not None:
        return Held(
            Refusal(
                RefusalReason.IN_FLIGHT,
                f"optimization {in_flight} on this campaign is being carried out",
            )
        )
    token = CORRELATION.set(cause.correlation_id)
    try:
        snapshot = await snapshot_of(conn, tenant_id, connector)
    except (PlatformUnavailable, UnknownAccount) as exc:
        if not apply:
            return Unreachable(str(exc))
        row = await record_unreachable(conn, tenant_id, campaign_id, cause, change_id, exc)
        return Unreachable(str(row["failure_reason"]), row)
    finally:
        CORRELATION.reset(token)
    try:
        state = snapshot.campaign(campaign_id)
    except UnknownCampaign as exc:
        return Held(Refusal(RefusalReason.INVALID_INPUT, str(exc)))
    desired = desire(state)
    if isinstance(desired, NoAction):
        return Held(Refusal(RefusalReason.INVALID_INPUT, desired.reason), state)
    proposal = await propose(conn, tenant_id, state, snapshot.as_of, desired, cause, limits)
    if not apply:
        return proposal
    if isinstance(proposal.verdict, Refusal):
        return Held(proposal.verdict, state, desired)
    row = await insert_pending(
        conn, tenant_id, proposal.verdict, state, snapshot.as_of, cause, change_id, connector.name
    )
    return Planned(row)


async def insert_pending(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    verdict: Apply,
    state: CampaignState,
    as_of: datetime,
    cause: Cause,
    change_id: UUID,
    connector: str,
) -> dict[str, Any]:
    change = verdict.change
    after = state.with_change(change)
    row = await conn.fetchrow(
        f"""INSERT INTO ai_optimization_history (
                tenant_id, target_entity_type, target_entity_id, optimization_type, status,
                setting, value_before, value_after, before_state, after_state,
                expected_improvement, rollback_data, change_id, connector, cause_type,
                cause_id, decision_id, rule_id, recommendation_id, rollback_of, clamps,
                planned_for, correlation_id)
            VALUES ($1, 'campaign', $2, $3, 'pending', $4, $5, $6, $7, $8, $9, $10, $11, $12,
                    $13, $14, $15, $16, $17, $18, $19, $20, $21)
            RETURNING {OPTIMIZATION_HISTORY.select_list}""",
        tenant_id,
        state.campaign_id,
        OPTIMIZATION_TYPE[change.kind],
        change.kind,
        verdict.before,
        change.value,
        state_json(state),
        state_json(after),
        cause.expected,
        {
            "setting": change.kind,
            "restore": verdict.before,
            "requested": verdict.requested,
            "route": "POST /api/ai/optimizations/{id}/rollback",
        },
        change_id,
        connector,
        cause.kind,
        cause.id,
        cause.decision_id,
        cause.rule_id,
        cause.recommendation_id,
        cause.rollback_of,
        [c.as_dict() for c in verdict.clamps],
        as_of,
        cause.correlation_id,
    )
    assert row is not None
    await conn.execute("SELECT pg_notify($1, $2)", PENDING_CHANNEL, f"{tenant_id}:{row['id']}")
    return dict(row)


async def record_unreachable(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    campaign_id: UUID,
    cause: Cause,
    change_id: UUID,
    exc: ConnectorError,
) -> dict[str, Any]:
    """A change that could not even be planned because the platform did not answer."""
    code = "unknown_account" if isinstance(exc, UnknownAccount) else "platform_unavailable"
    row = await conn.fetchrow(
        f"""INSERT INTO ai_optimization_history (
                tenant_id, target_entity_type, target_entity_id, optimization_type, status,
                before_state, after_state, expected_improvement, change_id, cause_type,
                cause_id, decision_id, rule_id, recommendation_id, rollback_of,
                failure_code, failure_reason, correlation_id)
            VALUES ($1, 'campaign', $2, 'change', 'failed', '{{}}', '{{}}', $3, $4, $5, $6,
                    $7, $8, $9, $10, $11, $12, $13)
            RETURNING {OPTIMIZATION_HISTORY.select_list}""",
        tenant_id,
        campaign_id,
        cause.expected,
        change_id,
        cause.kind,
        cause.id,
        cause.decision_id,
        cause.rule_id,
        cause.recommendation_id,
        cause.rollback_of,
        code,
        f"the ad platform could not be asked about the campaign: {exc}",
        cause.correlation_id,
    )
    assert row is not None
    failed = dict(row)
    await enqueue(conn, _event(OPTIMIZATION_FAILED, failed, tenant_id))
    return failed


def _event(event_type: EventType[Any], row: dict[str, Any], tenant_id: UUID) -> Envelope:
    """An optimization's event, in the conversation of what asked for the change."""
    return event_type.envelope(
        row,
        tenant_id=tenant_id,
        source="optimizer",
        correlation_id=row.get("correlation_id") or uuid4(),
    )


# --- carrying out -----------------------------------------------------------------------


async def carry_out(
    runtime: ServiceRuntime, tenant_id: UUID, optimization_id: UUID, *, wait: bool = True
) -> dict[str, Any] | None:
    """Send a pending change to the platform and record the outcome.

    With ``wait`` a change another worker is carrying out is waited for; without it, it
    is left to that worker (``None``). Answers the row as it ends.
    """
    connector = connector_of(runtime)
    async with runtime.tenant_tx(tenant_id) as conn:
        row = await conn.fetchrow(
            f"""SELECT {OPTIMIZATION_HISTORY.select_list} FROM ai_optimization_history
                WHERE tenant_id = $1 AND id = $2
                FOR UPDATE{"" if wait else " SKIP LOCKED"}""",
            tenant_id,
            optimization_id,
        )
        if row is None:
            return None
        if row["status"] != "pending":
            return dict(row)
        change = Change(row["setting"], row["value_after"])
        token = CORRELATION.set(row["correlation_id"])
        try:
            receipt = await connector.apply_change(
                tenant_id, row["target_entity_id"], change, row["change_id"]
            )
        except (ChangeRefused, UnknownAccount, PlatformUnavailable) as exc:
            code, reason = _failure(exc)
            return await _finish_failed(conn, tenant_id, dict(row), code, reason)
        finally:
            CORRELATION.reset(token)
        await store_states(
            conn, tenant_id, connector.name, [receipt.campaign], receipt.effective_from
        )
        updated = await conn.fetchrow(
            f"""UPDATE ai_optimization_history
                SET status = 'applied', after_state = $3, value_after = $4,
                    effective_from = $5, applied_at = clock_timestamp(),
                    updated_at = clock_timestamp()
                WHERE tenant_id = $1 AND id = $2
                RETURNING {OPTIMIZATION_HISTORY.select_list}""",
            tenant_id,
            optimization_id,
            state_json(receipt.campaign),
            change.value,
            receipt.effective_from,
        )
        assert updated is not None
        applied = dict(updated)
        if applied["rollback_of"] is not None:
            await conn.execute(
                """UPDATE ai_optimization_history
                   SET rolled_back_by = $3, updated_at = clock_timestamp()
                   WHERE tenant_id = $1 AND id = $2""",
                tenant_id,
                applied["rollback_of"],
                optimization_id,
            )
            await enqueue(conn, _event(OPTIMIZATION_ROLLED_BACK, applied, tenant_id))
        else:
            await enqueue(conn, _event(OPTIMIZATION_APPLIED, applied, tenant_id))
        await _settle_recommendation(conn, tenant_id, applied)
        if applied["rule_id"] is not None:
            await refresh_rule_stats(conn, tenant_id, applied["rule_id"])
        return applied


def _failure(exc: ConnectorError) -> tuple[str, str]:
    if isinstance(exc, ChangeRefused):
        return exc.code, f"the ad platform refused the change: {exc.message}"
    if isinstance(exc, UnknownAccount):
        return "unknown_account", str(exc)
    return "platform_unavailable", f"the ad platform could not be reached: {exc}"


async def _finish_failed(
    conn: asyncpg.Connection, tenant_id: UUID, row: dict[str, Any], code: str, reason: str
) -> dict[str, Any]:
    updated = await conn.fetchrow(
        f"""UPDATE ai_optimization_history
            SET status = 'failed', failure_code = $3, failure_reason = $4,
                after_state = before_state, updated_at = clock_timestamp()
            WHERE tenant_id = $1 AND id = $2
            RETURNING {OPTIMIZATION_HISTORY.select_list}""",
        tenant_id,
        row["id"],
        code,
        reason,
    )
    assert updated is not None
    failed = dict(updated)
    await enqueue(conn, _event(OPTIMIZATION_FAILED, failed, tenant_id))
    await _settle_recommendation(conn, tenant_id, failed)
    if failed["rule_id"] is not None:
        await refresh_rule_stats(conn, tenant_id, failed["rule_id"])
    return failed


async def refresh_rule_stats(conn: asyncpg.Connection, tenant_id: UUID, rule_id: UUID) -> None:
    """``execution_count``: the rule's firings (a campaign-hour it matched and acted on).
    ``success_rate``: the percentage of the changes it sent that the platform applied."""
    await conn.execute(
        """UPDATE ai_automation_rules SET
               execution_count = (SELECT count(*) FROM rule_firings
                                  WHERE tenant_id = $1 AND rule_id = $2),
               success_rate = (SELECT round(100.0 * count(*) FILTER (WHERE status = 'applied')
                                            / NULLIF(count(*), 0), 2)
                               FROM ai_optimization_history
                               WHERE tenant_id = $1 AND rule_id = $2
                                 AND status IN ('applied', 'failed'))
           WHERE tenant_id = $1 AND id = $2""",
        tenant_id,
        rule_id,
    )


async def _settle_recommendation(
    conn: asyncpg.Connection, tenant_id: UUID, row: dict[str, Any]
) -> None:
    """An approved recommendation ends with its change: implemented, or failed and why."""
    if row["recommendation_id"] is None:
        return
    applied = row["status"] == "applied"
    await conn.execute(
        """UPDATE ai_recommendations
           SET status = $3, optimization_id = $4, failure_reason = $5,
               implemented_at = CASE WHEN $3 = 'implemented' THEN clock_timestamp()
                                     ELSE implemented_at END,
               updated_at = clock_timestamp()
           WHERE tenant_id = $1 AND id = $2 AND status = 'approved'""",
        tenant_id,
        row["recommendation_id"],
        "implemented" if applied else "failed",
        row["id"],
        None if applied else row["failure_reason"],
    )


async def fail_recommendation(
    conn: asyncpg.Connection, tenant_id: UUID, recommendation_id: UUID, reason: str
) -> None:
    await conn.execute(
        f"""UPDATE {RECOMMENDATIONS.table}
            SET status = 'failed', failure_reason = $3, updated_at = clock_timestamp()
            WHERE tenant_id = $1 AND id = $2""",
        tenant_id,
        recommendation_id,
        reason,
    )


async def pending_rows(
    conn: asyncpg.Connection, older_than_seconds: float
) -> list[tuple[UUID, UUID]]:
    """(tenant, id) of pending changes planned at least this long ago (system scope)."""
    rows = await conn.fetch(
        """SELECT tenant_id, id FROM ai_optimization_history
           WHERE status = 'pending'
             AND created_at < clock_timestamp() - make_interval(secs => $1)
           ORDER BY created_at LIMIT 100""",
        older_than_seconds,
    )
    return [(r["tenant_id"], r["id"]) for r in rows]
