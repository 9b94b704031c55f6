"""The gateway's public API, ``/api/ai``, as an OpenAPI 3.1 document.

Built from the service contracts: request and response schemas come from the models the
code validates with, roles from the routes' declarations, so the document cannot describe
a call the platform would not answer that way.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from importlib import metadata
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema

from services.gateway.idempotency import (
    HEADER as IDEMPOTENCY_HEADER,
)
from services.gateway.idempotency import (
    KEY_PATTERN,
    MAX_KEY_LENGTH,
    METHODS,
    REPLAYED_HEADER,
)
from shared.contracts import CONTRACTS, ROUTES
from shared.contracts.spec import CURSOR, LIMIT, QueryParam, Route
from shared.resources import (
    Parser,
    Resource,
    parse_bool,
    parse_int,
    parse_text,
    parse_uuid_filter,
)
from shared.schemas import ErrorBody

TITLE = "adpilot API"
DESCRIPTION = (
    "Alerts, risk, decisions, safe execution and learning for ad campaigns. Every route is "
    "scoped to the caller's tenant, and every error has the `ErrorBody` shape."
)

OPENAPI_VERSION = "3.1.0"
REF_TEMPLATE = "#/components/schemas/{model}"
JSON = "application/json"

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key or a JWT, sent as `Authorization: Bearer <token>`.",
    },
    "apiKeyAuth": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "An API key.",
    },
}
# Alternatives: either scheme alone is enough.
SECURITY: list[dict[str, list[str]]] = [{name: []} for name in SECURITY_SCHEMES]

# status -> (name under components/responses, when it is answered)
ERRORS: dict[int, tuple[str, str]] = {
    400: (
        "BadRequest",
        "The body is empty or is not JSON, or the `Idempotency-Key` header is malformed. "
        "A request the HTTP server cannot read at all (a request line or header over 8,190 "
        "bytes, or not HTTP) is answered 400 before it reaches any route, in plain text.",
    ),
    401: ("Unauthorized", "Credentials are missing, unknown, expired or revoked."),
    403: ("Forbidden", "The credentials' role does not allow this operation."),
    404: (
        "NotFound",
        "Nothing with this id belongs to the caller's tenant. A malformed id names nothing, "
        "so it is answered 404 too.",
    ),
    409: (
        "Conflict",
        "The item's current state does not allow this, or a request with the same "
        "`Idempotency-Key` is still being answered (`idempotency_in_progress`; retry after "
        "`Retry-After` seconds).",
    ),
    413: ("PayloadTooLarge", "The body is larger than the server accepts."),
    422: (
        "ValidationError",
        "A query parameter or body field is invalid, or a query parameter is unknown; "
        "`details.fields` lists each problem. Also answered, as `idempotency_key_reused`, "
        "when an `Idempotency-Key` comes back with a different method, path or body.",
    ),
    429: ("TooManyRequests", "Too many requests; retry later."),
    500: ("InternalError", "An unexpected failure; `X-Request-Id` finds it in the logs."),
    503: ("ServiceUnavailable", "The service owning this resource cannot be reached."),
    504: ("GatewayTimeout", "The service owning this resource did not answer in time."),
}

# Headers some error responses carry, by status.
ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "A `Bearer` challenge.",
            "schema": {"type": "string"},
        }
    },
    409: {
        "Retry-After": {
            "description": "Whole seconds to wait before retrying (`idempotency_in_progress`).",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
    429: {
        "Retry-After": {
            "description": "Whole seconds to wait before trying again.",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}

IDEMPOTENCY_KEY_PARAM: dict[str, Any] = {
    "name": IDEMPOTENCY_HEADER,
    "in": "header",
    "required": False,
    "description": (
        "Makes a retry safe: a repeat with the same key and the same request answers the "
        "first response (with `Idempotent-Replayed: true`) instead of acting again; the same "
        "key with a different request is a 422. Keys are kept per tenant for 24 hours; a "
        "5xx answer is not kept, so the request may be retried with the same key."
    ),
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH,
        "pattern": KEY_PATTERN,
    },
}
REPLAYED_HEADER_DOC: dict[str, Any] = {
    REPLAYED_HEADER: {
        "description": "`true` when this is the stored answer to an earlier request with "
        "the same `Idempotency-Key`.",
        "schema": {"type": "string", "enum": ["true"]},
    }
}

UUID_SCHEMA: dict[str, Any] = {"type": "string", "format": "uuid"}
DATE_TIME_SCHEMA: dict[str, Any] = {"type": "string", "format": "date-time"}


class ComponentNames(GenerateJsonSchema):
    """Names a one-argument generic after its argument: ``Page[Alert]`` becomes ``AlertPage``,
    which reads better in generated clients than the default ``Page_Alert_``."""

    GENERIC = re.compile(r"([A-Za-z0-9_]+)\[([A-Za-z0-9_]+)\]")

    def normalize_name(self, name: str) -> str:
        if match := self.GENERIC.fullmatch(name):
            return f"{match[2]}{match[1]}"
        return super().normalize_name(name)


# How each filter parser a Resource may use is spelt in a query string. A parser missing
# here makes ``filter_params`` fail, so a new kind of filter cannot go undocumented.
FILTER_SCHEMAS: dict[Parser, tuple[dict[str, Any], str]] = {
    parse_uuid_filter: (UUID_SCHEMA, ""),
    parse_bool: ({"type": "boolean"}, " Also accepts 1/0 and yes/no."),
    parse_text: ({"type": "string", "maxLength": 200}, ""),
    parse_int: ({"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}, ""),
}


def filter_params(resource: Resource) -> tuple[QueryParam, ...]:
    """The query parameters ``parse_list_query`` accepts for ``resource``, besides paging."""
    params = []
    for column, parser in resource.parsers.items():
        if parser not in FILTER_SCHEMAS:
            name = getattr(parser, "__name__", repr(parser))
            raise ValueError(f"filter {column!r} of {resource.name}: no query schema for {name}")
        schema, note = FILTER_SCHEMAS[parser]
        params.append(
            QueryParam(column, dict(schema), f"Only items whose `{column}` equals this.{note}")
        )
    if resource.time_filters:
        params += [
            QueryParam(
                "since",
                dict(DATE_TIME_SCHEMA),
                "Only items created at or after this instant; the time zone is required.",
            ),
            QueryParam(
                "until",
                dict(DATE_TIME_SCHEMA),
                "Only items created before this instant; the time zone is required.",
            ),
        ]
    return tuple(params)


def query_params(route: Route) -> tuple[QueryParam, ...]:
    """What ``route`` accepts in its query string."""
    if route.kind == "list" and route.resource is not None:
        return (LIMIT, CURSOR, *filter_params(route.resource), *route.query)
    return route.query


def forwarded(route: Route) -> bool:
    """Answered by a service behind the gateway, so an unreachable or slow one shows."""
    return route.owner != "gateway"


def idempotent(route: Route) -> bool:
    """Accepts an ``Idempotency-Key``: every call that creates or changes something."""
    return route.method in METHODS


def error_statuses(route: Route) -> tuple[int, ...]:
    # 400 too: any request may be one the HTTP server cannot read (``ERRORS[400]``).
    statuses = {400, 401, 403, 429, 500}
    if idempotent(route):
        statuses |= {409, 422}
    if route.request is not None:
        statuses |= {413, 422}
    if query_params(route):
        statuses.add(422)
    if route.path_params:
        statuses.add(404)
    if route.conflict:
        statuses.add(409)
    if forwarded(route):
        statuses |= {503, 504}
    return tuple(sorted(statuses))


def _parameters(op: Route) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": dict(UUID_SCHEMA)}
        for name in op.path_params
    ]
    params += [
        {"name": p.name, "in": "query", "required": False, "schema": p.schema}
        | ({"description": p.description} if p.description else {})
        for p in query_params(op)
    ]
    if idempotent(op):
        params.append(dict(IDEMPOTENCY_KEY_PARAM))
    return params


def _operation(op: Route, refs: Mapping[tuple[Any, JsonSchemaMode], Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary}
    if op.description:
        doc["description"] = op.description
    doc["tags"] = [op.owner]
    if params := _parameters(op):
        doc["parameters"] = params
    if op.request is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": refs[(op.request, "validation")]}},
        }
    responses: dict[str, Any] = {
        str(op.status): {
            "description": HTTPStatus(op.status).phrase,
            "content": {JSON: {"schema": refs[(op.response, "serialization")]}},
        }
    }
    if idempotent(op):
        responses[str(op.status)]["headers"] = copy.deepcopy(REPLAYED_HEADER_DOC)
    for status in error_statuses(op):
        responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    doc["responses"] = responses
    doc["x-required-role"] = str(op.role)
    return doc


def _version() -> str:
    try:
        return metadata.version("adpilot")
    except metadata.PackageNotFoundError:
        # A checkout that was never installed has no version of its own.
        return "0.0.0"


def build_openapi(servers: Sequence[str] = (), routes: Sequence[Route] = ROUTES) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (every route, by default), in their order."""
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for op in routes:
        if op.request is not None:
            wanted.append((op.request, "validation"))
        wanted.append((op.response, "serialization"))
    # One call for every model, so that two models sharing a class name get distinct
    # component names instead of overwriting each other.
    refs, top = models_json_schema(
        list(dict.fromkeys(wanted)), ref_template=REF_TEMPLATE, schema_generator=ComponentNames
    )

    paths: dict[str, dict[str, Any]] = {}
    for op in routes:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)

    used = sorted({status for op in routes for status in error_statuses(op)})
    error_schema = refs[(ErrorBody, "serialization")]
    responses: dict[str, Any] = {}
    for status in used:
        name, when = ERRORS[status]
        responses[name] = {"description": when, "content": {JSON: {"schema": error_schema}}}
        if status == 400:
            # The HTTP server's own answer to a request it could not parse.
            responses[name]["content"]["text/plain"] = {"schema": {"type": "string"}}
        if status in ERROR_HEADERS:
            responses[name]["headers"] = ERROR_HEADERS[status]

    summaries = {c.name: c.summary for c in CONTRACTS}
    tags = [
        {"name": tag} | ({"description": summaries[tag]} if summaries.get(tag) else {})
        for tag in dict.fromkeys(op.owner for op in routes)
    ]
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": TITLE, "version": _version(), "description": DESCRIPTION},
    }
    if servers:
        document["servers"] = [{"url": url} for url in servers]
    document |= {
        "security": SECURITY,
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": top.get("$defs", {}),
            "responses": responses,
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
    # Callers may edit what they get; the module's constants must stay as they are.
    return copy.deepcopy(document)
