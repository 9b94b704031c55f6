import uuid
from datetime import UTC, datetime

import pytest
from multidict import MultiDict

from services.gateway.audit import audit_row
from services.gateway.status import overall
from services.optimizer.core.recommend import (
    decision_action,
    decision_campaign,
    recommendation_from_decision,
)
from shared.contracts import route_for
from shared.contracts.decision import DecisionMade
from shared.events import Envelope
from shared.pagination import BadCursor, decode_cursor, encode_cursor
from shared.resources import Resource, parse_list_query, parse_text, parse_uuid_filter
from shared.schemas import ResponseModel
from shared.web import ApiError


class Row(ResponseModel):
    id: uuid.UUID
    status: str
    affected_entity_id: uuid.UUID | None


ALERTS = Resource(
    name="alert",
    table="t",
    model=Row,
    filters=("status", "affected_entity_id"),
)


def decision(**fields: object) -> DecisionMade:
    base: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "cycle_id": None,
        "decision_type": "keyword_bid",
        "context_data": {},
        "decision_rationale": None,
        "confidence_score": None,
        "action_taken": None,
        "impact_prediction": None,
        "actual_impact": None,
        "validation_status": "pending",
        "created_at": "2026-11-01T10:00:00Z",
    }
    return DecisionMade.model_validate(base | fields)


def test_cursor_round_trip() -> None:
    ts, id_ = datetime(2026, 11, 1, 10, 0, 0, 123456, tzinfo=UTC), uuid.uuid4()
    assert decode_cursor(encode_cursor(ts, id_)) == (ts, id_)


@pytest.mark.parametrize(
    "bad",
    ["", "bm9wZQ", "!!!", encode_cursor(datetime(2026, 1, 1, tzinfo=UTC), uuid.UUID(int=1))[:-3]],
)
def test_foreign_cursors_are_refused(bad: str) -> None:
    with pytest.raises(BadCursor):
        decode_cursor(bad)


def test_list_query_defaults_and_filters() -> None:
    entity = uuid.uuid4()
    q = parse_list_query(ALERTS, MultiDict(status="active", affected_entity_id=str(entity)))
    assert q.limit == 50 and q.after is None
    assert q.equals == {"status": "active", "affected_entity_id": entity}


def test_list_query_names_every_bad_parameter() -> None:
    with pytest.raises(ApiError) as caught:
        parse_list_query(ALERTS, MultiDict(limit="0", affected_entity_id="nope", colour="red"))
    err = caught.value
    assert err.status == 422
    assert {f["field"] for f in err.details["fields"]} == {"limit", "affected_entity_id", "colour"}


def test_page_size_is_capped() -> None:
    assert parse_list_query(ALERTS, MultiDict(limit="500")).limit == 500
    with pytest.raises(ApiError):
        parse_list_query(ALERTS, MultiDict(limit="501"))


def test_route_lookup_answers_head_as_get_and_knows_nothing_else() -> None:
    get = route_for("GET", "/api/ai/alerts/{id}")
    assert get is not None and route_for("HEAD", "/api/ai/alerts/{id}") is get
    assert route_for("DELETE", "/api/ai/alerts/{id}") is None
    assert route_for("GET", "/api/ai/unknown") is None


def test_resource_columns_are_its_models_fields() -> None:
    assert ALERTS.columns == ("id", "status", "affected_entity_id")
    assert ALERTS.select_list == "id, status, affected_entity_id"


def test_filters_are_read_as_their_columns_type() -> None:
    assert ALERTS.parsers == {"status": parse_text, "affected_entity_id": parse_uuid_filter}
    with pytest.raises(ValueError, match="unknown columns"):
        Resource(name="x", table="t", model=Row, filters=("colour",))


def test_overall_status() -> None:
    assert overall([{"status": "up"}, {"status": "up"}]) == "operational"
    assert overall([{"status": "up"}, {"status": "down"}]) == "degraded"
    assert overall([{"status": "down"}, {"status": "degraded"}]) == "down"


def test_decision_without_action_plans_nothing() -> None:
    assert decision_action(decision()) is None


def test_decision_maps_to_recommendation() -> None:
    decision_id, campaign = uuid.uuid4(), uuid.uuid4()
    made = decision(
        id=str(decision_id),
        decision_type="campaign_pause",
        action_taken="pause_campaign",
        confidence_score=93.0,
        impact_prediction={"metric": "spend"},
        context_data={
            "campaign_id": str(campaign),
            "action": {"kind": "status", "to": "paused"},
        },
    )
    assert decision_action(made) == {"kind": "status", "to": "paused"}
    assert decision_campaign(made) == campaign
    held = {"reason": "needs_approval", "detail": "confidence 93 is under 95"}
    rec = recommendation_from_decision(
        made, campaign, {"kind": "status", "to": "paused", "held_back": held}, None
    )
    assert rec["recommendation_type"] == "campaign_control"
    assert rec["target_entity_id"] == campaign
    assert rec["source_decision_id"] == decision_id
    assert rec["confidence_level"] == 9.3
    assert rec["priority_score"] == 9
    assert rec["recommended_changes"] == {
        "action": "pause_campaign",
        "kind": "status",
        "to": "paused",
        "held_back": held,
    }


def test_audit_row_summarises_bulk_payloads() -> None:
    event = Envelope(
        type="metrics.recorded",
        tenant_id=uuid.uuid4(),
        source="gateway",
        payload={"metrics": [{"a": 1}] * 3, "batch": "b1"},
    )
    row = audit_row(event)
    assert row["after_state"] == {"metrics": 3, "batch": "b1"}
    assert row["actor_id"] == "gateway" and row["action"] == "metrics.recorded"
    assert row["resource_type"] == "metrics"


async def test_an_unreachable_database_is_a_503_with_retry_after_not_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    import asyncpg
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from shared.web import error_middleware

    async def refused(_request: web.Request) -> web.Response:
        try:
            raise ConnectionRefusedError(111, "Connect call failed")
        except ConnectionRefusedError as exc:
            # How a pooled connection lost mid-transaction surfaces.
            raise asyncpg.InterfaceError("the underlying connection is closed") from exc

    async def broken(_request: web.Request) -> web.Response:
        raise ValueError("a bug")

    async def not_ready(_request: web.Request) -> web.Response:
        return web.json_response({"status": "not_ready"}, status=503)

    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/refused", refused)
    app.router.add_get("/broken", broken)
    app.router.add_get("/not-ready", not_ready)
    caplog.set_level(logging.WARNING)
    async with TestClient(TestServer(app)) as client:
        for _ in range(3):
            response = await client.get("/refused")
            assert response.status == 503
            assert response.headers["Retry-After"].isdigit()
            body = await response.json()
            assert body["error"]["code"] == "dependency_unavailable"
        outage_lines = [r for r in caplog.records if "dependency unavailable" in r.getMessage()]
        assert len(outage_lines) <= 1 and all(r.exc_info is None for r in outage_lines)
        response = await client.get("/not-ready")
        assert response.status == 503 and response.headers["Retry-After"].isdigit()
        response = await client.get("/broken")
        assert response.status == 500 and "Retry-After" not in response.headers
    assert any(r.exc_info is not None for r in caplog.records if "unhandled" in r.getMessage())
