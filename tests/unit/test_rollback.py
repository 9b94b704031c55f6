"""Rollback: safe undo, conflicts with later changes, force, and undoing an undo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from services.optimizer.core.limits import AppliedChange
from services.optimizer.core.rollback import RollbackConflict, RollbackPlan, plan_rollback
from shared.connectors.base import Change, ChangeKind, InvalidChange
from shared.contracts.enums import RollbackConflictKind

A = UUID(int=0xA)
B = UUID(int=0xB)
T0 = datetime(2025, 3, 12, 9, tzinfo=UTC)
HOUR = timedelta(hours=1)


def change(
    before: float | str,
    after: float | str,
    hours: float,
    *,
    kind: ChangeKind = "budget",
    entity: UUID = A,
    rollback_of: UUID | None = None,
) -> AppliedChange:
    return AppliedChange(
        uuid4(),
        entity,
        kind,
        before,
        after,
        T0 + hours * HOUR,
        rollback_of,
    )


def safe(result: RollbackPlan | RollbackConflict) -> RollbackPlan:
    assert isinstance(result, RollbackPlan), result
    return result


def conflict(result: RollbackPlan | RollbackConflict) -> RollbackConflict:
    assert isinstance(result, RollbackConflict), result
    return result


X = change(100.0, 120.0, 0)


def test_a_change_nothing_followed_is_restored_to_its_before() -> None:
    plan = safe(plan_rollback(X, []))
    assert plan.change == Change("budget", X.before)
    assert plan.replaces == X.after
    assert plan.overrides == ()


def test_later_changes_to_other_settings_or_entities_do_not_conflict() -> None:
    later = [
        change(1.0, 1.2, 1, kind="bid"),
        change("active", "paused", 2, kind="status"),
        change(120.0, 150.0, 3, entity=B),
    ]
    assert safe(plan_rollback(X, later)).change == Change("budget", X.before)


def test_changes_before_the_one_undone_do_not_conflict() -> None:
    earlier = change(80.0, 100.0, -1)
    assert isinstance(plan_rollback(X, [earlier]), RollbackPlan)


def test_a_later_change_to_the_same_setting_is_a_conflict_that_names_it() -> None:
    y = change(120.0, 150.0, 2)
    found = conflict(plan_rollback(X, [y]))
    assert found.kind is RollbackConflictKind.LATER_CHANGE
    assert found.later == (y,)
    assert str(y.change_id) in found.detail
    assert found.as_dict()["later_change_ids"] == [str(y.change_id)]


def test_a_change_in_the_same_instant_counts_as_later() -> None:
    same_time = change(120.0, 150.0, 0)
    assert conflict(plan_rollback(X, [same_time])).later == (same_time,)


def test_several_later_changes_are_all_named_oldest_first() -> None:
    y, z = change(120.0, 150.0, 2), change(150.0, 130.0, 3)
    assert conflict(plan_rollback(X, [z, y])).later == (y, z)


def test_force_overrides_the_later_change_and_says_so() -> None:
    y = change(120.0, 150.0, 2)
    plan = safe(plan_rollback(X, [y], force=True))
    assert plan.change == Change("budget", X.before)
    assert plan.overrides == (y,)
    assert plan.replaces == y.after  # what the rollback overwrites is the later value


def test_a_later_change_that_was_itself_rolled_back_does_not_conflict() -> None:
    y = change(120.0, 150.0, 2)
    y_undone = change(150.0, 120.0, 3, rollback_of=y.change_id)
    plan = safe(plan_rollback(X, [y, y_undone]))
    assert plan.replaces == X.after


def test_a_rollback_is_a_change_that_can_be_rolled_back() -> None:
    undo = safe(plan_rollback(X, [])).applied(uuid4(), T0 + HOUR)
    assert (undo.before, undo.after) == (X.after, X.before)
    assert undo.rollback_of == X.change_id
    assert (undo.entity_id, undo.kind) == (X.entity_id, X.kind)

    redo = safe(plan_rollback(undo, []))
    assert redo.change == Change("budget", X.after)
    assert redo.applied(uuid4(), T0 + 2 * HOUR).rollback_of == undo.change_id


def test_undoing_a_change_twice_is_a_conflict_naming_the_first_undo() -> None:
    undo = safe(plan_rollback(X, [])).applied(uuid4(), T0 + HOUR)
    found = conflict(plan_rollback(X, [undo]))
    assert found.kind is RollbackConflictKind.ALREADY_ROLLED_BACK
    assert found.later == (undo,)


def test_after_an_undo_is_undone_the_redo_is_what_a_second_undo_would_overwrite() -> None:
    undo = safe(plan_rollback(X, [])).applied(uuid4(), T0 + HOUR)
    redo = safe(plan_rollback(undo, [])).applied(uuid4(), T0 + 2 * HOUR)
    found = conflict(plan_rollback(X, [undo, redo]))
    assert found.kind is RollbackConflictKind.ALREADY_ROLLED_BACK
    assert found.later == (redo,)
    # the way out: undo the redo, which nothing followed
    assert safe(plan_rollback(redo, [])).change == Change("budget", X.before)


def test_a_value_changed_outside_the_optimizer_is_a_conflict() -> None:
    found = conflict(plan_rollback(X, [], current=130.0))
    assert found.kind is RollbackConflictKind.CHANGED_ELSEWHERE
    assert "130" in found.detail and "120" in found.detail
    assert safe(plan_rollback(X, [], current=X.after)).replaces == X.after
    forced = safe(plan_rollback(X, [], current=130.0, force=True))
    assert forced.replaces == 130.0 and forced.change == Change("budget", X.before)


def test_the_platform_value_is_compared_at_the_settings_precision() -> None:
    # 120.0000001 is 120.00 in cents: the same budget
    assert isinstance(plan_rollback(X, [], current=120.0000001), RollbackPlan)


def test_a_pause_is_undone_by_a_resume() -> None:
    pause = change("active", "paused", 0, kind="status")
    plan = safe(plan_rollback(pause, []))
    assert plan.change == Change("status", "active")
    resume = change("paused", "active", 1, kind="status")
    assert conflict(plan_rollback(pause, [resume])).later == (resume,)


def test_a_before_no_setting_can_take_is_an_error() -> None:
    broken = change(-5.0, 10.0, 0)
    with pytest.raises(InvalidChange):
        plan_rollback(broken, [])
