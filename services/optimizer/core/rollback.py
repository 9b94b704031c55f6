"""Rolling back an applied change, without silently overwriting what came after it.

:func:`plan_rollback` is the pure part: given the change to undo and the changes applied
to the same entity since, it answers the change that undoes it or the conflict.
:func:`request_rollback` loads those under the campaign's lock and plans the answer
through the same path as every other change (:func:`~services.optimizer.core.execution.plan`),
so the executor carries a rollback out like any change.

Undoing restores the change's ``before``. That is safe only while the change is still
what holds the setting: if a later change moved the same setting, restoring ``before``
would throw the later change away unseen, so the answer is a conflict naming it, unless
the caller forces the rollback (and the plan then lists what it overrides, for the
record). A later change that was itself rolled back no longer holds anything and does
not count. A rollback is an ordinary change with ``before`` and ``after`` swapped and
``rollback_of`` set, so it can be rolled back in turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from services.optimizer.core.execution import (
    Cause,
    Held,
    Planned,
    Unreachable,
    applied_change_of,
    applied_changes,
    in_flight_change,
    lock_campaign,
    plan,
)
from services.optimizer.core.limits import (
    DEFAULT_LIMITS,
    AppliedChange,
    Apply,
    NoAction,
    Verdict,
    current_value,
    same_value,
)
from shared.connectors.base import CampaignState, Change
from shared.contracts.enums import RollbackConflictKind
from shared.contracts.optimizer import OPTIMIZATION_HISTORY
from shared.errors import Conflict, UpstreamFailed
from shared.resources import fetch_one
from shared.service import ServiceRuntime


@dataclass(frozen=True, slots=True)
class RollbackPlan:
    """Apply ``change`` to undo ``target``; it replaces ``replaces``.

    ``overrides`` lists the later changes a forced rollback overwrites (empty when the
    rollback was safe).
    """

    target: AppliedChange
    change: Change
    replaces: float | str
    overrides: tuple[AppliedChange, ...] = ()

    def applied(self, change_id: UUID, applied_at: datetime) -> AppliedChange:
        """The record of this rollback once applied: itself a change that can be undone."""
        return AppliedChange(
            change_id=change_id,
            entity_id=self.target.entity_id,
            kind=self.target.kind,
            before=self.replaces,
            after=self.change.value,
            applied_at=applied_at,
            rollback_of=self.target.change_id,
        )


@dataclass(frozen=True, slots=True)
class RollbackConflict:
    """Undoing ``target`` would overwrite ``later`` (the changes in force since, oldest
    first, or the rollbacks that already undid it)."""

    target: AppliedChange
    kind: RollbackConflictKind
    detail: str
    later: tuple[AppliedChange, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "change_id": str(self.target.change_id),
            "conflict": str(self.kind),
            "detail": self.detail,
            "later_change_ids": [str(c.change_id) for c in self.later],
        }


def plan_rollback(
    target: AppliedChange,
    later: Sequence[AppliedChange],
    *,
    current: float | str | None = None,
    force: bool = False,
) -> RollbackPlan | RollbackConflict:
    """Whether undoing ``target`` is safe, given the changes applied after it.

    ``later`` may hold changes to other settings or entities; only those to the same
    setting of the same entity, applied no earlier than ``target``, matter (a change
    stamped in the same instant might have come after it, so it counts). ``current``
    is the value the platform holds now, when the caller has read it: if it is not
    what the records say, something outside the optimizer changed the setting, and
    that is a conflict too. With ``force`` every conflict is overridden and named in
    the plan.

    Raises ``InvalidChange`` if ``target.before`` is not a value the setting can take.
    """
    relevant = sorted(
        (
            c
            for c in later
            if c.entity_id == target.entity_id
            and c.kind == target.kind
            and c.change_id != target.change_id
            and c.applied_at >= target.applied_at
        ),
        key=lambda c: c.applied_at,
    )
    # Replay the history as a stack: a rollback of the change on top cancels it, anything
    # else goes on top. What is left above ``target`` is still in force.
    stack: list[AppliedChange] = [target]
    for change in relevant:
        if change.rollback_of is not None and stack and stack[-1].change_id == change.rollback_of:
            stack.pop()
        else:
            stack.append(change)

    recorded = relevant[-1].after if relevant else target.after
    restore = Change(target.kind, target.before)
    replaces = recorded if current is None else current
    conflict = _conflict(target, stack, relevant, recorded, current)
    if conflict is None:
        return RollbackPlan(target, restore, replaces)
    if force:
        return RollbackPlan(target, restore, replaces, overrides=conflict.later)
    return conflict


def _conflict(
    target: AppliedChange,
    stack: list[AppliedChange],
    relevant: list[AppliedChange],
    recorded: float | str,
    current: float | str | None,
) -> RollbackConflict | None:
    in_force = tuple(c for c in stack if c is not target)
    undone_by = tuple(c for c in relevant if c.rollback_of == target.change_id)
    if target not in stack or undone_by:
        names = ", ".join(str(c.change_id) for c in undone_by)
        detail = f"change {target.change_id} was already rolled back by {names}"
        if in_force:
            detail += f"; changes in force since: {_names(in_force)}"
        return RollbackConflict(
            target, RollbackConflictKind.ALREADY_ROLLED_BACK, detail, in_force or undone_by
        )
    if in_force:
        latest = in_force[-1]
        return RollbackConflict(
            target,
            RollbackConflictKind.LATER_CHANGE,
            f"{target.kind} was changed again by {_names(in_force)}; restoring "
            f"{target.before} would overwrite {latest.change_id} (now {latest.after}). "
            "Roll back the later change first, or force",
            in_force,
        )
    if current is not None and not same_value(target.kind, current, recorded):
        return RollbackConflict(
            target,
            RollbackConflictKind.CHANGED_ELSEWHERE,
            f"the platform holds {target.kind} {current}, but the last recorded change set "
            f"{recorded}: it was changed outside the optimizer",
        )
    return None


def _names(changes: Sequence[AppliedChange]) -> str:
    return ", ".join(str(c.change_id) for c in changes)


async def request_rollback(
    conn: asyncpg.Connection,
    runtime: ServiceRuntime,
    tenant: UUID,
    optimization_id: UUID,
    *,
    force: bool,
    correlation_id: UUID | None,
) -> dict[str, Any]:
    """The pending optimization that undoes ``optimization_id``; raises
    :class:`~shared.errors.NotFound`, :class:`Conflict` (``not_applied``, ``in_flight``,
    ``rollback_conflict``, ``unknown_campaign``) or :class:`UpstreamFailed`
    (``platform_unavailable``).

    A rollback restores a value the campaign had before, so the step and daily limits do
    not hold it back: undoing must stay possible after the limits are used up.
    """
    target_row = await fetch_one(conn, OPTIMIZATION_HISTORY, tenant, optimization_id)
    campaign_id = target_row["target_entity_id"]
    if target_row["status"] != "applied" or campaign_id is None or target_row["setting"] is None:
        raise Conflict(
            "not_applied",
            f"optimization {optimization_id} is {target_row['status']}; only an applied "
            "change can be rolled back",
            {"status": target_row["status"]},
        )
    await lock_campaign(conn, tenant, campaign_id)
    in_flight = await in_flight_change(conn, tenant, campaign_id, target_row["setting"])
    if in_flight is not None:
        raise Conflict(
            "in_flight",
            f"optimization {in_flight} is changing this setting of the campaign; try again "
            "when it has finished",
            {"optimization_id": str(in_flight)},
        )
    # Read under the campaign's lock: nothing is applied to it until this commits.
    target = applied_change_of(target_row, "applied_at")
    later = await applied_changes(conn, tenant, campaign_id, target.applied_at, "applied_at")
    planned: RollbackPlan | RollbackConflict | None = None

    def desire(state: CampaignState) -> Change | NoAction:
        nonlocal planned
        current = current_value(state, target.kind)
        planned = plan_rollback(target, later, current=current, force=force)
        if isinstance(planned, RollbackConflict):
            return NoAction(planned.detail)
        return planned.change

    async def judge(_conn: asyncpg.Connection, _state: CampaignState, change: Change) -> Verdict:
        assert isinstance(planned, RollbackPlan)
        return Apply(change, planned.replaces, change.value)

    cause = Cause(
        "rollback",
        optimization_id,
        key=f"rollback:{optimization_id}:{uuid4()}",
        rollback_of=optimization_id,
        by_person=True,
        correlation_id=correlation_id,
    )
    result = await plan(
        conn,
        runtime,
        tenant,
        campaign_id,
        desire,
        cause,
        DEFAULT_LIMITS,
        judge=judge,
        keep_unreachable=False,
    )
    row = _planned_row(result, planned)
    if isinstance(planned, RollbackPlan) and planned.overrides:
        row = dict(
            await conn.fetchrow(
                f"""UPDATE ai_optimization_history
                    SET rollback_data = rollback_data || $3
                    WHERE tenant_id = $1 AND id = $2
                    RETURNING {OPTIMIZATION_HISTORY.select_list}""",
                tenant,
                row["id"],
                {"forced_over": [str(c.change_id) for c in planned.overrides]},
            )
        )
    return row


def _planned_row(result: object, planned: RollbackPlan | RollbackConflict | None) -> dict[str, Any]:
    """The pending row of a planned rollback, or the error that says why there is none."""
    if isinstance(result, Planned):
        return result.row
    if isinstance(result, Unreachable):
        raise UpstreamFailed(
            "platform_unavailable", f"the ad platform could not be asked: {result.reason}"
        )
    if isinstance(planned, RollbackConflict):
        # Records are named by optimization id: ``later_change_ids`` are optimizations.
        raise Conflict("rollback_conflict", planned.detail, planned.as_dict())
    if isinstance(result, Held) and result.state is None:
        raise Conflict("unknown_campaign", result.refusal.detail)
    detail = result.refusal.detail if isinstance(result, Held) else "it could not be planned"
    raise Conflict("in_flight", detail)
