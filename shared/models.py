"""Building blocks for request models: strict about unknown fields and sizes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
LongText = Annotated[str, StringConstraints(max_length=10_000)]
JsonObject = dict[str, Any]


class RequestModel(BaseModel):
    """A request body: unknown fields are an error, never silently stored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)
