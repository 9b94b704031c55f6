"""Undoing an applied change, without silently overwriting what came after it.

Pure functions over plain data; no I/O. The service loads the change to undo and the
changes applied to the same entity since, asks :func:`plan_rollback`, and either
applies the plan's change (recording it with :meth:`RollbackPlan.applied`) or reports
the conflict.

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
from uuid import UUID

from services.optimizer.applied import AppliedChange, same_value
from shared.connectors.base import Change
from shared.contracts.enums import RollbackConflictKind


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
