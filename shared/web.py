"""HTTP conventions every service shares: one error shape, JSON in and out, request ids."""

from __future__ import annotations

import json
import logging
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware as Middleware  # re-exported for the services
from pydantic import BaseModel, ValidationError

from shared.db import DependencyUnavailable, database_unavailable
from shared.errors import Conflict, DomainError, Invalid, NotFound, UpstreamFailed
from shared.events import to_json
from shared.logs import correlation_id_var, request_id_var

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R", bound=web.StreamResponse)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID_HEADER = "X-Request-Id"
CORRELATION_ID_HEADER = "X-Correlation-Id"
# What a 503 asks a client to wait before it tries again: long enough for a database or
# broker restart, short enough that a client does not give up on a blip.
RETRY_AFTER_SECONDS = 5


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message", "details"}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details if details is not None else {}
        self.headers = headers or {}


def not_found(resource: str, id_: object) -> ApiError:
    return ApiError(404, "not_found", f"{resource} {id_} not found")


def invalid(message: str, fields: list[dict[str, Any]]) -> ApiError:
    return ApiError(422, "validation_error", message, {"fields": fields})


# The status each kind of domain error is answered with.
DOMAIN_STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    Invalid: 422,
    Conflict: 409,
    UpstreamFailed: 502,
}


def api_error(exc: DomainError) -> ApiError:
    """A domain error as the API answers it: same code, message and details, with the
    status of its kind. A kind without a status is a bug, answered as one."""
    status = next((DOMAIN_STATUS[k] for k in type(exc).__mro__ if k in DOMAIN_STATUS), None)
    if status is None:
        log.error("domain error of no known kind: %r", exc)
        return ApiError(500, "internal_error", "internal server error")
    return ApiError(status, exc.code, exc.message, exc.details)


def unavailable(message: str, details: Any = None) -> ApiError:
    """503: something this request needs is away for now; the client may try again."""
    return ApiError(
        503,
        "dependency_unavailable",
        message,
        details,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def dumps(data: Any) -> bytes:
    return to_json(data)


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=dumps(data), status=status, content_type="application/json", headers=headers
    )


def error_response(error: ApiError) -> web.Response:
    body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
    return with_retry_after(json_response(body, status=error.status, headers=error.headers or None))


def with_retry_after(response: R) -> R:
    """Every 503 tells the client when to come back."""
    if response.status == 503 and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def dependency_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says a server the request needs is away, not that the code is wrong."""
    return isinstance(exc, DependencyUnavailable) or database_unavailable(exc)


class OutageLog:
    """One warning line when answers start failing for an outage, then one a minute at
    most, with how many went unlogged: an outage under load must not flood the log."""

    def __init__(self, logger: logging.Logger, every: float = 60.0) -> None:
        self.logger = logger
        self.every = every
        self._last: float | None = None
        self._quiet = 0

    def warn(self, message: str, **extra: Any) -> None:
        now = time.monotonic()
        if self._last is not None and now - self._last < self.every:
            self._quiet += 1
            return
        self.logger.warning(message, extra={**extra, "since_last_warning": self._quiet})
        self._last, self._quiet = now, 0


_outages = OutageLog(log)


def validation_fields(
    exc: ValidationError, prefix: tuple[str | int, ...] = ()
) -> list[dict[str, Any]]:
    """Pydantic errors as ``[{"field": "a.b", "message": ...}]``, naming each offending field."""
    fields = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in (*prefix, *err["loc"]))
        fields.append({"field": loc or "body", "message": err["msg"], "type": err["type"]})
    return fields


async def read_json(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        raise ApiError(400, "malformed_json", "request body is empty; expected JSON")
    data = loads_exact(raw)
    check_json(data)
    return data


MAX_JSON_DEPTH = 32
MAX_JSON_INTEGER = 2**63 - 1

# orjson reads an integer outside [-2**63, 2**64) as a float, which would store it rounded,
# and a number beyond a double's range not at all. Any integer of 19 digits or more may be
# one of those, so a body holding such a run is read again, number by number.
_LONG_DIGITS = re.compile(rb"\d{19}")


class OutOfRange:
    """A number in a request body that cannot be kept exactly; :func:`check_json` refuses
    it, naming where it stood."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def _exact_int(text: str) -> int | OutOfRange:
    # Twenty digits are beyond 64 bits whatever they are (and int() of many is slow).
    if len(text.lstrip("-")) > 19:
        return OutOfRange("integer beyond 64 bits")
    return int(text)


def _finite_float(text: str) -> float | OutOfRange:
    value = float(text)
    return value if math.isfinite(value) else OutOfRange("number beyond the range of a double")


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def loads_exact(raw: bytes) -> Any:
    """A request body as JSON, each number either exact or an :class:`OutOfRange`."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "infinity" not in str(exc):
            raise _malformed(exc) from exc
    else:
        if not _LONG_DIGITS.search(raw):
            return data
    try:
        return json.loads(
            raw, parse_int=_exact_int, parse_float=_finite_float, parse_constant=_no_constant
        )
    except (ValueError, RecursionError) as exc:
        raise _malformed(exc) from exc


def _malformed(exc: Exception) -> ApiError:
    return ApiError(400, "malformed_json", f"request body is not valid JSON: {exc}")


def check_json(data: Any) -> None:
    """Refuse what PostgreSQL or our encoder cannot store, before any handler sees it:
    deep nesting (a cheap way to burn CPU), NUL characters (text and jsonb reject them)
    and integers beyond 64 bits."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_JSON_DEPTH:
            raise ApiError(
                400, "malformed_json", f"request body nests deeper than {MAX_JSON_DEPTH} levels"
            )
        where = ".".join(str(p) for p in path) or "body"
        if isinstance(value, str):
            if "\x00" in value:
                raise invalid(
                    "text must not contain NUL characters",
                    [{"field": where, "message": "contains a NUL character"}],
                )
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if abs(value) > MAX_JSON_INTEGER:
                raise invalid(
                    "number out of range", [{"field": where, "message": "integer beyond 64 bits"}]
                )
        elif isinstance(value, OutOfRange):
            raise invalid("number out of range", [{"field": where, "message": value.message}])
        elif isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    raise invalid(
                        "keys must not contain NUL characters",
                        [{"field": where, "message": "a key contains a NUL character"}],
                    )
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, i)) for i, item in enumerate(value))


async def parse_body(request: web.Request, model: type[M]) -> M:
    data = await read_json(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid("request body is invalid", validation_fields(exc)) from exc


def path_id(request: web.Request, resource: str) -> UUID:
    """The ``{id}`` path parameter. A malformed id cannot name anything, so it is a 404."""
    raw = request.match_info["id"]
    try:
        return UUID(raw)
    except ValueError as exc:
        raise not_found(resource, raw) from exc


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except ApiError as exc:
        return error_response(exc)
    except DomainError as exc:
        return error_response(api_error(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _STATUS_CODES.get(exc.status, "http_error")
        message = (
            exc.reason if exc.status != 404 else f"no route for {request.method} {request.path}"
        )
        response = error_response(ApiError(exc.status, code, message))
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception as exc:
        if dependency_unavailable(exc):
            # An outage, not a bug: no traceback, and a few lines for any number of requests.
            _outages.warn(
                "dependency unavailable; answering 503",
                path=request.path,
                method=request.method,
                error=f"{exc.__class__.__name__}: {exc}"[:300],
            )
            return error_response(
                unavailable("a service this request needs is unavailable; try again shortly")
            )
        log.exception("unhandled error", extra={"path": request.path, "method": request.method})
        return error_response(ApiError(500, "internal_error", "internal server error"))
    return with_retry_after(response)


@web.middleware
async def domain_error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Domain errors become :class:`ApiError` right at the handler, so every middleware
    around it (the gateway's audit and idempotency among them) sees one kind of error."""
    try:
        return await handler(request)
    except DomainError as exc:
        raise api_error(exc) from exc


@web.middleware
async def context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Carry request and correlation ids through logs, responses and events."""
    request_id = request.headers.get(REQUEST_ID_HEADER) or uuid.uuid4().hex
    correlation = request.headers.get(CORRELATION_ID_HEADER)
    try:
        correlation_id = str(UUID(correlation)) if correlation else str(uuid.uuid4())
    except ValueError:
        correlation_id = str(uuid.uuid4())
    request["request_id"] = request_id
    request["correlation_id"] = UUID(correlation_id)
    rid_token = request_id_var.set(request_id)
    cid_token = correlation_id_var.set(correlation_id)
    try:
        response = await handler(request)
        response.headers[REQUEST_ID_HEADER] = request_id
        response.headers[CORRELATION_ID_HEADER] = correlation_id
        return response
    finally:
        request_id_var.reset(rid_token)
        correlation_id_var.reset(cid_token)
