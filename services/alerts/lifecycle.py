"""Which status changes a person may make to an alert: pure."""

from __future__ import annotations

from typing import Literal

Action = Literal["acknowledge", "resolve", "dismiss"]

# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "acknowledge": (frozenset({"active"}), "acknowledged"),
    "resolve": (frozenset({"active", "acknowledged"}), "resolved"),
    "dismiss": (frozenset({"active", "acknowledged"}), "dismissed"),
}

EVENT_OF = {
    "acknowledge": "alert.acknowledged",
    "resolve": "alert.resolved",
    "dismiss": "alert.dismissed",
}


class InvalidTransition(ValueError):
    def __init__(self, action: str, status: str) -> None:
        super().__init__(f"cannot {action} an alert that is {status}")
        self.action = action
        self.status = status


def next_status(action: str, current: str) -> str:
    sources, target = TRANSITIONS[action]
    if current not in sources:
        raise InvalidTransition(action, current)
    return target
