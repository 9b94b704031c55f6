"""Response shapes every service shares: the base of a response model, a page, an error."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class ResponseModel(BaseModel):
    """What an endpoint answers. Unknown fields are an error, so a model that falls behind its
    table fails validation instead of quietly documenting less than the API sends."""

    # An answer always carries every field (null where empty), so the document marks even
    # the fields with defaults as required: a client's types need not guess.
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


T = TypeVar("T", bound=BaseModel)


class Page(ResponseModel, Generic[T]):
    """One page of a list, newest first."""

    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


def page_of(model: type[BaseModel]) -> type[BaseModel]:
    """``Page[model]`` for a model known only at run time."""
    page: type[BaseModel] = Page[model]  # type: ignore[valid-type]
    return page


class ErrorDetail(ResponseModel):
    code: str = Field(description="Stable, machine-readable, e.g. `validation_error`.")
    message: str = Field(description="For people; wording may change.")
    details: dict[str, Any] = Field(
        description="Structured context; for `validation_error`, `fields` names each problem."
    )


class ErrorBody(ResponseModel):
    """Every error, whatever its status."""

    error: ErrorDetail
