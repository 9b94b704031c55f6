"""What domain code raises when what was asked cannot be done.

Stores, logic and runners speak of things (an experiment that is not found, a rollback
that conflicts), never of HTTP; the edge (:mod:`shared.web`) answers each kind with its
status in the API's one error shape. ``code`` is what clients branch on, ``details``
says what about it.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """The base of the errors the edge answers; each kind below has its own status."""

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details if details is not None else {}


class NotFound(DomainError):
    """Nothing of this kind with this id, as far as the caller may see."""

    def __init__(self, noun: str, id_: object) -> None:
        super().__init__("not_found", f"{noun} {id_} not found")


class Invalid(DomainError):
    """The input cannot be used; ``fields`` names each problem
    (``[{"field": "a.b", "message": ...}]``)."""

    def __init__(self, message: str, fields: list[dict[str, Any]]) -> None:
        super().__init__("validation_error", message, {"fields": fields})


class Conflict(DomainError):
    """The state of what was named forbids the request (its status, a change in flight)."""


class UpstreamFailed(DomainError):
    """A server the request relies on (the ad platform) could not be asked."""
