"""What the gateway serves besides the API: the dashboard at ``/`` and the API reference at
``/docs``. Both are static files and open to anyone: they hold no tenant's data, and every
call they make goes to ``/api/ai`` with the user's own key."""

from __future__ import annotations

import html
from functools import partial
from pathlib import Path

from aiohttp import web

from shared.config import Settings

# Vite names every file under assets/ by a hash of its content: a changed file is a new
# name, so a browser may keep one for a year. index.html names the current ones, so it is
# checked again on every load (cheaply: Last-Modified and ETag answer 304).
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

# Every path but the API's, the reference's and the service's own routes is the dashboard's:
# a deep link such as /alerts or /decisions/<id> is a page the dashboard draws itself.
DASHBOARD_PATH = r"/{path:(?!(?:api|docs|internal)(?:/|$)|(?:healthz|readyz|metrics)$).*}"

# The page and its start-up script are ours; Swagger UI's own files come from the
# swagger-ui-dist npm package (`make docs` copies them to Settings.docs_dir).
REFERENCE = Path(__file__).parent / "docs"
SWAGGER_UI = ("swagger-ui-bundle.js", "swagger-ui.css")
# Only this server's own files: the reference works with the network cut, and tells no one
# who reads it (Swagger UI's validator badge, which calls validator.swagger.io, is off too).
REFERENCE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def file_in(root: Path, relative: str) -> Path | None:
    """``root/relative`` when that is a file inside ``root``; None otherwise, for a path that
    climbs out of ``root`` too."""
    try:
        base = root.resolve()
        path = (base / relative).resolve()
    except (OSError, ValueError):
        return None
    return path if path.is_relative_to(base) and path.is_file() else None


def not_built(title: str, how: str) -> web.Response:
    """A page, rather than an error, for a part of the build that was never made."""
    body = (
        '<!doctype html>\n<html lang="en">\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<h1>{html.escape(title)}</h1>\n<p>{how}</p>\n"
    )
    return web.Response(
        text=body,
        status=503,
        content_type="text/html",
        headers={"Cache-Control": "no-store"},
    )


def static_file(path: Path, cache: str, extra: dict[str, str] | None = None) -> web.FileResponse:
    headers = {"Cache-Control": cache, "X-Content-Type-Options": "nosniff", **(extra or {})}
    return web.FileResponse(path, headers=headers)


async def dashboard(root: Path, request: web.Request) -> web.StreamResponse:
    """A file of the dashboard's build in ``root``, or its index.html for any page."""
    relative = request.match_info["path"]
    if relative:
        found = file_in(root, relative)
        if found is not None:
            return static_file(found, IMMUTABLE if relative.startswith("assets/") else REVALIDATE)
        # A missing script or image is a 404, not a page: the browser would try to run
        # or draw the HTML.
        if relative.startswith("assets/") or "." in relative.rsplit("/", 1)[-1]:
            raise web.HTTPNotFound()
    index = file_in(root, "index.html")
    if index is None:
        return not_built(
            "The dashboard is not built",
            "Run <code>make web</code> to build it (it needs Node.js 20 or later and npm), "
            f"or point <code>ADPILOT_DASHBOARD_DIR</code> at a build; looked in "
            f"<code>{html.escape(str(root))}</code>. The API is at "
            '<code>/api/ai</code> and its reference at <a href="/docs">/docs</a>.',
        )
    return static_file(index, REVALIDATE)


def dashboard_routes(settings: Settings) -> list[web.RouteDef]:
    """The dashboard's build: its files, and index.html for every other page's path."""
    return [web.get(DASHBOARD_PATH, partial(dashboard, settings.dashboard_dir))]


async def reference_page(vendor: Path, _request: web.Request) -> web.StreamResponse:
    """Swagger UI's page, when its files are in ``vendor``."""
    if any(file_in(vendor, name) is None for name in SWAGGER_UI):
        return not_built(
            "The API reference is not built",
            "Run <code>make docs</code> to build it (it needs Node.js and npm), or point "
            "<code>ADPILOT_DOCS_DIR</code> at Swagger UI's files; looked in "
            f"<code>{html.escape(str(vendor))}</code>. The OpenAPI document it shows is "
            'at <a href="/api/ai/openapi.json">/api/ai/openapi.json</a>.',
        )
    return static_file(
        REFERENCE / "index.html",
        REVALIDATE,
        {"Content-Security-Policy": REFERENCE_POLICY, "Referrer-Policy": "no-referrer"},
    )


async def reference_asset(vendor: Path, request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    found = file_in(vendor, name) if name in SWAGGER_UI else None
    if name == "reference.js":
        found = REFERENCE / name
    if found is None:
        raise web.HTTPNotFound()
    return static_file(found, REVALIDATE)


def reference_routes(settings: Settings) -> list[web.RouteDef]:
    """``/docs``: Swagger UI over ``/api/ai/openapi.json``. Reading needs no key; "Try it
    out" sends the one given under Authorize."""
    page = partial(reference_page, settings.docs_dir)
    return [
        web.get("/docs", page),
        web.get("/docs/", page),
        web.get("/docs/{name}", partial(reference_asset, settings.docs_dir)),
    ]
