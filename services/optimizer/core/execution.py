"""Carrying a change out on the ad platform: plan it, then make it, and record both.

A change goes through three short transactions, none held across a call to the platform:

1. **Plan** (:func:`plan`), under a lock on the campaign: read the campaign from the
   platform, pass the desired change through the safety limits, and, when it may be
   applied, write an ``ai_optimization_history`` row in status ``pending`` with the change
   id the platform will know it by. A partial unique index keeps one change per setting
   of a campaign in flight, whichever replica planned it, so two replicas never apply
   conflicting changes.
2. **Claim** (:func:`carry_out`): a worker leases the pending row for longer than the
   connector can take, then calls the platform with no transaction open.
3. **Record**, under the campaign's lock again: ``applied`` with the platform's view of the
   campaign, or ``failed`` with the platform's reason when it refused; events go out in
   the same transaction. Because finishing takes the lock, a plan that holds it sees a
   change either pending or finished, never finishing between its read of the platform
   and its check for changes in flight. A platform
   that did not answer leaves the row pending for another attempt with the same change
   id, after a backoff. After ``ADPILOT_CHANGE_ATTEMPTS`` tries the campaign is read back
   (:func:`settle`): ``applied`` if the platform holds the new value (it made the change
   and its answer was lost), ``failed`` if it does not. While the platform cannot be read
   either, the row is ``unknown``: no other change to that setting is planned, and the
   executor's sweep reads again, backing off, until the outcome is known.

A crash anywhere leaves a pending row whose lease runs out; the executor's sweep finishes
it with the same change id, which the platform applies once. Nothing is marked applied
that the platform did not confirm.

Change ids are derived from what asked for the change (:func:`change_id_for`): a decision
delivered twice, or a rule firing twice for one hour, asks for the same change id, finds
the row already there and plans nothing new.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4, uuid5

import asyncpg

from services.optimizer.core.limits import (
    AppliedChange,
    Apply,
    NoAction,
    Refusal,
    SafetyLimits,
    Verdict,
    clamp,
    current_value,
)
from services.optimizer.core.platform import CORRELATION, connector_for, read_account, store_states
from shared.config import Settings
from shared.connectors import (
    AuthFailed,
    CampaignState,
    Change,
    ChangeReceipt,
    ChangeRefused,
    ConnectorError,
    RateLimited,
    UnknownAccount,
    UnknownCampaign,
)
from shared.connectors.base import PlatformRules, platform_rules
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
    "creative": "creative_change",
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
# The verdict on a change where the safety limits do not decide it.
Judge = Callable[[asyncpg.Connection, CampaignState, Change], Awaitable[Verdict]]


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


async def in_flight_change(
    conn: asyncpg.Connection, tenant_id: UUID, campaign_id: UUID, setting: str
) -> UUID | None:
    """The change to this setting of the campaign that is being carried out, or whose
    outcome is not known yet: no other may be planned until it is finished."""
    found: UUID | None = await conn.fetchval(
        """SELECT id FROM ai_optimization_history
           WHERE tenant_id = $1 AND target_entity_id = $2 AND setting = $3
             AND status IN ('pending', 'unknown')""",
        tenant_id,
        campaign_id,
        setting,
    )
    return found


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


async def applied_changes(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    campaign_id: UUID,
    since: datetime,
    clock: str = "effective_from",
) -> list[AppliedChange]:
    """Changes applied to the campaign at ``since`` or later on ``clock`` (see
    :func:`applied_change_of`), in that order."""
    if clock not in ("effective_from", "applied_at"):
        raise ValueError(f"unknown clock {clock!r}")
    rows = await conn.fetch(
        f"""SELECT id, target_entity_id, setting, value_before, value_after, rollback_of,
                   {clock}
            FROM ai_optimization_history
            WHERE tenant_id = $1 AND target_entity_id = $2 AND status = 'applied'
              AND {clock} >= $3
            ORDER BY {clock}, applied_at""",
        tenant_id,
        campaign_id,
        since,
    )
    return [applied_change_of(r, clock) for r in rows]


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
    platform: PlatformRules | None = None,
) -> Proposal:
    """The limits' verdict on ``desired`` for the campaign in ``state`` at ``as_of``,
    keeping the rules ``platform`` enforces too."""
    history = await applied_changes(conn, tenant_id, state.campaign_id, _day_start(as_of))
    last = None if cause.by_person else await last_change_at(conn, tenant_id, state.campaign_id)
    confidence = 100.0 if cause.by_person else cause.confidence
    recent = (
        await applied_changes(conn, tenant_id, state.campaign_id, as_of - timedelta(hours=1))
        if platform is not None
        else []
    )
    verdict = clamp(desired, state, history, last, confidence, limits, as_of, platform, recent)
    return Proposal(verdict, state, desired, as_of)


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
    judge: Judge | None = None,
    keep_unreachable: bool = True,
) -> PlanOutcome | Proposal:
    """Plan the change ``desire`` asks for on the campaign, within ``limits``.

    With ``apply`` the change, if the limits let it through, is recorded as pending and a
    notification wakes the executor once the transaction commits. Without it, the
    :class:`Proposal` is returned for the caller to turn into a recommendation.

    ``judge`` stands in for the limits where a change obeys rules of its own (a rollback
    restores a value the campaign had, so step and daily limits do not hold it back).
    Without ``keep_unreachable`` a platform that cannot be asked is only reported, for
    a caller that answers a person at once.
    """
    connector = await connector_for(runtime, tenant_id, conn)
    await lock_campaign(conn, tenant_id, campaign_id)
    change_id = change_id_for(tenant_id, cause.key)
    existing = await conn.fetchrow(
        f"SELECT {OPTIMIZATION_HISTORY.select_list} FROM ai_optimization_history "
        "WHERE change_id = $1",
        change_id,
    )
    if existing is not None:
        return Planned(dict(existing), repeat=True)
    token = CORRELATION.set(cause.correlation_id)
    try:
        observed = await read_account(connector, tenant_id)
    except ConnectorError as exc:
        if not apply or not keep_unreachable:
            return Unreachable(str(exc))
        # Recorded under a change id of its own: the one this request names stays free,
        # so asking again once the platform answers is a new attempt, not a repeat.
        row = await record_unreachable(conn, tenant_id, campaign_id, cause, exc)
        return Unreachable(str(row["failure_reason"]), row)
    finally:
        CORRELATION.reset(token)
    snapshot = observed.snapshot
    try:
        state = snapshot.campaign(campaign_id)
    except UnknownCampaign as exc:
        return Held(Refusal(RefusalReason.INVALID_INPUT, str(exc)))
    # Only the campaign this transaction holds the lock of: rows of other campaigns are
    # refreshed by the rule runner, in transactions of their own.
    await store_states(conn, tenant_id, connector.name, [state], snapshot.as_of, observed.at)
    desired = desire(state)
    if isinstance(desired, NoAction):
        return Held(Refusal(RefusalReason.INVALID_INPUT, desired.reason), state)
    in_flight = await in_flight_change(conn, tenant_id, campaign_id, desired.kind)
    if in_flight is not None:
        refusal = Refusal(
            RefusalReason.IN_FLIGHT,
            f"optimization {in_flight} is changing this campaign's {desired.kind}",
        )
        return Held(refusal, state, desired)
    if judge is not None:
        verdict = await judge(conn, state, desired)
        proposal = Proposal(verdict, state, desired, snapshot.as_of)
    else:
        proposal = await propose(
            conn,
            tenant_id,
            state,
            snapshot.as_of,
            desired,
            cause,
            limits,
            platform_rules(connector),
        )
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
        state.as_json(),
        after.as_json(),
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
        uuid4(),
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

# Longer than the connector can take on one change (three attempts of five seconds and the
# pauses between them): a lease that runs out means its worker is gone.
LEASE_SECONDS = 60.0
# How long a person's request waits for a change another worker is carrying out.
WAIT_SECONDS = 30.0


def retry_after(attempts: int, base: float) -> float:
    """Seconds before attempt ``attempts + 1`` of an unanswered change: ``base``, then
    doubling, never more than a minute."""
    return float(min(60.0, base * 2 ** (attempts - 1)))


async def carry_out(
    runtime: ServiceRuntime, tenant_id: UUID, optimization_id: UUID, *, wait: bool = True
) -> dict[str, Any] | None:
    """Send a pending change to the platform and record the outcome.

    With ``wait``, a change another worker holds is waited for (up to
    :data:`WAIT_SECONDS`); without it, it is left to that worker. Answers the row as it
    stands at the end (``None`` for an unknown id); a change the platform did not answer
    is still ``pending`` and will be tried again.
    """
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while True:
        async with runtime.tenant_tx(tenant_id) as conn:
            claimed = await _claim(conn, tenant_id, optimization_id, first_try=wait)
            if claimed is not None:
                if claimed["status"] == "unknown":
                    break  # sent before: only its outcome is left to find out
                cancelled = await _cancelled(conn, tenant_id, claimed)
                if cancelled is not None:
                    return await _finish_failed(conn, tenant_id, claimed, "cancelled", cancelled)
                break
            row = await _load(conn, tenant_id, optimization_id)
        if row is None or row["status"] != "pending" or not wait:
            return row
        if asyncio.get_running_loop().time() > deadline:
            return row
        await asyncio.sleep(0.05)
    if claimed["status"] == "unknown":
        return await settle(runtime, tenant_id, claimed, claimed["last_error"] or "")
    return await _send(runtime, tenant_id, claimed)


async def _load(
    conn: asyncpg.Connection, tenant_id: UUID, optimization_id: UUID
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"""SELECT {OPTIMIZATION_HISTORY.select_list} FROM ai_optimization_history
            WHERE tenant_id = $1 AND id = $2""",
        tenant_id,
        optimization_id,
    )
    return dict(row) if row is not None else None


async def _claim(
    conn: asyncpg.Connection, tenant_id: UUID, optimization_id: UUID, *, first_try: bool
) -> dict[str, Any] | None:
    """Lease the pending row (or the one whose outcome is unknown) if nobody holds it and
    its next attempt is due (a person's request does not wait for the backoff)."""
    row = await conn.fetchrow(
        f"""UPDATE ai_optimization_history
            SET claimed_until = clock_timestamp() + make_interval(secs => $3),
                attempts = attempts + 1, updated_at = clock_timestamp()
            WHERE tenant_id = $1 AND id = $2 AND status IN ('pending', 'unknown')
              AND (claimed_until IS NULL OR claimed_until < clock_timestamp())
              AND ($4 OR next_attempt_at IS NULL OR next_attempt_at <= clock_timestamp())
            RETURNING {OPTIMIZATION_HISTORY.select_list}, attempts, last_error""",
        tenant_id,
        optimization_id,
        LEASE_SECONDS,
        first_try,
    )
    return dict(row) if row is not None else None


async def _cancelled(conn: asyncpg.Connection, tenant_id: UUID, row: dict[str, Any]) -> str | None:
    """Why a change must not be sent after all: its recommendation was rejected since."""
    if row["recommendation_id"] is None:
        return None
    status = await conn.fetchval(
        "SELECT status FROM ai_recommendations WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        row["recommendation_id"],
    )
    if status == "approved":
        return None
    return f"the recommendation is {status}; the change was not sent"


async def _send(runtime: ServiceRuntime, tenant_id: UUID, row: dict[str, Any]) -> dict[str, Any]:
    connector = await connector_for(runtime, tenant_id)
    change = Change(row["setting"], row["value_after"])
    token = CORRELATION.set(row["correlation_id"])
    try:
        receipt = await connector.apply_change(
            tenant_id, row["target_entity_id"], change, row["change_id"]
        )
        observed_at = datetime.now(UTC)
    except (ChangeRefused, UnknownAccount, AuthFailed) as exc:
        # Credentials refused fail the change at once: no retry helps before a person
        # links the account again.
        async with runtime.tenant_tx(tenant_id) as conn:
            await lock_campaign(conn, tenant_id, row["target_entity_id"])
            code, reason = _failure(exc)
            return await _finish_failed(conn, tenant_id, row, code, reason)
    except Exception as exc:
        # Unreachable, timed out, or an answer that made no sense: the change may or may
        # not have been made. Try again later with the same change id; after the last
        # try, find out from the campaign itself.
        if not isinstance(exc, ConnectorError):
            log.exception("the platform's answer to change %s was unusable", row["change_id"])
        why = f"{type(exc).__name__}: {exc}"[:1000]
        if int(row["attempts"]) >= runtime.settings.change_attempts:
            return await settle(runtime, tenant_id, row, why)
        # A platform that throttled us named its delay: no attempt before it is over.
        wait = exc.retry_after if isinstance(exc, RateLimited) else 0.0
        async with runtime.tenant_tx(tenant_id) as conn:
            await lock_campaign(conn, tenant_id, row["target_entity_id"])
            return await _try_again(conn, runtime.settings, tenant_id, row, why, wait)
    finally:
        CORRELATION.reset(token)
    async with runtime.tenant_tx(tenant_id) as conn:
        await lock_campaign(conn, tenant_id, row["target_entity_id"])
        return await _finish_applied(conn, tenant_id, row, change, receipt, observed_at)


async def _try_again(
    conn: asyncpg.Connection,
    settings: Settings,
    tenant_id: UUID,
    row: dict[str, Any],
    why: str,
    at_least: float = 0.0,
) -> dict[str, Any]:
    """Leave the change for another attempt, after a backoff (``at_least`` seconds)."""
    return await _release(conn, tenant_id, row, "pending", why, settings, at_least)


async def settle(
    runtime: ServiceRuntime, tenant_id: UUID, row: dict[str, Any], why: str
) -> dict[str, Any]:
    """What became of a change the platform never answered: read the campaign back.

    The new value there means the platform made the change and only its answer was lost
    (``applied``); anything else, that it did not (``failed``). A platform that cannot be
    read either leaves the outcome ``unknown``, to be read again after a backoff."""
    attempts = int(row["attempts"])
    try:
        observed = await read_account(await connector_for(runtime, tenant_id), tenant_id)
        state: CampaignState | None = observed.snapshot.campaign(row["target_entity_id"])
    except UnknownCampaign:
        state = None  # the platform answers, and has no such campaign (any more)
    except Exception as exc:
        if not isinstance(exc, ConnectorError):
            log.exception("reading back change %s failed", row["change_id"])
        async with runtime.tenant_tx(tenant_id) as conn:
            await lock_campaign(conn, tenant_id, row["target_entity_id"])
            return await _release(conn, tenant_id, row, "unknown", why, runtime.settings)
    async with runtime.tenant_tx(tenant_id) as conn:
        await lock_campaign(conn, tenant_id, row["target_entity_id"])
        if state is not None and _holds(state, row["setting"], row["value_after"]):
            receipt = ChangeReceipt(row["change_id"], state, observed.snapshot.as_of, replayed=True)
            change = Change(row["setting"], row["value_after"])
            return await _finish_applied(conn, tenant_id, row, change, receipt, observed.at)
        held = "no such campaign" if state is None else repr(current_value(state, row["setting"]))
        reason = (
            f"the ad platform answered none of {attempts} attempts ({why}); read back "
            f"afterwards, the campaign holds {held}, not {row['value_after']!r}: the "
            "change was not made"
        )
        return await _finish_failed(conn, tenant_id, row, "platform_unavailable", reason)


def _holds(state: CampaignState, setting: str, value: Any) -> bool:
    """Whether the campaign holds ``value`` for ``setting`` (money to the cent, factors to
    a millionth: what the platform stores may be rounded)."""
    held = current_value(state, setting)
    if isinstance(held, str) or isinstance(value, str):
        return held == value
    tolerance = 0.005 if setting == "budget" else 1e-6
    return abs(float(held) - float(value)) <= tolerance


async def _release(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    row: dict[str, Any],
    status: str,
    why: str,
    settings: Settings,
    at_least: float = 0.0,
) -> dict[str, Any]:
    """Give up the lease, for another attempt (``pending``) or another read
    (``unknown``, which says so in ``failure_reason``) after a backoff of at least
    ``at_least`` seconds."""
    unknown = None
    if status == "unknown":
        unknown = (
            f"the ad platform answered none of the attempts ({why}) and cannot be read "
            "back yet: whether it made the change is not known; it is read again until it is"
        )
    updated = await conn.fetchrow(
        f"""UPDATE ai_optimization_history
            SET status = $3, claimed_until = NULL, last_error = $4,
                updated_at = clock_timestamp(),
                next_attempt_at = clock_timestamp() + make_interval(secs => $5),
                failure_code = CASE WHEN $6::text IS NULL THEN NULL ELSE 'outcome_unknown' END,
                failure_reason = $6
            WHERE tenant_id = $1 AND id = $2 AND status IN ('pending', 'unknown')
            RETURNING {OPTIMIZATION_HISTORY.select_list}""",
        tenant_id,
        row["id"],
        status,
        why,
        max(at_least, retry_after(int(row["attempts"]), settings.change_retry_seconds)),
        unknown,
    )
    return dict(updated) if updated is not None else row


async def _finish_applied(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    row: dict[str, Any],
    change: Change,
    receipt: ChangeReceipt,
    observed_at: datetime,
) -> dict[str, Any]:
    updated = await conn.fetchrow(
        f"""UPDATE ai_optimization_history
            SET status = 'applied', after_state = $3, value_after = $4,
                effective_from = $5, applied_at = clock_timestamp(), claimed_until = NULL,
                failure_code = NULL, failure_reason = NULL, updated_at = clock_timestamp(),
                platform_request_id = $6
            WHERE tenant_id = $1 AND id = $2 AND status IN ('pending', 'unknown')
            RETURNING {OPTIMIZATION_HISTORY.select_list}""",
        tenant_id,
        row["id"],
        receipt.campaign.as_json(),
        change.value,
        receipt.effective_from,
        receipt.request_id,
    )
    if updated is None:
        # Finished meanwhile by a worker whose lease had run out: that record stands.
        current = await _load(conn, tenant_id, row["id"])
        assert current is not None
        return current
    applied = dict(updated)
    await store_states(
        conn,
        tenant_id,
        str(row["connector"]),
        [receipt.campaign],
        receipt.effective_from,
        observed_at,
    )
    if applied["rollback_of"] is not None:
        await conn.execute(
            """UPDATE ai_optimization_history
               SET rolled_back_by = $3, updated_at = clock_timestamp()
               WHERE tenant_id = $1 AND id = $2""",
            tenant_id,
            applied["rollback_of"],
            applied["id"],
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
    if isinstance(exc, AuthFailed):
        return "auth_failed", f"the ad platform refused the account's credentials: {exc}"
    return "platform_unavailable", f"the ad platform could not be reached: {exc}"


async def _finish_failed(
    conn: asyncpg.Connection, tenant_id: UUID, row: dict[str, Any], code: str, reason: str
) -> dict[str, Any]:
    updated = await conn.fetchrow(
        f"""UPDATE ai_optimization_history
            SET status = 'failed', failure_code = $3, failure_reason = $4,
                after_state = before_state, claimed_until = NULL,
                updated_at = clock_timestamp()
            WHERE tenant_id = $1 AND id = $2 AND status IN ('pending', 'unknown')
            RETURNING {OPTIMIZATION_HISTORY.select_list}""",
        tenant_id,
        row["id"],
        code,
        reason,
    )
    if updated is None:
        current = await _load(conn, tenant_id, row["id"])
        assert current is not None
        return current
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


async def pending_rows(conn: asyncpg.Connection, fresh_seconds: float) -> list[tuple[UUID, UUID]]:
    """(tenant, id) of pending changes nobody holds whose attempt is due (system scope):
    planned more than ``fresh_seconds`` ago and never tried, or due after a backoff, or
    left by a worker whose lease ran out."""
    rows = await conn.fetch(
        """SELECT tenant_id, id FROM ai_optimization_history
           WHERE status IN ('pending', 'unknown')
             AND (claimed_until IS NULL OR claimed_until < clock_timestamp())
             AND CASE WHEN next_attempt_at IS NULL
                      THEN created_at < clock_timestamp() - make_interval(secs => $1)
                      ELSE next_attempt_at <= clock_timestamp() END
           ORDER BY created_at LIMIT 100""",
        fresh_seconds,
    )
    return [(r["tenant_id"], r["id"]) for r in rows]
