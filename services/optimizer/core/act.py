"""What the optimizer does with a change something asks for, by the tenant's autonomy.

- ``observe``: nothing is changed and nothing is asked; the outcome says so.
- ``recommend``: the change, limits applied, waits for a person as a recommendation.
- ``act``: the change is applied within the limits; what the limits hold back (a
  confidence under the gate, a cooldown, a limit reached, another change in flight)
  becomes a recommendation instead.

A change that is already so, or cannot be made at all, is skipped either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

import asyncpg

from services.optimizer.core.execution import (
    Cause,
    Desire,
    Held,
    Planned,
    Proposal,
    Unreachable,
    plan,
)
from services.optimizer.core.limits import Apply, Refusal
from services.optimizer.core.tenants import TenantPolicy
from shared.connectors import CampaignState, Change
from shared.contracts.enums import RefusalReason
from shared.service import ServiceRuntime

OutcomeKind = Literal["planned", "repeat", "recommend", "skip", "failed"]

# Refusals that mean there is nothing a person could approve either.
_NOTHING_TO_DO = frozenset({RefusalReason.NO_CHANGE, RefusalReason.INVALID_INPUT})


@dataclass(frozen=True, slots=True)
class Outcome:
    """``row``: the optimization planned or failed. ``changes``: what a recommendation
    should propose (``kind``, ``to``, why it was held back). ``reason``/``detail``: why
    nothing was applied."""

    kind: OutcomeKind
    row: dict[str, Any] | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    state: CampaignState | None = None
    reason: str = ""
    detail: str = ""

    @property
    def current_state(self) -> dict[str, Any] | None:
        return self.state.as_json() if self.state is not None else None


def _proposal_changes(
    proposed: Change, desired: Change | None, held: dict[str, Any]
) -> dict[str, Any]:
    return {
        "kind": proposed.kind,
        "to": proposed.value,
        "requested": desired.value if desired is not None else proposed.value,
        "held_back": held,
    }


def _recommend(
    refusal: Refusal | None,
    verdict: Any,
    desired: Change | None,
    state: CampaignState | None,
    why: dict[str, Any],
    asked: dict[str, Any] | None = None,
) -> Outcome:
    if isinstance(verdict, Apply):
        proposed = verdict.change
    elif refusal is not None and refusal.proposed is not None:
        proposed = refusal.proposed.change
    else:
        proposed = desired  # type: ignore[assignment]
    if proposed is None:
        # Held back before the campaign was read (another change in flight): the change
        # as it was asked for is what a person would approve.
        if asked is None:
            return Outcome("skip", reason=why["reason"], detail=why["detail"], state=state)
        return Outcome(
            "recommend",
            changes={**asked, "held_back": why},
            reason=why["reason"],
            detail=why["detail"],
        )
    changes = _proposal_changes(proposed, desired, why)
    if refusal is not None:
        changes["limits"] = refusal.as_dict()
    elif isinstance(verdict, Apply):
        changes["limits"] = verdict.as_dict()
    return Outcome(
        "recommend", changes=changes, state=state, reason=why["reason"], detail=why["detail"]
    )


async def act(
    conn: asyncpg.Connection,
    runtime: ServiceRuntime,
    tenant_id: UUID,
    campaign_id: UUID,
    desire: Desire,
    cause: Cause,
    policy: TenantPolicy,
    asked: dict[str, Any] | None = None,
) -> Outcome:
    """Plan, recommend or skip the change ``desire`` asks for on one campaign.

    ``asked`` is the change as it was asked for (``{"kind": ..., "to": ...}`` or relative):
    a recommendation proposes it as it stands when the platform cannot be asked about the
    campaign, and approving it works the change out then.
    """
    if policy.autonomy == "observe":
        return Outcome(
            "skip",
            reason="observe",
            detail="the tenant's autonomy is observe: decisions are logged, nothing is changed",
        )
    acting = policy.autonomy == "act"
    result = await plan(
        conn, runtime, tenant_id, campaign_id, desire, cause, policy.limits, apply=acting
    )
    if isinstance(result, Planned):
        return Outcome("repeat" if result.repeat else "planned", row=result.row)
    if isinstance(result, Unreachable):
        if result.row is not None:
            return Outcome(
                "failed",
                row=result.row,
                reason=str(result.row["failure_code"]),
                detail=result.reason,
            )
        unreachable = {"reason": "platform_unavailable", "detail": result.reason}
        if asked is None:
            return Outcome("skip", reason="platform_unavailable", detail=result.reason)
        return Outcome(
            "recommend",
            changes={**asked, "held_back": unreachable},
            reason="platform_unavailable",
            detail=result.reason,
        )
    if isinstance(result, Proposal):
        verdict = result.verdict
        if isinstance(verdict, Refusal) and verdict.reason in _NOTHING_TO_DO:
            return Outcome(
                "skip", reason=str(verdict.reason), detail=verdict.detail, state=result.state
            )
        why = {
            "reason": "recommend",
            "detail": "the tenant's autonomy is recommend: every change waits for a person",
        }
        if isinstance(verdict, Refusal):
            why["limits"] = f"{verdict.reason}: {verdict.detail}"
        refusal = verdict if isinstance(verdict, Refusal) else None
        return _recommend(refusal, verdict, result.desired, result.state, why)
    held: Held = result
    refusal = held.refusal
    if refusal.reason in _NOTHING_TO_DO:
        return Outcome("skip", reason=str(refusal.reason), detail=refusal.detail, state=held.state)
    why = {"reason": str(refusal.reason), "detail": refusal.detail}
    return _recommend(refusal, None, held.desired, held.state, why, asked)
