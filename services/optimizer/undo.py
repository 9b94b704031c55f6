"""Rolling back an applied optimization: plan the undo under the campaign's lock, or say
which later change it would overwrite."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import asyncpg

from services.optimizer.applied import current_value
from services.optimizer.campaigns import read_account, store_states
from services.optimizer.execution import (
    Cause,
    applied_change_of,
    applied_changes,
    in_flight_change,
    insert_pending,
    lock_campaign,
)
from services.optimizer.limits import Apply
from services.optimizer.platform import CORRELATION, connector_of
from services.optimizer.rollback import RollbackConflict, plan_rollback
from shared.connectors import ConnectorError, UnknownCampaign
from shared.contracts.optimizer import OPTIMIZATION_HISTORY
from shared.resources import fetch_one
from shared.service import ServiceRuntime
from shared.web import ApiError


async def plan_undo(
    conn: asyncpg.Connection,
    runtime: ServiceRuntime,
    tenant: UUID,
    optimization_id: UUID,
    *,
    force: bool,
    correlation_id: UUID | None,
) -> dict[str, Any]:
    """The pending optimization that undoes ``optimization_id``; raises :class:`ApiError`
    (404, 409 ``not_applied``/``in_flight``/``rollback_conflict``, 502 ``platform_unavailable``).

    An undo restores a value the campaign had before, so the step and daily limits do not
    hold it back: undoing must stay possible after the limits are used up.
    """
    target_row = await fetch_one(conn, OPTIMIZATION_HISTORY, tenant, optimization_id)
    campaign_id = target_row["target_entity_id"]
    if target_row["status"] != "applied" or campaign_id is None or target_row["setting"] is None:
        raise ApiError(
            409,
            "not_applied",
            f"optimization {optimization_id} is {target_row['status']}; only an applied "
            "change can be rolled back",
            {"status": target_row["status"]},
        )
    await lock_campaign(conn, tenant, campaign_id)
    in_flight = await in_flight_change(conn, tenant, campaign_id, target_row["setting"])
    if in_flight is not None:
        raise ApiError(
            409,
            "in_flight",
            f"optimization {in_flight} is changing this setting of the campaign; try again "
            "when it has finished",
            {"optimization_id": str(in_flight)},
        )
    connector = connector_of(runtime)
    token = CORRELATION.set(correlation_id)
    try:
        observed = await read_account(connector, tenant)
        snapshot = observed.snapshot
        state = snapshot.campaign(campaign_id)
    except UnknownCampaign as exc:
        raise ApiError(409, "unknown_campaign", str(exc)) from exc
    except ConnectorError as exc:
        raise ApiError(
            502, "platform_unavailable", f"the ad platform could not be asked: {exc}"
        ) from exc
    finally:
        CORRELATION.reset(token)
    await store_states(conn, tenant, connector.name, [state], snapshot.as_of, observed.at)
    target = applied_change_of(target_row, "applied_at")
    later = await applied_changes(conn, tenant, campaign_id, target.applied_at, "applied_at")
    current = current_value(state, target.kind)
    planned = plan_rollback(target, later, current=current, force=force)
    if isinstance(planned, RollbackConflict):
        # Records are named by optimization id: ``later_change_ids`` are optimizations.
        raise ApiError(409, "rollback_conflict", planned.detail, planned.as_dict())
    cause = Cause(
        "rollback",
        optimization_id,
        key=f"rollback:{optimization_id}:{uuid4()}",
        rollback_of=optimization_id,
        by_person=True,
        correlation_id=correlation_id,
    )
    verdict = Apply(planned.change, planned.replaces, planned.change.value)
    row = await insert_pending(
        conn,
        tenant,
        verdict,
        state,
        snapshot.as_of,
        cause,
        uuid4(),
        connector.name,
    )
    if planned.overrides:
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
