"""Every route of the API, from the contracts, for suites that must try each one."""

from __future__ import annotations

from shared.contracts import ROUTES
from shared.resources import Resource

# List path -> its resource.
LISTS: dict[str, Resource] = {
    r.path: r.resource
    for r in ROUTES
    if r.method == "GET" and "{" not in r.path and r.resource is not None
}
GETS_BY_ID = [r.path.removesuffix("/{id}") for r in ROUTES if r.kind == "get"]
OTHER_GETS = [r.path for r in ROUTES if r.method == "GET" and r.resource is None]
# POST path -> the role it needs.
POSTS: dict[str, str] = {r.path: r.role for r in ROUTES if r.method == "POST" and "{" not in r.path}
# POST actions on an existing item: path template -> role.
ACTIONS: dict[str, str] = {r.path: r.role for r in ROUTES if r.method == "POST" and "{" in r.path}
# PUT path -> the role it needs.
PUTS: dict[str, str] = {r.path: r.role for r in ROUTES if r.method == "PUT"}
ADMIN_READS = {
    path
    for path in LISTS
    if any(r.path == path and r.method == "GET" and r.role == "admin" for r in ROUTES)
}
