"""The vocabulary of a service contract: routes, tables, status lifecycles and events.

A contract says, once, what a service offers and what it says on the bus. The gateway's
routing table and permissions, the OpenAPI and AsyncAPI documents, the queues and their
bindings and the consumers' dispatch are all derived from these declarations.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, Literal, NamedTuple, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from shared.errors import Conflict
from shared.events import Envelope, to_payload
from shared.pagination import DEFAULT_LIMIT, MAX_LIMIT
from shared.resources import Resource

PREFIX = "/api/ai"
PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Role(StrEnum):
    """Who may call a route; each role may do what the roles before it may."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


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


# What a route does, for the routes every collection has the same way.
RouteKind = Literal["list", "get", "create", "action", "custom"]


@dataclass(frozen=True)
class Lifecycle:
    """Status changes a person may make. ``transitions``: action -> (the statuses it may
    start from, the status it leads to); ``events``: action -> the event it emits."""

    noun: str
    transitions: Mapping[str, tuple[frozenset[str], str]]
    events: Mapping[str, EventType[Any]]
    # Status -> the column stamped with the time it was reached.
    stamps: Mapping[str, str] = field(default_factory=dict)

    def next_status(self, action: str, current: str) -> str:
        sources, target = self.transitions[action]
        if current not in sources:
            raise InvalidTransition(self.noun, action, current)
        return target

    def require(self, action: str, current: str, allowed: Iterable[str]) -> None:
        """Refuse ``action`` unless ``current`` is one of ``allowed``: for what may be done
        only in some statuses without moving the item along (editing, deleting it)."""
        allowed = frozenset(allowed)
        if current not in allowed:
            raise InvalidTransition(self.noun, action, current, allowed)


class InvalidTransition(Conflict):
    """The item's status does not allow ``action`` (answered 409 ``invalid_transition``).
    ``allowed``, when given, lists the statuses that would."""

    def __init__(
        self, noun: str, action: str, status: str, allowed: Iterable[str] | None = None
    ) -> None:
        details: dict[str, Any] = {"status": status, "action": action}
        if allowed is not None:
            details["allowed_in"] = sorted(allowed)
        super().__init__("invalid_transition", f"cannot {action} {noun} that is {status}", details)
        self.action = action
        self.status = status


@dataclass(frozen=True, eq=False)
class Route:
    """One method on one path of ``/api/ai``, owned by one service.

    Routes compare by identity: a service binds its handler to the declaration itself.
    ``kind`` says whether the service answers it with the standard list, get or status
    change of ``resource``, or with a handler of its own (``create`` and ``custom``).
    """

    method: str
    path: str
    operation_id: str
    summary: str
    owner: str
    role: Role
    response: type[BaseModel]
    kind: RouteKind = "custom"
    status: int = 200
    request: type[BaseModel] | None = None
    resource: Resource | None = None
    query: tuple[QueryParam, ...] = ()
    paginated: bool = False
    description: str = ""
    # The item's state can forbid the call (answered 409).
    conflict: bool = False
    lifecycle: Lifecycle | None = None
    action: str | None = None

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(PATH_PARAM.findall(self.path))

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)


def _snake(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _a(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


LIST_NOTE = (
    "Newest first. Pass `next_cursor` back as `cursor` for the next page. Filters combine "
    "with AND; an unknown query parameter is answered 422."
)


@dataclass(frozen=True)
class Collection:
    """The routes of one table-backed collection at ``/api/ai/<segment>``."""

    owner: str
    segment: str
    resource: Resource
    plural: str
    read_role: Role = Role.VIEWER
    write_role: Role = Role.OPERATOR

    @property
    def path(self) -> str:
        return f"{PREFIX}/{self.segment}"

    def list(self) -> Route:
        return Route(
            "GET",
            self.path,
            f"list_{_snake(self.segment)}",
            f"List {self.plural}",
            self.owner,
            self.read_role,
            self.resource.page_model,
            kind="list",
            resource=self.resource,
            paginated=True,
            description=LIST_NOTE,
        )

    def get(self) -> Route:
        name = self.resource.name
        return Route(
            "GET",
            f"{self.path}/{{id}}",
            f"get_{_snake(name)}",
            f"Get one {name}",
            self.owner,
            self.read_role,
            self.resource.model,
            kind="get",
            resource=self.resource,
        )

    def read(self) -> tuple[Route, Route]:
        return self.list(), self.get()

    def create(
        self,
        request: type[BaseModel],
        *,
        response: type[BaseModel] | None = None,
        conflict: bool = False,
        description: str = "",
    ) -> Route:
        name = self.resource.name
        return Route(
            "POST",
            self.path,
            f"create_{_snake(name)}",
            f"Create {_a(name)}",
            self.owner,
            self.write_role,
            response or self.resource.model,
            kind="create",
            status=201,
            request=request,
            resource=self.resource,
            conflict=conflict,
            description=description,
        )

    def actions(self, lifecycle: Lifecycle) -> tuple[Route, ...]:
        """One ``POST <path>/{id}/<action>`` per status change the lifecycle allows."""
        noun = lifecycle.noun.split(" ", 1)[1]
        return tuple(
            Route(
                "POST",
                f"{self.path}/{{id}}/{action}",
                f"{action}_{_snake(noun)}",
                f"{action.capitalize()} {lifecycle.noun}",
                self.owner,
                self.write_role,
                self.resource.model,
                kind="action",
                resource=self.resource,
                description=(
                    f"Allowed while the {noun} is {' or '.join(sorted(sources))}; it becomes "
                    f"{target}. Any other status is answered 409."
                ),
                conflict=True,
                lifecycle=lifecycle,
                action=action,
            )
            for action, (sources, target) in lifecycle.transitions.items()
        )


# An event's payload: a consumer ignores fields it does not know, so a publisher may add
# fields without breaking anyone who reads an older version. Payloads that carry a row
# subclass its response model with this configuration.
LENIENT = ConfigDict(extra="ignore")


class EventPayload(BaseModel):
    """The body of an event that is not a row of a table."""

    model_config = LENIENT


P = TypeVar("P", bound=BaseModel)


class UndeclaredFields(ValueError):
    """A publisher put fields in an event that its contract does not declare."""


@dataclass(frozen=True, eq=False)
class EventType(Generic[P]):
    """One version of one event type: its routing key, payload model, who publishes it and
    who subscribes. A new version of an event is a new declaration with the same name."""

    name: str
    payload: type[P]
    publishers: tuple[str, ...]
    subscribers: tuple[str, ...] = ()
    version: int = 1
    summary: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return (self.name, self.version)

    def validate(self, payload: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
        """The payload as JSON values, checked against the contract.

        Consumers ignore unknown fields; the publisher may not send them, so what goes on
        the bus is exactly what the contract documents.
        """
        if isinstance(payload, self.payload):
            # Validated when it was made.
            checked: dict[str, Any] = payload.model_dump(mode="json")
            return checked
        if isinstance(payload, BaseModel):
            data = payload.model_dump(mode="json")
        else:
            data = to_payload(payload)
            undeclared = set(data) - set(self.payload.model_fields)
            if undeclared:
                raise UndeclaredFields(
                    f"{self.name} v{self.version} does not declare {sorted(undeclared)}"
                )
        model = self.payload.model_validate(data)
        dumped: dict[str, Any] = model.model_dump(mode="json")
        return dumped

    def parse(self, envelope: Envelope) -> P:
        """The envelope's payload as this event's model; raises ``ValidationError``."""
        return self.payload.model_validate(envelope.payload)

    def envelope(
        self,
        payload: BaseModel | Mapping[str, Any],
        *,
        tenant_id: UUID,
        source: str,
        correlation_id: UUID | None = None,
        causation_id: UUID | None = None,
    ) -> Envelope:
        extra: dict[str, Any] = {}
        if correlation_id is not None:
            extra["correlation_id"] = correlation_id
        return Envelope(
            type=self.name,
            version=self.version,
            tenant_id=tenant_id,
            causation_id=causation_id,
            source=source,
            payload=self.validate(payload),
            **extra,
        )

    def caused_by(
        self, cause: Envelope, payload: BaseModel | Mapping[str, Any], *, source: str
    ) -> Envelope:
        """A follow-up event in the same conversation: same tenant and correlation."""
        return self.envelope(
            payload,
            tenant_id=cause.tenant_id,
            source=source,
            correlation_id=cause.correlation_id,
            causation_id=cause.event_id,
        )


@dataclass(frozen=True)
class ServiceContract:
    """All one service offers: its routes and the events it publishes."""

    name: str
    # How the service names itself in component health, e.g. ``decision_engine``.
    component: str
    routes: tuple[Route, ...] = ()
    events: tuple[EventType[Any], ...] = ()
    summary: str = ""

    def __post_init__(self) -> None:
        for route in self.routes:
            if route.owner != self.name:
                raise ValueError(f"{route.operation_id} is owned by {route.owner}, not {self.name}")
        for event in self.events:
            if self.name not in event.publishers and "*" not in event.publishers:
                raise ValueError(f"{event.name} is not published by {self.name}")
