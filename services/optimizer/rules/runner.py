"""Running automation rules: when new metrics arrive and at each rule's frequency.

For each tenant with active rules, as of the hour after its newest metrics: every due rule
is evaluated on every campaign, and where it matches, each of its actions goes the same
way a decision does (:func:`services.optimizer.core.act.act`) under the rule's limits laid
over the tenant's. A rule fires at most once per campaign and hour (``rule_firings``), and
the change ids of its changes are derived from that firing, so nothing is applied twice.

Frequencies: ``hourly`` once per new hour of metrics; ``continuous`` whenever metrics
arrive (a corrected hour is looked at again, but a firing still acts once per hour);
``daily`` once per new day.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import ValidationError

from services.optimizer.core.act import act
from services.optimizer.core.execution import Cause, propose, refresh_rule_stats
from services.optimizer.core.jobs import TenantJob, run_per_tenant
from services.optimizer.core.limits import SafetyLimits, merge_limits
from services.optimizer.core.platform import connector_for, read_account, state_of, store_observed
from services.optimizer.core.recommend import hold_back
from services.optimizer.core.tenants import TenantPolicy, tenant_policy
from services.optimizer.rules.rule import (
    AllOf,
    AnyOf,
    Comparison,
    LastDays,
    LastHours,
    MetricOperand,
    NoAction,
    Notification,
    Rule,
    desired_change,
    evaluate,
)
from shared.connectors import (
    AccountSnapshot,
    AdPlatformConnector,
    CampaignState,
    Change,
    ConnectorError,
)
from shared.contracts.optimizer import RULE_NOTIFIED
from shared.metrics_store import load_history, newest_hour
from shared.outbox import enqueue
from shared.service import ServiceRuntime

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
# Rules of tenants with no new metrics are still looked at this often (daily rules).
SWEEP_SECONDS = 60.0
_RULE_LOCK = 0x52554C45
VIEW_REFRESH_SECONDS = 30.0

RECOMMENDATION_TYPE_OF_RULE = {
    "budget_management": "budget_optimization",
    "bid_optimization": "bid_strategy",
    "campaign_control": "campaign_control",
    "audience_management": "audience_targeting",
}


def actions_of(action_parameters: Any) -> Any:
    """The action list in ``action_parameters``: a list, ``{"actions": [...]}`` or one action."""
    if isinstance(action_parameters, dict):
        if "actions" in action_parameters:
            return action_parameters["actions"]
        return [action_parameters]
    return action_parameters


def actions_path(action_parameters: Any) -> str:
    """Where the action list sits in a request body, for error paths."""
    if isinstance(action_parameters, dict) and "actions" in action_parameters:
        return "action_parameters.actions"
    return "action_parameters"


def parse_rule(
    trigger_conditions: Any, action_parameters: Any, safety_limits: Any
) -> tuple[Rule, str]:
    """The rule, and the prefix its actions' error paths take in the request body.

    Raises pydantic's ``ValidationError`` with locations in the rule language's terms
    (``conditions``, ``actions``); :func:`actions_path` maps them onto the body.
    """
    prefix = actions_path(action_parameters)
    rule = Rule.model_validate(
        {
            "conditions": trigger_conditions,
            "actions": actions_of(action_parameters),
            "safety_limits": safety_limits,
        }
    )
    return rule, prefix


def rule_of(row: asyncpg.Record | dict[str, Any]) -> Rule:
    return parse_rule(row["trigger_conditions"], row["action_parameters"], row["safety_limits"])[0]


def _operands(node: AllOf | AnyOf | Comparison) -> Iterator[MetricOperand]:
    if isinstance(node, AllOf | AnyOf):
        for child in node.all if isinstance(node, AllOf) else node.any:
            yield from _operands(child)
        return
    for side in (node.left, node.right):
        if isinstance(side, MetricOperand):
            yield side


def lookback(rule: Rule) -> timedelta:
    """How far back the rule's timeframes reach from its ``as_of``."""
    longest = HOUR
    for operand in _operands(rule.conditions):
        frame = operand.timeframe
        if isinstance(frame, LastHours):
            span = frame.last_hours * HOUR
        elif isinstance(frame, LastDays):
            span = timedelta(days=frame.last_days)
        elif frame == "yesterday":
            span = timedelta(days=2)
        elif frame == "today":
            span = timedelta(days=1)
        else:
            continue
        longest = max(longest, span)
    return longest


def due(frequency: str, evaluated_for: datetime | None, as_of: datetime) -> bool:
    if evaluated_for is None:
        return True
    if frequency == "daily":
        return as_of.date() > evaluated_for.date()
    if frequency == "continuous":
        return as_of >= evaluated_for
    return as_of > evaluated_for


def limits_for(policy: TenantPolicy, rule: Rule) -> SafetyLimits:
    return merge_limits(policy.limits, rule.safety_limits)


async def run_rules(runtime: ServiceRuntime) -> None:
    """Background task: run each tenant's rules when its metrics arrive, and sweep now and
    then for rules due by the clock."""
    await run_per_tenant(
        runtime, TenantJob("running the rules", run_tenant, _rule_tenants, SWEEP_SECONDS)
    )


async def _rule_tenants(conn: asyncpg.Connection) -> list[UUID]:
    rows = await conn.fetch("SELECT DISTINCT tenant_id FROM ai_automation_rules WHERE is_active")
    return [r["tenant_id"] for r in rows]


async def run_tenant(runtime: ServiceRuntime, tenant: UUID) -> int:
    """Evaluate the tenant's due rules; answers how many firings acted.

    Short transactions only: claiming the due rules (a replica that finds another one
    claiming leaves them), storing the account as read from the platform, and one per
    firing, which plans its changes under each campaign's lock like any other change.
    """
    due_rules, as_of, policy = await _claim_due(runtime, tenant)
    connector = await connector_for(runtime, tenant)
    if not due_rules or as_of is None:
        await _refresh_view(runtime, tenant, connector)
        return 0
    try:
        observed = await read_account(connector, tenant)
    except ConnectorError as exc:
        # Rules read the campaigns' settings; without the platform they wait for the next
        # hour of metrics (the failed call is in the integration log).
        log.warning("rules of tenant %s wait: %s", tenant, exc)
        return 0
    async with runtime.tenant_tx(tenant) as conn:
        await store_observed(conn, tenant, connector.name, observed)
    fired = 0
    for row in due_rules:
        fired += await _run_rule(runtime, tenant, row, observed.snapshot, as_of, policy)
    return fired


async def _claim_due(
    runtime: ServiceRuntime, tenant: UUID
) -> tuple[list[asyncpg.Record], datetime | None, TenantPolicy]:
    """The tenant's rules due for the hour after its newest metrics, marked as evaluated
    for it so that other replicas leave them."""
    async with runtime.tenant_tx(tenant) as conn:
        policy = await tenant_policy(conn, tenant)
        locked = await conn.fetchval(
            "SELECT pg_try_advisory_xact_lock($1, hashtext($2))", _RULE_LOCK, str(tenant)
        )
        newest = await newest_hour(conn, tenant)
        if not locked or newest is None:
            return [], None, policy
        as_of = newest + HOUR
        rules = await conn.fetch(
            """SELECT id, rule_name, rule_type, trigger_conditions, action_parameters,
                      safety_limits, execution_frequency, evaluated_for
               FROM ai_automation_rules WHERE tenant_id = $1 AND is_active
               ORDER BY created_at, id""",
            tenant,
        )
        todo = [
            r for r in rules if due(r["execution_frequency"] or "hourly", r["evaluated_for"], as_of)
        ]
        if todo:
            await conn.execute(
                """UPDATE ai_automation_rules
                   SET evaluated_for = $3, last_execution_at = clock_timestamp()
                   WHERE tenant_id = $1 AND id = ANY($2::uuid[])""",
                tenant,
                [r["id"] for r in todo],
                as_of,
            )
        return todo, as_of, policy


async def _refresh_view(
    runtime: ServiceRuntime, tenant: UUID, connector: AdPlatformConnector
) -> None:
    """Keep ``GET /api/ai/campaigns`` current for an account the optimizer has read before,
    at most every ``VIEW_REFRESH_SECONDS`` (changes made on the platform by hand show up)."""
    async with runtime.tenant_tx(tenant) as conn:
        stale = await conn.fetchval(
            """SELECT max(synced_at) < clock_timestamp() - make_interval(secs => $2)
               FROM ad_campaigns WHERE tenant_id = $1""",
            tenant,
            VIEW_REFRESH_SECONDS,
        )
    if not stale:
        return
    try:
        observed = await read_account(connector, tenant)
    except ConnectorError as exc:
        log.warning("campaigns of tenant %s not refreshed: %s", tenant, exc)
        return
    async with runtime.tenant_tx(tenant) as conn:
        await store_observed(conn, tenant, connector.name, observed)


async def _run_rule(
    runtime: ServiceRuntime,
    tenant: UUID,
    row: asyncpg.Record,
    snapshot: AccountSnapshot,
    as_of: datetime,
    policy: TenantPolicy,
) -> int:
    rule_id = row["id"]
    try:
        rule = rule_of(row)
        limits = limits_for(policy, rule)
    except ValidationError as exc:
        # Saved before the tenant's limits changed under it: it stays off until fixed.
        log.warning("rule %s cannot run: %s", rule_id, exc)
        return 0
    states = list(snapshot.campaigns)
    async with runtime.tenant_tx(tenant) as conn:
        history = await load_history(
            conn, tenant, [s.campaign_id for s in states], as_of - lookback(rule), as_of
        )
    fired = 0
    for state in states:
        rows = [h for h in history if h.campaign_id == state.campaign_id]
        evaluation = evaluate(rule.conditions, rows, state, as_of)
        if not evaluation.matched:
            continue
        firing = Firing(
            tenant=tenant,
            rule_id=rule_id,
            rule_name=row["rule_name"],
            rule_type=row["rule_type"],
            campaign=state,
            as_of=as_of,
            evaluation=evaluation.as_dict(),
            policy=TenantPolicy(policy.autonomy, limits),
        )
        async with runtime.tenant_tx(tenant) as conn:
            if await _fire(conn, runtime, firing, rule):
                fired += 1
    async with runtime.tenant_tx(tenant) as conn:
        await refresh_rule_stats(conn, tenant, rule_id)
    return fired


async def _fire(
    conn: asyncpg.Connection, runtime: ServiceRuntime, firing: Firing, rule: Rule
) -> bool:
    """Record the firing and carry out its actions; False when it had already fired."""
    inserted = await conn.fetchval(
        """INSERT INTO rule_firings (tenant_id, rule_id, campaign_id, as_of, evaluation)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING rule_id""",
        firing.tenant,
        firing.rule_id,
        firing.campaign.campaign_id,
        firing.as_of,
        firing.evaluation,
    )
    if inserted is None:
        return False
    outcomes = [await _carry_action(conn, runtime, firing, a) for a in rule.actions]
    await conn.execute(
        """UPDATE rule_firings SET outcomes = $4, succeeded = $5
           WHERE rule_id = $1 AND campaign_id = $2 AND as_of = $3""",
        firing.rule_id,
        firing.campaign.campaign_id,
        firing.as_of,
        outcomes,
        all(o["outcome"] != "failed" for o in outcomes),
    )
    return True


@dataclass(frozen=True, slots=True)
class Firing:
    """One rule matching one campaign as of one hour, with the limits its actions run under."""

    tenant: UUID
    rule_id: UUID
    rule_name: str
    rule_type: str
    campaign: CampaignState
    as_of: datetime
    evaluation: dict[str, Any]
    policy: TenantPolicy

    def key(self, setting: str) -> str:
        """What names this firing's change to ``setting``: asked again, it is the same."""
        return f"rule:{self.rule_id}:{self.campaign.campaign_id}:{self.as_of.isoformat()}:{setting}"


async def _carry_action(
    conn: asyncpg.Connection, runtime: ServiceRuntime, firing: Firing, action: Any
) -> dict[str, Any]:
    """Do one action of a firing; answers what became of it, for ``rule_firings``."""
    state = firing.campaign
    wanted = desired_change(action, state)
    if isinstance(wanted, Notification):
        payload = {
            "rule_id": firing.rule_id,
            "rule_name": firing.rule_name,
            "campaign_id": state.campaign_id,
            "severity": str(wanted.severity),
            "message": wanted.message,
            "as_of": firing.as_of,
            "evaluation": firing.evaluation,
        }
        await enqueue(
            conn, RULE_NOTIFIED.envelope(payload, tenant_id=firing.tenant, source="optimizer")
        )
        return {"action": "notify", "outcome": "notified"}
    if isinstance(wanted, NoAction):
        return {"action": wanted_kind(action), "outcome": "skip", "detail": wanted.reason}
    change: Change = wanted
    cause = Cause("rule", firing.rule_id, key=firing.key(change.kind), rule_id=firing.rule_id)
    asked = {"kind": change.kind, "to": change.value}
    outcome = await act(
        conn,
        runtime,
        firing.tenant,
        state.campaign_id,
        lambda _s: change,
        cause,
        firing.policy,
        asked,
    )
    result: dict[str, Any] = {"action": change.kind, "outcome": outcome.kind}
    if outcome.row is not None:
        result["optimization_id"] = str(outcome.row["id"])
    if outcome.detail:
        result["detail"] = outcome.detail
    if outcome.kind == "recommend":
        values = {
            "recommendation_type": RECOMMENDATION_TYPE_OF_RULE[firing.rule_type],
            "target_entity_type": "campaign",
            "target_entity_id": state.campaign_id,
            "current_state": state.as_json(),
            "recommended_changes": {
                "rule_id": str(firing.rule_id),
                "rule_name": firing.rule_name,
                **outcome.changes,
            },
            "confidence_level": 10,
            "priority_score": 8,
            "implementation_complexity": "low",
        }
        # One question at a time: while the rule's last one is unanswered, it stands.
        held = await hold_back(
            conn,
            firing.tenant,
            values,
            same_question={"rule_id": str(firing.rule_id), "kind": change.kind},
        )
        result["recommendation_id"] = str(held.id)
        if not held.new:
            result["outcome"] = "already_recommended"
    return result


def wanted_kind(action: Any) -> str:
    return str(getattr(action, "setting", None) or getattr(action, "type", "action"))


# --- preview ----------------------------------------------------------------------------


async def preview(
    conn: asyncpg.Connection,
    runtime: ServiceRuntime,
    tenant: UUID,
    row: asyncpg.Record | dict[str, Any],
) -> dict[str, Any]:
    """What the rule would do now on each campaign, with the numbers and the clamping."""
    rule = rule_of(row)
    policy = await tenant_policy(conn, tenant)
    limits = limits_for(policy, rule)
    newest = await newest_hour(conn, tenant)
    if newest is None:
        return {"rule_id": row["id"], "as_of": None, "campaigns": []}
    as_of = newest + HOUR
    states, clock, source = await _campaigns_now(conn, runtime, tenant)
    history = await load_history(
        conn, tenant, [s.campaign_id for s in states], as_of - lookback(rule), as_of
    )
    campaigns = []
    for state in states:
        rows = [h for h in history if h.campaign_id == state.campaign_id]
        evaluation = evaluate(rule.conditions, rows, state, as_of)
        actions = []
        for action in rule.actions:
            wanted = desired_change(action, state)
            if isinstance(wanted, Notification):
                actions.append(
                    {
                        "action": "notify",
                        "severity": str(wanted.severity),
                        "message": wanted.message,
                    }
                )
            elif isinstance(wanted, NoAction):
                actions.append(
                    {
                        "action": wanted_kind(action),
                        "verdict": "impossible",
                        "detail": wanted.reason,
                    }
                )
            else:
                cause = Cause("rule", row["id"], key="preview", rule_id=row["id"])
                proposal = await propose(conn, tenant, state, clock, wanted, cause, limits)
                actions.append({"action": wanted.kind, **proposal.verdict.as_dict()})
        campaigns.append(
            {
                "campaign_id": str(state.campaign_id),
                "name": state.name,
                "matched": evaluation.matched,
                "evaluation": evaluation.as_dict(),
                "actions": actions if evaluation.matched else [],
                "would_act_with": actions,
            }
        )
    return {"rule_id": row["id"], "as_of": as_of, "campaigns": campaigns, "settings_from": source}


async def _campaigns_now(
    conn: asyncpg.Connection, runtime: ServiceRuntime, tenant: UUID
) -> tuple[Sequence[CampaignState], datetime, str]:
    """The campaigns from the platform, or as last stored when it cannot be reached (a
    preview only reads: nothing is stored)."""
    try:
        snapshot = (await read_account(await connector_for(runtime, tenant, conn), tenant)).snapshot
        return snapshot.campaigns, snapshot.as_of, "platform"
    except ConnectorError:
        rows = await conn.fetch(
            "SELECT * FROM ad_campaigns WHERE tenant_id = $1 ORDER BY name, id", tenant
        )
        clock = max((r["platform_as_of"] for r in rows), default=None)
        if clock is None:
            return [], datetime.now().astimezone(), "none"
        return [state_of(r) for r in rows], clock, "stored"
