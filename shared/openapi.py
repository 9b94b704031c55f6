"""An OpenAPI 3.1 document from pydantic models and a declared list of operations.

Request and response schemas come from the models the code validates with, so the document
cannot describe a body the code would not accept or send.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, NamedTuple

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema

from shared.pagination import DEFAULT_LIMIT, MAX_LIMIT
from shared.resources import Parser, Resource, parse_bool, parse_text, parse_uuid_filter
from shared.schemas import ErrorBody

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
    400: ("BadRequest", "The body is empty or is not JSON."),
    401: ("Unauthorized", "Credentials are missing, unknown, expired or revoked."),
    403: ("Forbidden", "The credentials' role does not allow this operation."),
    404: (
        "NotFound",
        "Nothing with this id belongs to the caller's tenant. A malformed id names nothing, "
        "so it is answered 404 too.",
    ),
    409: ("Conflict", "The item's current state does not allow this."),
    413: ("PayloadTooLarge", "The body is larger than the server accepts."),
    422: (
        "ValidationError",
        "A query parameter or body field is invalid, or a query parameter is unknown; "
        "`details.fields` lists each problem.",
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
    429: {
        "Retry-After": {
            "description": "Whole seconds to wait before trying again.",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}

PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
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


class QueryParam(NamedTuple):
    name: str
    schema: dict[str, Any]
    description: str


LIMIT = QueryParam(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    f"Items per page, 1 to {MAX_LIMIT}.",
)
CURSOR = QueryParam(
    "cursor",
    {"type": "string"},
    "The previous page's `next_cursor`. Opaque: only cursors this API issued are accepted.",
)

# How each filter parser a Resource may use is spelt in a query string. A parser missing
# here makes ``filter_params`` fail, so a new kind of filter cannot go undocumented.
FILTER_SCHEMAS: dict[Parser, tuple[dict[str, Any], str]] = {
    parse_uuid_filter: (UUID_SCHEMA, ""),
    parse_bool: ({"type": "boolean"}, " Also accepts 1/0 and yes/no."),
    parse_text: ({"type": "string", "maxLength": 200}, ""),
}


def filter_params(resource: Resource) -> tuple[QueryParam, ...]:
    """The query parameters ``parse_list_query`` accepts for ``resource``, besides paging."""
    params = []
    for column, parser in resource.filters.items():
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


@dataclass(frozen=True)
class Operation:
    """One method on one path.

    Every ``{name}`` in ``path`` is documented as a UUID path parameter, and makes 404 a
    possible answer. ``paginated`` adds ``limit`` and ``cursor`` before ``query``.
    """

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    response_model: type[BaseModel]
    status: int = 200
    request_model: type[BaseModel] | None = None
    query: tuple[QueryParam, ...] = ()
    paginated: bool = False
    required_role: str | None = None
    description: str = ""
    # Answered by a service behind the gateway, so an unreachable or slow one shows through.
    forwarded: bool = False
    # The item's state can forbid the operation.
    conflict: bool = False
    authenticated: bool = True

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(PATH_PARAM.findall(self.path))

    @property
    def query_params(self) -> tuple[QueryParam, ...]:
        return (LIMIT, CURSOR, *self.query) if self.paginated else self.query

    def error_statuses(self) -> tuple[int, ...]:
        statuses = {429, 500}
        if self.authenticated:
            statuses |= {401, 403}
        if self.request_model is not None:
            statuses |= {400, 413, 422}
        if self.query_params:
            statuses.add(422)
        if self.path_params:
            statuses.add(404)
        if self.conflict:
            statuses.add(409)
        if self.forwarded:
            statuses |= {503, 504}
        return tuple(sorted(statuses))


def _check(operations: Sequence[Operation]) -> None:
    keys: set[tuple[str, str]] = set()
    ids: set[str] = set()
    for op in operations:
        key = (op.method.upper(), op.path)
        if key in keys:
            raise ValueError(f"{key[0]} {key[1]} is declared twice")
        if op.operation_id in ids:
            raise ValueError(f"operation id {op.operation_id!r} is used twice")
        names = [p.name for p in op.query_params]
        if len(names) != len(set(names)):
            raise ValueError(f"{key[0]} {key[1]} repeats a query parameter")
        keys.add(key)
        ids.add(op.operation_id)


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": dict(UUID_SCHEMA)}
        for name in op.path_params
    ]
    params += [
        {"name": p.name, "in": "query", "required": False, "schema": p.schema}
        | ({"description": p.description} if p.description else {})
        for p in op.query_params
    ]
    return params


def _operation(op: Operation, refs: Mapping[tuple[Any, JsonSchemaMode], Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary}
    if op.description:
        doc["description"] = op.description
    doc["tags"] = [op.tag]
    if params := _parameters(op):
        doc["parameters"] = params
    if op.request_model is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": refs[(op.request_model, "validation")]}},
        }
    responses: dict[str, Any] = {
        str(op.status): {
            "description": HTTPStatus(op.status).phrase,
            "content": {JSON: {"schema": refs[(op.response_model, "serialization")]}},
        }
    }
    for status in op.error_statuses():
        responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    doc["responses"] = responses
    if not op.authenticated:
        doc["security"] = []
    if op.required_role is not None:
        doc["x-required-role"] = op.required_role
    return doc


def build(
    operations: Sequence[Operation],
    title: str,
    version: str,
    *,
    servers: Sequence[str] = (),
    description: str | None = None,
    tag_descriptions: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An OpenAPI 3.1 document for ``operations``, in their order."""
    _check(operations)
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for op in operations:
        if op.request_model is not None:
            wanted.append((op.request_model, "validation"))
        wanted.append((op.response_model, "serialization"))
    # One call for every model, so that two models sharing a class name get distinct
    # component names instead of overwriting each other.
    refs, top = models_json_schema(
        list(dict.fromkeys(wanted)), ref_template=REF_TEMPLATE, schema_generator=ComponentNames
    )

    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)

    used = sorted({status for op in operations for status in op.error_statuses()})
    error_schema = refs[(ErrorBody, "serialization")]
    responses: dict[str, Any] = {}
    for status in used:
        name, when = ERRORS[status]
        responses[name] = {"description": when, "content": {JSON: {"schema": error_schema}}}
        if status in ERROR_HEADERS:
            responses[name]["headers"] = ERROR_HEADERS[status]

    info: dict[str, Any] = {"title": title, "version": version}
    if description:
        info["description"] = description
    tag_notes = tag_descriptions or {}
    tags = [
        {"name": tag} | ({"description": tag_notes[tag]} if tag in tag_notes else {})
        for tag in dict.fromkeys(op.tag for op in operations)
    ]
    document: dict[str, Any] = {"openapi": OPENAPI_VERSION, "info": info}
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
