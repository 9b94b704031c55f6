"""Autonomy preferences: the contract, how a tenant's own limits are kept, the answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError
from pydantic import ValidationError

from services.gateway.asyncapi import build_asyncapi
from services.gateway.openapi import build_openapi
from services.gateway.preferences import answer
from services.optimizer.core.handlers import subscriptions as optimizer_subscriptions
from services.optimizer.core.limits import DEFAULT_LIMITS as OPTIMIZER_DEFAULTS
from services.optimizer.core.limits import SafetyLimits as OptimizerSafetyLimits
from shared.contracts import bindings, route_for
from shared.contracts.gateway import (
    PREFERENCES_UPDATED,
    Preferences,
    PreferencesUpdate,
)
from shared.contracts.limits import DEFAULT_LIMITS, SafetyLimits, merge_limits, own_limits
from shared.web import dumps

SPEC = build_openapi()
PATH = "/api/ai/preferences"
INSTANT = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _wire(data: Any) -> Any:
    return json.loads(dumps(data))


def _validator(method: str) -> Draft202012Validator:
    schema = SPEC["paths"][PATH][method]["responses"]["200"]["content"]["application/json"]
    return Draft202012Validator({**schema["schema"], "components": SPEC["components"]})


def test_the_optimizer_names_the_same_limit_models() -> None:
    assert OptimizerSafetyLimits is SafetyLimits
    assert OPTIMIZER_DEFAULTS is DEFAULT_LIMITS


def test_routes_roles_and_documents() -> None:
    get, put = route_for("GET", PATH), route_for("PUT", PATH)
    assert get is not None and put is not None
    assert (get.role, put.role) == ("viewer", "admin")
    assert SPEC["paths"][PATH]["get"]["x-required-role"] == "viewer"
    assert SPEC["paths"][PATH]["put"]["x-required-role"] == "admin"
    for doc in SPEC["paths"][PATH].values():
        for meaning in ("decide and log", "waits for a person", "apply"):
            assert meaning in doc["description"]
    assert "422" in SPEC["paths"][PATH]["put"]["responses"]
    assert "preferences.updated" in build_asyncapi()["channels"]
    assert "preferences.updated" in bindings("optimizer")
    assert ("preferences.updated", 1) in optimizer_subscriptions._by_version


def test_own_limits_keep_only_what_was_given() -> None:
    given = SafetyLimits.model_validate({"budget": {"floor": 10}, "cooldown_hours": 2})
    own = own_limits(given)
    assert own == {"budget": {"floor": 10.0}, "cooldown_hours": 2.0}
    # Read back, the defaults the tenant left alone are defaults again.
    merged = merge_limits(DEFAULT_LIMITS, SafetyLimits.model_validate(own))
    assert merged.min_confidence == DEFAULT_LIMITS.min_confidence
    assert merged.budget.max_step_share == DEFAULT_LIMITS.budget.max_step_share
    assert (merged.budget.floor, merged.cooldown_hours) == (10.0, 2.0)
    assert own_limits(None) is None


def test_the_event_carries_the_sparse_limits_and_checks_them() -> None:
    payload = {"autonomy": "act", "safety_limits": {"bid": {"ceiling": 3}}, "updated_at": INSTANT}
    assert PREFERENCES_UPDATED.validate(payload)["safety_limits"] == {"bid": {"ceiling": 3.0}}
    with pytest.raises(ValidationError):
        PREFERENCES_UPDATED.validate(
            {**payload, "safety_limits": {"bid": {"floor": 5, "ceiling": 3}}}
        )
    with pytest.raises(ValidationError):
        PREFERENCES_UPDATED.validate({**payload, "autonomy": "yolo"})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"autonomy": "yolo"}, "autonomy"),
        ({}, "autonomy"),
        ({"autonomy": "act", "safety_limits": {"budget": {"floor": 9, "ceiling": 1}}}, "budget"),
        ({"autonomy": "act", "safety_limits": {"cooldown_hours": -1}}, "cooldown_hours"),
        ({"autonomy": "act", "safety_limits": {"bogus": 1}}, "bogus"),
        ({"autonomy": "act", "extra": 1}, "extra"),
    ],
)
def test_bad_bodies_are_refused(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        PreferencesUpdate.model_validate(body)
    assert field in {str(part) for e in caught.value.errors() for part in e["loc"]}


def test_answers_fit_the_document() -> None:
    default = answer("recommend", None, None)
    assert default["effective_limits"] == DEFAULT_LIMITS.model_dump(mode="json")
    own = {"budget": {"ceiling": 500.0}, "min_confidence": 80.0}
    saved = answer("act", own, INSTANT)
    assert saved["effective_limits"]["budget"]["ceiling"] == 500.0
    assert saved["effective_limits"]["budget"]["max_step_share"] == 0.2
    for body in (default, saved):
        Preferences.model_validate(body)
        _validator("get").validate(_wire(body))
        _validator("put").validate(_wire(body))
    with pytest.raises(SchemaError):
        _validator("get").validate(_wire({**saved, "autonomy": "yolo"}))
