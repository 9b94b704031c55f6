"""The OpenAPI document and the response models, checked against the tables and the routes."""

from __future__ import annotations

import copy
import json
import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from ipaddress import IPv4Interface, ip_address
from pathlib import Path
from typing import Any, cast
from unittest.mock import Mock

import pytest
from aiohttp import web
from asyncpg.pgproto.pgproto import UUID as PgUUID
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError
from multidict import MultiDict
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from pydantic import BaseModel, ValidationError
from referencing.exceptions import Unresolvable

from services.alerts import routes as alerts_routes
from services.alerts import schemas as alerts_schemas
from services.alerts.health import with_liveness
from services.alerts.lifecycle import ALERT_LIFECYCLE
from services.alerts.models import AlertCreate
from services.alerts.resources import ALERTS, SYSTEM_HEALTH
from services.decision import routes as decision_routes
from services.decision import schemas as decision_schemas
from services.gateway import routes as gateway_routes
from services.gateway import schemas as gateway_schemas
from services.gateway.audit import AUDIT_TRAIL, audit_row
from services.gateway.keys import KEYS, new_key
from services.gateway.openapi import COLLECTIONS, build_spec, operation_paths, operations
from services.gateway.permissions import required_role
from services.gateway.schemas import ApiKeyCreate, ApiKeyCreated, MetricsAccepted, SystemStatus
from services.gateway.status import overall
from services.gateway.upstreams import UPSTREAMS
from services.optimizer import routes as optimizer_routes
from services.optimizer import schemas as optimizer_schemas
from services.optimizer.lifecycle import RECOMMENDATION_LIFECYCLE
from shared.events import Envelope
from shared.models import RequestModel
from shared.openapi import Operation, build
from shared.pagination import encode_cursor
from shared.resources import Resource, parse_list_query
from shared.schemas import ErrorBody, page_of
from shared.service import ServiceRuntime
from shared.web import ApiError, dumps, error_response, invalid

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "/api/ai"
SPEC = build_spec()
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]

PAIRS: list[tuple[Resource, type[BaseModel]]] = [
    *decision_schemas.RESPONSE_MODELS,
    *alerts_schemas.RESPONSE_MODELS,
    *optimizer_schemas.RESPONSE_MODELS,
    *gateway_schemas.RESPONSE_MODELS,
]
PAIR_IDS = [resource.table for resource, _ in PAIRS]

# ---------------------------------------------------------------------------------------------
# The tables, read from the migrations, so models are checked against the DDL itself.


@dataclass(frozen=True)
class Column:
    sql_type: str
    not_null: bool
    choices: tuple[str, ...] | None


def _split_top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _column(definition: str) -> tuple[str, Column] | None:
    match = re.match(r"(\w+)\s+(double precision|\w+)", definition)
    if match is None or match[1].upper() in {"PRIMARY", "UNIQUE", "CONSTRAINT", "CHECK"}:
        return None
    name, upper = match[1], definition.upper()
    check = re.search(rf"CHECK \({name} IN \(([^)]*)\)\)", definition)
    choices = tuple(re.findall(r"'([^']*)'", check[1])) if check else None
    not_null = "NOT NULL" in upper or "PRIMARY KEY" in upper
    return name, Column(match[2].lower(), not_null, choices)


def read_tables() -> dict[str, dict[str, Column]]:
    tables: dict[str, dict[str, Column]] = {}
    paths = [*ROOT.glob("shared/migrations/*.sql"), *ROOT.glob("services/*/migrations/*.sql")]
    for path in sorted(paths):
        sql = re.sub(r"--[^\n]*", "", path.read_text())
        for statement in (s.strip() for s in sql.split(";")):
            if created := re.fullmatch(r"CREATE TABLE (\w+) \((.*)\)", statement, re.S):
                columns = (_column(part) for part in _split_top_level(created[2]))
                tables[created[1]] = dict(c for c in columns if c is not None)
            elif altered := re.fullmatch(r"ALTER TABLE (\w+)\s+(.*)", statement, re.S):
                table = tables.setdefault(altered[1], {})
                for clause in _split_top_level(altered[2]):
                    if added := re.fullmatch(r"ADD COLUMN (?:IF NOT EXISTS )?(.*)", clause, re.S):
                        column = _column(added[1])
                        assert column is not None, clause
                        table[column[0]] = column[1]
                    elif dropped := re.fullmatch(r"DROP COLUMN (?:IF EXISTS )?(\w+).*", clause):
                        table.pop(dropped[1], None)
                    elif nulls := re.fullmatch(r"ALTER COLUMN (\w+) (SET|DROP) NOT NULL", clause):
                        table[nulls[1]] = replace(table[nulls[1]], not_null=nulls[2] == "SET")
    return tables


TABLES = read_tables()

EXPECTED_SCHEMA: dict[str, dict[str, str]] = {
    "uuid": {"type": "string", "format": "uuid"},
    "text": {"type": "string"},
    "integer": {"type": "integer"},
    "bigint": {"type": "integer"},
    "numeric": {"type": "number"},
    "double precision": {"type": "number"},
    "boolean": {"type": "boolean"},
    "timestamptz": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "inet": {"type": "string"},
    "jsonb": {"$ref": "#/$defs/JsonValue"},
}


def _field_schema(model: type[BaseModel], field: str) -> tuple[dict[str, Any], bool]:
    """The field's schema without null, and whether null is allowed."""
    schema = model.model_json_schema(mode="serialization")["properties"][field]
    options = schema.get("anyOf", [schema])
    nullable = {"type": "null"} in options
    rest = [o for o in options if o != {"type": "null"}]
    assert len(rest) == 1, f"{field}: {schema}"
    return rest[0], nullable


def test_the_ddl_reader_sees_columns_added_later() -> None:
    alerts = TABLES["ai_smart_alerts"]
    assert alerts["updated_at"] == Column("timestamptz", True, None)
    assert alerts["description"] == Column("text", False, None)
    assert alerts["status"].choices == ("active", "acknowledged", "resolved", "dismissed")
    assert TABLES["ai_risk_management"]["probability_score"].sql_type == "numeric"


# ---------------------------------------------------------------------------------------------
# (a) Models and resources cannot drift apart.


@pytest.mark.parametrize(("resource", "model"), PAIRS, ids=PAIR_IDS)
def test_model_fields_are_exactly_the_resource_columns(
    resource: Resource, model: type[BaseModel]
) -> None:
    assert set(model.model_fields) == set(resource.columns)
    assert model.model_config.get("extra") == "forbid"


def test_every_resource_has_one_response_model() -> None:
    tables = [resource.table for resource, _ in PAIRS]
    assert len(tables) == len(set(tables)) == 16
    documented = {c.resource.table: c.model for c in COLLECTIONS}
    assert documented == {resource.table: model for resource, model in PAIRS}


@pytest.mark.parametrize(("resource", "model"), PAIRS, ids=PAIR_IDS)
def test_model_types_and_nullability_follow_the_ddl(
    resource: Resource, model: type[BaseModel]
) -> None:
    table = TABLES[resource.table]
    for name in resource.columns:
        column = table[name]
        schema, nullable = _field_schema(model, name)
        assert nullable == (not column.not_null), f"{name}: nullable should be {not nullable}"
        shape = {k: schema[k] for k in ("type", "format", "$ref") if k in schema}
        assert shape == EXPECTED_SCHEMA[column.sql_type], f"{name} ({column.sql_type})"
        enum = tuple(schema["enum"]) if "enum" in schema else None
        assert enum == column.choices, f"{name}: values should be the CHECK's {column.choices}"


def test_filters_name_columns() -> None:
    for resource, _ in PAIRS:
        assert set(resource.filters) <= set(resource.columns), resource.name


# ---------------------------------------------------------------------------------------------
# (b) The document is valid OpenAPI 3.1.


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


def test_build_refuses_an_operation_declared_twice() -> None:
    op = Operation("GET", "/x", "get_x", "Get x", "t", MetricsAccepted)
    with pytest.raises(ValueError, match="declared twice"):
        build([op, op], "t", "1")


def test_build_returns_a_copy_callers_may_edit() -> None:
    first = build_spec()
    first["components"]["securitySchemes"].clear()
    first["paths"][f"{PREFIX}/alerts"]["get"]["parameters"][0]["schema"]["maximum"] = 1
    second = build_spec()
    assert second["components"]["securitySchemes"]
    assert second["paths"][f"{PREFIX}/alerts"]["get"]["parameters"][0]["schema"]["maximum"] == 500


# ---------------------------------------------------------------------------------------------
# (c) Routes: every resource is listed and fetched, and the document matches the code.


@pytest.mark.parametrize("segment", sorted(UPSTREAMS))
def test_every_upstream_resource_has_list_and_get(segment: str) -> None:
    paths = operation_paths()
    assert ("GET", f"{PREFIX}/{segment}") in paths
    assert ("GET", f"{PREFIX}/{segment}/{{id}}") in paths
    assert "get" in SPEC["paths"][f"{PREFIX}/{segment}"]
    assert "get" in SPEC["paths"][f"{PREFIX}/{segment}/{{id}}"]


def _implemented_routes() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    runtime = cast(ServiceRuntime, Mock())
    for module in (decision_routes, alerts_routes, optimizer_routes, gateway_routes):
        for route in module.routes(runtime):
            assert isinstance(route, web.RouteDef)
            if route.method == "*":
                continue  # the gateway's catch-all that forwards to the services
            if route.path.endswith("/{action}"):
                lifecycle = LIFECYCLES[route.path.split("/")[3]]
                found |= {
                    (route.method, route.path.replace("{action}", a)) for a in lifecycle.transitions
                }
            else:
                found.add((route.method, route.path))
    return found


LIFECYCLES = {"alerts": ALERT_LIFECYCLE, "recommendations": RECOMMENDATION_LIFECYCLE}

# The document does not describe the route that serves it.
SELF_DESCRIBING = {("GET", f"{PREFIX}/openapi.json")}


def test_every_served_route_is_documented() -> None:
    assert _implemented_routes() - operation_paths() <= SELF_DESCRIBING


def test_every_documented_route_is_served() -> None:
    assert operation_paths() - _implemented_routes() == set()


def test_paths_in_the_document_are_the_catalog() -> None:
    in_document = {
        (method.upper(), path) for path, item in SPEC["paths"].items() for method in item
    }
    assert in_document == operation_paths()
    assert len(operations()) == len(operation_paths())


def _role(method: str, path: str) -> str:
    if path.startswith((f"{PREFIX}/audit-trail", f"{PREFIX}/keys")):
        return "admin"
    return "viewer" if method == "GET" else "operator"


def test_required_roles() -> None:
    for op in operations():
        assert op.required_role == _role(op.method, op.path), f"{op.method} {op.path}"
        item = SPEC["paths"][op.path][op.method.lower()]
        assert item["x-required-role"] == op.required_role


def test_required_roles_are_what_the_gateway_enforces() -> None:
    for op in operations():
        concrete = op.path.replace("{id}", str(uuid.uuid4()))
        assert required_role(op.method, concrete) == op.required_role, f"{op.method} {op.path}"


def test_error_responses_carry_their_headers() -> None:
    responses = SPEC["components"]["responses"]
    assert set(responses["Unauthorized"]["headers"]) == {"WWW-Authenticate"}
    assert set(responses["TooManyRequests"]["headers"]) == {"Retry-After"}
    assert "headers" not in responses["NotFound"]


def test_error_responses_match_what_each_operation_can_do() -> None:
    for path, item in SPEC["paths"].items():
        for method, doc in item.items():
            statuses = set(doc["responses"])
            assert {"401", "403", "429", "500"} <= statuses, f"{method} {path}"
            assert ("404" in statuses) == ("{id}" in path), f"{method} {path}"
            has_body = "requestBody" in doc
            assert ({"400", "413"} <= statuses) == has_body, f"{method} {path}"
            assert ("422" in statuses) == (has_body or bool(_query_names(doc))), path
            can_conflict = path.startswith(
                (f"{PREFIX}/alerts/{{id}}/", f"{PREFIX}/recommendations/{{id}}/")
            ) or (method == "post" and path == f"{PREFIX}/cycles")
            assert ("409" in statuses) == can_conflict, (method, path)
            forwarded = path.split("/")[3] in UPSTREAMS
            assert ({"503", "504"} <= statuses) == forwarded, f"{method} {path}"
            assert ("503" in statuses) == forwarded, f"{method} {path}"


def _query_names(doc: dict[str, Any]) -> list[str]:
    return [p["name"] for p in doc.get("parameters", []) if p["in"] == "query"]


def test_success_statuses() -> None:
    creates = {
        f"{PREFIX}/{s}"
        for s in ("cycles", "decisions", "learning-feedback", "alerts", "recommendations", "keys")
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


@pytest.mark.parametrize("collection", COLLECTIONS, ids=[c.segment for c in COLLECTIONS])
def test_documented_list_parameters_are_the_ones_the_code_accepts(collection: Any) -> None:
    doc = SPEC["paths"][collection.path]["get"]
    params = {p["name"]: p["schema"] for p in doc["parameters"]}
    if not collection.standard_list:
        assert set(params) == {"component_name", "limit"}
        return
    expected = {"limit", "cursor", *collection.resource.filters}
    if collection.resource.time_filters:
        expected |= {"since", "until"}
    assert set(params) == expected
    query = MultiDict({name: _sample(schema) for name, schema in params.items()})
    query["cursor"] = encode_cursor(datetime(2026, 11, 1, tzinfo=UTC), uuid.uuid4())
    parsed = parse_list_query(collection.resource, query)
    assert parsed.limit == 10
    with pytest.raises(ApiError):
        parse_list_query(collection.resource, MultiDict({"undocumented": "x"}))


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


# ---------------------------------------------------------------------------------------------
# (d) Request bodies refuse what they do not know.


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
                assert method == "post"
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


# ---------------------------------------------------------------------------------------------
# (e) Rows as the database returns them fit the models, and their wire form fits the document.

INSTANT = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


def _db_value(column: Column) -> Any:
    if column.choices:
        return column.choices[-1]
    return {
        "uuid": PgUUID(str(uuid.uuid4())),
        "text": "some text",
        "integer": 7,
        "bigint": 7,
        "numeric": Decimal("12.50"),
        "double precision": 12.5,
        "boolean": True,
        "timestamptz": INSTANT,
        "date": date(2026, 11, 1),
        "inet": ip_address("203.0.113.7"),
        "jsonb": {"clicks": [1, 2.5, None], "note": "x"},
    }[column.sql_type]


def _row(resource: Resource, *, nulls: bool = False) -> dict[str, Any]:
    table = TABLES[resource.table]
    return {
        name: None if nulls and not table[name].not_null else _db_value(table[name])
        for name in resource.columns
    }


def _response_schema(path: str, method: str = "get", status: str = "200") -> Draft202012Validator:
    schema = SPEC["paths"][path][method]["responses"][status]["content"]["application/json"]
    root = {**schema["schema"], "components": SPEC["components"]}
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _wire(data: Any) -> Any:
    """What the API sends for ``data``: the same serialiser the routes use."""
    return json.loads(dumps(data))


def _collection(resource: Resource) -> Any:
    return next(c for c in COLLECTIONS if c.resource is resource)


@pytest.mark.parametrize(("resource", "model"), PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize("nulls", [False, True], ids=["filled", "nulls"])
def test_database_rows_fit_model_and_document(
    resource: Resource, model: type[BaseModel], nulls: bool
) -> None:
    row = _row(resource, nulls=nulls)
    model.model_validate(row)
    model.model_validate_json(dumps(row))
    collection = _collection(resource)
    path = collection.path
    if collection.get_by_id:
        _response_schema(f"{path}/{{id}}").validate(_wire(row))
    page = {"items": [row], "next_cursor": encode_cursor(INSTANT, uuid.uuid4())}
    _response_schema(path).validate(_wire(page))
    page_of(model).model_validate(page)


@pytest.mark.parametrize(("resource", "model"), PAIRS, ids=PAIR_IDS)
def test_models_reject_rows_that_are_not_the_table(
    resource: Resource, model: type[BaseModel]
) -> None:
    row = _row(resource)
    with pytest.raises(ValidationError):
        model.model_validate({**row, "tenant_id": uuid.uuid4()})
    with pytest.raises(ValidationError):
        model.model_validate({k: v for k, v in row.items() if k != "created_at"})
    table = TABLES[resource.table]
    for name in resource.columns:
        if table[name].not_null and table[name].sql_type != "jsonb":
            with pytest.raises(ValidationError):
                model.model_validate({**row, name: None})


NUMERIC_COLUMNS = [
    (resource, model, name)
    for resource, model in PAIRS
    for name in resource.columns
    if TABLES[resource.table][name].sql_type == "numeric"
]


@pytest.mark.parametrize(
    ("resource", "model", "name"),
    NUMERIC_COLUMNS,
    ids=[f"{r.table}.{n}" for r, _, n in NUMERIC_COLUMNS],
)
def test_numeric_columns_are_json_numbers(
    resource: Resource, model: type[BaseModel], name: str
) -> None:
    row = _row(resource)
    get = _response_schema(f"{_collection(resource).path}/{{id}}")
    assert _collection(resource).get_by_id
    for value in (Decimal("87.25"), 87.25, Decimal("0"), 3):
        assert getattr(model.model_validate({**row, name: value}), name) == float(value)
        get.validate(_wire({**row, name: value}))
    with pytest.raises(SchemaError):
        get.validate({**_wire(row), name: "87.25"})


def test_numeric_columns_exist() -> None:
    assert len(NUMERIC_COLUMNS) >= 9


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
    alerts_schemas.Alert.model_validate(row)
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
        gateway_schemas.AuditEntry.model_validate(row)
        get.validate(_wire(row))
    assert gateway_schemas.AuditEntry.model_validate(from_request).ip_address == "10.1.0.0/16"


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
