"""The OpenAPI document the gateway derives from the contracts: valid, complete in what
each operation can answer, and describing what the code really sends and accepts."""

from __future__ import annotations

import copy
import json
import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from ipaddress import IPv4Interface
from typing import Any

import pytest
from asyncpg.pgproto.pgproto import UUID as PgUUID
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError
from multidict import MultiDict
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from pydantic import ValidationError
from referencing.exceptions import Unresolvable

from services.alerts.health import with_liveness
from services.gateway.audit import audit_row
from services.gateway.keys import new_key
from services.gateway.openapi import build_openapi
from services.gateway.status import overall
from shared.contracts import ROUTES, route_for
from shared.contracts.alerts import ALERTS, SYSTEM_HEALTH, Alert, AlertCreate
from shared.contracts.gateway import (
    AUDIT_TRAIL,
    KEYS,
    ApiKeyCreate,
    ApiKeyCreated,
    AuditEntry,
    MetricsAccepted,
    SystemStatus,
)
from shared.contracts.spec import Route
from shared.events import Envelope
from shared.models import RequestModel
from shared.pagination import encode_cursor
from shared.resources import parse_list_query
from shared.schemas import ErrorBody
from shared.web import ApiError, dumps, error_response, invalid

PREFIX = "/api/ai"
SPEC = build_openapi()
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
INSTANT = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
LISTS = [r for r in ROUTES if r.method == "GET" and r.resource is not None and "{" not in r.path]


def test_spec_is_valid_openapi_3_1() -> None:
    assert SPEC["openapi"].startswith("3.1.")
    validate(SPEC, cls=OpenAPIV31SpecValidator)


def test_the_validator_would_notice_a_broken_document() -> None:
    wrong_place = copy.deepcopy(SPEC)
    wrong_place["paths"][f"{PREFIX}/alerts"]["get"]["parameters"][0]["in"] = "body"
    with pytest.raises(OpenAPIValidationError, match="body"):
        validate(wrong_place, cls=OpenAPIV31SpecValidator)
    undeclared = copy.deepcopy(SPEC)
    del undeclared["paths"][f"{PREFIX}/alerts/{{id}}"]["get"]["parameters"]
    with pytest.raises(OpenAPIValidationError, match="Path parameter 'id'"):
        validate(undeclared, cls=OpenAPIV31SpecValidator)
    dangling = copy.deepcopy(SPEC)
    del dangling["components"]["schemas"]["Alert"]
    with pytest.raises(Unresolvable):
        validate(dangling, cls=OpenAPIV31SpecValidator)


def test_every_ref_resolves() -> None:
    text = json.dumps(SPEC)
    for kind, name in re.findall(r'"#/components/(\w+)/([^"]+)"', text):
        assert name in SPEC["components"][kind], f"{kind}/{name}"


def test_security_is_bearer_or_api_key() -> None:
    schemes = SPEC["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKeyAuth"] == {
        **schemes["apiKeyAuth"],
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
    assert SPEC["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}]


def test_build_returns_a_copy_callers_may_edit() -> None:
    first = build_openapi()
    first["components"]["securitySchemes"].clear()
    first["paths"][f"{PREFIX}/alerts"]["get"]["parameters"][0]["schema"]["maximum"] = 1
    second = build_openapi()
    assert second["components"]["securitySchemes"]
    assert second["paths"][f"{PREFIX}/alerts"]["get"]["parameters"][0]["schema"]["maximum"] == 500


def test_error_responses_carry_their_headers() -> None:
    responses = SPEC["components"]["responses"]
    assert set(responses["Unauthorized"]["headers"]) == {"WWW-Authenticate"}
    assert set(responses["TooManyRequests"]["headers"]) == {"Retry-After"}
    assert set(responses["Conflict"]["headers"]) == {"Retry-After"}
    assert "headers" not in responses["NotFound"]


def test_error_responses_match_what_each_operation_can_do() -> None:
    for path, item in SPEC["paths"].items():
        for method, doc in item.items():
            statuses = set(doc["responses"])
            # 400 also for a request the HTTP server cannot read, whatever the route.
            assert {"400", "401", "403", "429", "500"} <= statuses, f"{method} {path}"
            assert ("404" in statuses) == ("{id}" in path), f"{method} {path}"
            has_body = "requestBody" in doc
            # Every call that changes something takes an Idempotency-Key: malformed is a
            # 400, reused for another request a 422, still in flight a 409.
            keyed = method in {"post", "put", "patch"}
            assert ("413" in statuses) == has_body, f"{method} {path}"
            assert ("422" in statuses) == (has_body or keyed or bool(_query_names(doc))), path
            can_conflict = keyed or (
                path.startswith((f"{PREFIX}/alerts/{{id}}/", f"{PREFIX}/recommendations/{{id}}/"))
                or path == f"{PREFIX}/optimizations/{{id}}/rollback"
                # An experiment can be deleted only while it is planning.
                or (method == "delete" and path == f"{PREFIX}/experiments/{{id}}")
                # Shipped seed rows and computed benchmarks are no one's to delete.
                or (method == "delete" and path == f"{PREFIX}/benchmarks/{{id}}")
            )
            assert ("409" in statuses) == can_conflict, (method, path)
            route = route_for(method.upper(), path)
            assert route is not None
            forwarded = route.owner != "gateway"
            assert ({"503", "504"} <= statuses) == forwarded, f"{method} {path}"
            assert ("503" in statuses) == forwarded, f"{method} {path}"


def _query_names(doc: dict[str, Any]) -> list[str]:
    return [p["name"] for p in doc.get("parameters", []) if p["in"] == "query"]


def test_success_statuses() -> None:
    creates = {
        f"{PREFIX}/{s}"
        for s in (
            "cycles",
            "decisions",
            "learning-feedback",
            "alerts",
            "recommendations",
            "keys",
            "automation-rules",
            "optimizations/{id}/rollback",
            "experiments",
            "experiments/{id}/results",
            "forecasts",
            "budgets",
            "budgets/{id}/reallocate",
            "benchmarks",
            "connections",
        )
    }
    for path, item in SPEC["paths"].items():
        for method, doc in item.items():
            success = [s for s in doc["responses"] if s.startswith("2")]
            if method == "post" and path in creates:
                expected = "201"
            elif (method, path) == ("post", f"{PREFIX}/metrics"):
                expected = "202"
            else:
                expected = "200"
            assert success == [expected], f"{method} {path}"


def _sample(schema: dict[str, Any]) -> str:
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if schema.get("format") == "date-time":
        return "2026-11-01T10:00:00Z"
    return {"boolean": "true", "integer": "10", "string": "x"}[schema["type"]]


@pytest.mark.parametrize("route", LISTS, ids=[r.path for r in LISTS])
def test_documented_list_parameters_are_the_ones_the_code_accepts(route: Route) -> None:
    doc = SPEC["paths"][route.path]["get"]
    params = {p["name"]: p["schema"] for p in doc["parameters"]}
    resource = route.resource
    assert resource is not None
    if route.kind != "list":
        assert set(params) == {q.name for q in route.query}
        return
    query = MultiDict({name: _sample(schema) for name, schema in params.items()})
    query["cursor"] = encode_cursor(datetime(2026, 11, 1, tzinfo=UTC), uuid.uuid4())
    parsed = parse_list_query(resource, query)
    assert parsed.limit == 10
    with pytest.raises(ApiError):
        parse_list_query(resource, MultiDict({"undocumented": "x"}))


def test_audit_trail_has_time_bounds_and_path_ids_are_uuids() -> None:
    doc = SPEC["paths"][f"{PREFIX}/audit-trail"]["get"]
    params = {p["name"]: p["schema"] for p in doc["parameters"]}
    assert params["since"] == params["until"] == {"type": "string", "format": "date-time"}
    assert params["limit"] == {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}
    for path, item in SPEC["paths"].items():
        for doc in item.values():
            for p in doc.get("parameters", []):
                if p["in"] == "path":
                    assert p == {
                        **p,
                        "required": True,
                        "schema": {"type": "string", "format": "uuid"},
                    }
                    assert f"{{{p['name']}}}" in path


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _objects(schema: dict[str, Any], seen: set[str] | None = None) -> list[dict[str, Any]]:
    """Every object schema with declared properties reachable from ``schema``."""
    seen = set() if seen is None else seen
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return []
        seen.add(name)
        schema = SCHEMAS[name]
    found = [schema] if "properties" in schema else []
    children = [*schema.get("properties", {}).values(), *schema.get("anyOf", [])]
    if isinstance(schema.get("items"), dict):
        children.append(schema["items"])
    for child in children:
        found += _objects(child, seen)
    return found


def test_request_bodies_forbid_additional_properties() -> None:
    bodies = {}
    for path, item in SPEC["paths"].items():
        for method, doc in item.items():
            if "requestBody" in doc:
                assert method in ("post", "put", "patch")
                schema = doc["requestBody"]["content"]["application/json"]["schema"]
                bodies[_resolve(schema)["title"]] = schema
                for obj in _objects(schema):
                    assert obj.get("additionalProperties") is False, f"{path}: {obj['title']}"
    assert set(bodies) == {
        "CycleCreate",
        "DecisionCreate",
        "FeedbackCreate",
        "AlertCreate",
        "RecommendationCreate",
        "MetricsBatch",
        "ApiKeyCreate",
        "PreferencesUpdate",
        "RuleCreate",
        "RuleUpdate",
        "RollbackRequest",
        "ExperimentCreate",
        "ExperimentUpdate",
        "ResultsSubmit",
        "AnalyzeRequest",
        "ConcludeRequest",
        "ForecastRequest",
        "PoolCreate",
        "PoolUpdate",
        "BenchmarkCreate",
        "BenchmarkUpdate",
        "ConnectionCreate",
        "ConnectionUpdate",
    }
    assert _resolve(bodies["MetricsBatch"])["properties"]["metrics"]["items"] == {
        "$ref": "#/components/schemas/MetricRow"
    }


def test_api_key_create_is_a_strict_request_model() -> None:
    assert issubclass(ApiKeyCreate, RequestModel)
    assert ApiKeyCreate(name=" ci ", role="operator").name == "ci"
    for bad in (
        {"name": "ci", "role": "root"},
        {"name": "", "role": "viewer"},
        {"name": "x" * 201, "role": "viewer"},
        {"name": "ci", "role": "viewer", "tenant_id": str(uuid.uuid4())},
        {"role": "viewer"},
    ):
        with pytest.raises(ValidationError):
            ApiKeyCreate.model_validate(bad)


def _response_schema(path: str, method: str = "get", status: str = "200") -> Draft202012Validator:
    schema = SPEC["paths"][path][method]["responses"][status]["content"]["application/json"]
    root = {**schema["schema"], "components": SPEC["components"]}
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _wire(data: Any) -> Any:
    """What the API sends for ``data``: the same serialiser the routes use."""
    return json.loads(dumps(data))


def test_an_alert_as_created_and_as_transitioned() -> None:
    body = AlertCreate(
        alert_type="performance_anomaly",
        title="CTR dropped",
        affected_entity_type="campaign",
        affected_entity_id=uuid.uuid4(),
        recommended_actions=[{"action": "pause"}],
    )
    row = {
        "id": PgUUID(str(uuid.uuid4())),
        **body.model_dump(),
        "auto_action_taken": False,
        "status": "active",
        "alert_key": None,
        "occurrences": 1,
        "evidence": None,
        "first_seen_hour": None,
        "last_seen_hour": None,
        "created_at": INSTANT,
        "updated_at": INSTANT,
        "acknowledged_at": None,
        "resolved_at": None,
    }
    assert set(row) == set(ALERTS.columns)
    Alert.model_validate(row)
    _response_schema(f"{PREFIX}/alerts", "post", "201").validate(_wire(row))
    resolved = {**row, "status": "resolved", "resolved_at": INSTANT}
    _response_schema(f"{PREFIX}/alerts/{{id}}/resolve", "post").validate(_wire(resolved))
    with pytest.raises(SchemaError):
        _response_schema(f"{PREFIX}/alerts/{{id}}").validate(_wire({**row, "status": "closed"}))


def test_audit_rows_as_recorded() -> None:
    event = Envelope(
        type="alert.raised",
        tenant_id=uuid.uuid4(),
        source="alerts",
        payload={"id": str(uuid.uuid4()), "before": {"status": "active"}, "severity": "high"},
    )
    from_event = {
        "id": PgUUID(str(uuid.uuid4())),
        **audit_row(event),
        "principal_id": None,
        "request_id": None,
        "ip_address": None,
        "status_code": None,
        "created_at": INSTANT,
    }
    # The shape the gateway writes for a request that changed something.
    from_request = {
        **from_event,
        "actor_type": "user",
        "actor_id": f"key:{uuid.uuid4()}",
        "principal_id": "api_key",
        "action": "POST /api/ai/alerts",
        "request_id": "req-1",
        "ip_address": IPv4Interface("10.1.0.0/16"),
        "status_code": 201,
        "event_id": None,
        "event_type": None,
        "metadata": {"role": "operator", "user_agent": "curl/8"},
    }
    get = _response_schema(f"{PREFIX}/audit-trail/{{id}}")
    for row in (from_event, from_request):
        assert set(row) == set(AUDIT_TRAIL.columns)
        AuditEntry.model_validate(row)
        get.validate(_wire(row))
    assert AuditEntry.model_validate(from_request).ip_address == "10.1.0.0/16"


def test_latest_heartbeats_as_listed() -> None:
    beat = {
        "id": PgUUID(str(uuid.uuid4())),
        "component_name": "alerts",
        "health_status": "healthy",
        "performance_metrics": {"heartbeat_seconds": 15.0, "service": "alerts"},
        "error_logs": [],
        "last_heartbeat": INSTANT,
        "uptime_percentage": Decimal("99.50"),
        "created_at": INSTANT,
    }
    assert set(beat) == set(SYSTEM_HEALTH.columns)
    stale = with_liveness(beat, datetime(2026, 11, 2, tzinfo=UTC))
    assert stale["health_status"] == "offline"
    page = {"items": [beat, stale], "next_cursor": None}
    _response_schema(f"{PREFIX}/system-health").validate(_wire(page))


def test_gateway_answers_fit_their_models() -> None:
    reports = [{"service": "gateway", "status": "up"}, {"service": "alerts", "status": "down"}]
    status = {"status": overall(reports), "services": {r["service"]: r for r in reports}}
    SystemStatus.model_validate(status)
    _response_schema(f"{PREFIX}/system-status").validate(_wire(status))
    accepted = {"accepted": 3, "campaign_hours": 2}
    MetricsAccepted.model_validate(accepted)
    _response_schema(f"{PREFIX}/metrics", "post", "202").validate(accepted)
    with pytest.raises(SchemaError):
        _response_schema(f"{PREFIX}/system-status").validate({**status, "status": "up"})


@pytest.mark.parametrize(
    "error",
    [
        ApiError(404, "not_found", "alert x not found"),
        invalid("query parameters are invalid", [{"field": "limit", "message": "too big"}]),
        ApiError(409, "invalid_transition", "no", {"status": "resolved", "action": "resolve"}),
    ],
    ids=["404", "422", "409"],
)
def test_error_bodies_fit_the_document(error: ApiError) -> None:
    response = error_response(error)
    assert isinstance(response.body, bytes)
    body = json.loads(response.body)
    ErrorBody.model_validate(body)
    name = SPEC["components"]["responses"]["NotFound"]["content"]["application/json"]["schema"]
    root = {**name, "components": SPEC["components"]}
    Draft202012Validator(root).validate(body)
    with pytest.raises(SchemaError):
        Draft202012Validator(root).validate({"error": {**body["error"], "extra": 1}})


def test_a_new_api_key_as_answered() -> None:
    key, prefix = new_key()
    row = {
        "id": PgUUID(str(uuid.uuid4())),
        "name": "ci",
        "role": "operator",
        "prefix": prefix,
        "created_at": INSTANT,
        "revoked_at": None,
        "last_used_at": None,
    }
    assert set(row) == set(KEYS.columns)
    created = {**row, "tenant_id": uuid.uuid4(), "key": key}
    ApiKeyCreated.model_validate(created)
    _response_schema(f"{PREFIX}/keys", "post", "201").validate(_wire(created))
    revoked = {**row, "revoked_at": INSTANT}
    _response_schema(f"{PREFIX}/keys/{{id}}/revoke", "post").validate(_wire(revoked))
    with pytest.raises(SchemaError):
        _response_schema(f"{PREFIX}/keys/{{id}}/revoke", "post").validate(_wire(created))


def test_every_change_takes_an_idempotency_key_and_no_read_does() -> None:
    for path, item in SPEC["paths"].items():
        for method, doc in item.items():
            headers = [p for p in doc.get("parameters", []) if p["in"] == "header"]
            success = next(v for k, v in doc["responses"].items() if k.startswith("2"))
            if method in {"post", "put", "patch"}:
                assert [h["name"] for h in headers] == ["Idempotency-Key"], (method, path)
                schema = headers[0]["schema"]
                assert (schema["minLength"], schema["maxLength"]) == (1, 255)
                assert headers[0]["required"] is False
                assert set(success["headers"]) == {"Idempotent-Replayed"}, (method, path)
            else:
                assert headers == [], (method, path)
                assert "headers" not in success, (method, path)
