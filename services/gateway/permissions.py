"""Which role each call needs. Anything not listed needs admin: new routes start closed."""

from __future__ import annotations

import re

Rule = tuple[frozenset[str], re.Pattern[str], str]

_READ = frozenset({"GET", "HEAD"})
_POST = frozenset({"POST"})

RULES: tuple[Rule, ...] = (
    (_READ, re.compile(r"^/api/ai/(audit-trail|keys)(/.*)?$"), "admin"),
    (_READ, re.compile(r"^/api/ai/[^/]+(/[^/]+)?$"), "viewer"),
    (_POST, re.compile(r"^/api/ai/keys(/[^/]+/revoke)?$"), "admin"),
    # Acting on what the platform raised or proposed is the operator's job.
    (_POST, re.compile(r"^/api/ai/alerts/[^/]+/(acknowledge|resolve|dismiss)$"), "operator"),
    (_POST, re.compile(r"^/api/ai/recommendations/[^/]+/(approve|reject)$"), "operator"),
    (
        _POST,
        re.compile(
            r"^/api/ai/(metrics|cycles|decisions|alerts|recommendations|learning-feedback)$"
        ),
        "operator",
    ),
)


def required_role(method: str, path: str) -> str:
    for methods, pattern, role in RULES:
        if method in methods and pattern.match(path):
            return role
    return "admin"
