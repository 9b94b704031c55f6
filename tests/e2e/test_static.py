"""What the gateway serves besides the API: the dashboard at `/` and the API reference at
`/docs`, open to anyone, while every `/api/ai` route still needs a key.

Two gateways in front of the suite's services: one with a dashboard build (a stand-in, so
these tests do not depend on the dashboard's own code) and Swagger UI copied from the
client's swagger-ui-dist package, one with neither."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from yarl import URL

from services.gateway.static import IMMUTABLE
from shared.contracts import ROUTES
from tests.e2e.platform import Platform
from tests.node import npm_ok

INDEX = (
    '<!doctype html>\n<html lang="en"><head><title>adpilot</title>'
    '<link rel="stylesheet" href="/assets/index-3f2a1b9c.css"></head>'
    '<body><div id="app"></div><script type="module" src="/assets/index-7d4e5f60.js"></script>'
    "</body></html>\n"
)
PUBLIC = {"/api/ai/openapi.json", "/api/ai/asyncapi.json"}


@pytest.fixture(scope="module")
async def built(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A gateway with a dashboard build and the API reference's files."""
    dist = tmp_path_factory.mktemp("dashboard")
    (dist / "assets").mkdir()
    (dist / "index.html").write_text(INDEX)
    (dist / "assets" / "index-7d4e5f60.js").write_text("document.title = 'adpilot';\n")
    (dist / "assets" / "index-3f2a1b9c.css").write_text("body { margin: 0 }\n")
    (dist / "favicon.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    docs = tmp_path_factory.mktemp("swagger-ui")
    npm_ok("run", "--silent", "docs", "--", str(docs))
    return await platform.start_gateway_variant("front-end", dashboard_dir=dist, docs_dir=docs)


@pytest.fixture(scope="module")
async def unbuilt(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A gateway whose dashboard and reference were never built."""
    nowhere = tmp_path_factory.mktemp("unbuilt")
    return await platform.start_gateway_variant(
        "unbuilt", dashboard_dir=nowhere / "dist", docs_dir=nowhere / "swagger-ui"
    )


@pytest.fixture
async def anon() -> AsyncIterator[aiohttp.ClientSession]:
    """No credentials at all."""
    async with aiohttp.ClientSession() as session:
        yield session


async def test_the_reference_needs_no_key_and_loads_nothing_from_outside(
    built: str, anon: aiohttp.ClientSession
) -> None:
    async with anon.get(f"{built}/docs") as r:
        assert r.status == 200
        assert r.content_type == "text/html"
        policy = r.headers["Content-Security-Policy"]
        page = await r.text()
    # The browser may load nothing but this server's files...
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    # ...and the page names nothing else.
    assert "//" not in re.sub(r"<!--.*?-->", "", page, flags=re.S), page
    local = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert local and all(url.startswith("/") for url in local), local
    for url in local:
        async with anon.get(f"{built}{url}") as r:
            assert r.status == 200, url
            body = await r.text()
            kind = r.content_type
        if url.endswith(".css"):
            assert kind == "text/css"
            # No web fonts or images from elsewhere.
            assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", body)
            assert "@import" not in body
        elif url.endswith(".js"):
            assert kind in {"application/javascript", "text/javascript"}, kind
        if url == "/docs/reference.js":
            # Swagger UI's validator badge would send the document to validator.swagger.io.
            assert "validatorUrl: null" in body and 'url: "/api/ai/openapi.json"' in body
    async with anon.get(f"{built}/api/ai/openapi.json") as r:
        assert r.status == 200
        document = await r.json()
    # "Authorize" asks for a bearer key because the document declares the scheme.
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearerAuth"]["description"],
    }
    assert {"bearerAuth": []} in document["security"]


async def test_the_dashboard_is_served_at_the_root(built: str, anon: aiohttp.ClientSession) -> None:
    for path in ("/", "/index.html"):
        async with anon.get(f"{built}{path}") as r:
            assert r.status == 200, path
            assert r.content_type == "text/html"
            # Checked again on every load, so a new build shows at once.
            assert r.headers["Cache-Control"] == "no-cache"
            assert await r.text() == INDEX


async def test_deep_links_are_answered_with_the_dashboard(
    built: str, anon: aiohttp.ClientSession
) -> None:
    for path in ("/alerts", f"/decisions/{uuid.uuid4()}", "/experiments/new/", "/docsearch"):
        async with anon.get(f"{built}{path}") as r:
            assert r.status == 200, path
            assert r.headers["Cache-Control"] == "no-cache"
            assert await r.text() == INDEX, path


async def test_hashed_assets_are_kept_for_a_year_and_missing_files_are_404(
    built: str, anon: aiohttp.ClientSession
) -> None:
    async with anon.get(f"{built}/assets/index-7d4e5f60.js") as r:
        assert r.status == 200
        assert r.headers["Cache-Control"] == IMMUTABLE
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert "javascript" in r.content_type
    async with anon.get(f"{built}/favicon.svg") as r:
        assert r.status == 200
        assert r.headers["Cache-Control"] == "no-cache"
    # A script or an image that is not there is not a page either.
    for path in ("/assets/index-00000000.js", "/logo.png"):
        async with anon.get(f"{built}{path}") as r:
            assert r.status == 404, path
            assert r.content_type == "application/json", path
    # Nothing outside the build, however the path is spelt.
    climb = "/assets/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/hostname"
    async with anon.get(URL(f"{built}{climb}", encoded=True)) as r:
        assert r.status == 404


async def test_every_api_route_still_needs_a_key(built: str, anon: aiohttp.ClientSession) -> None:
    some_id = str(uuid.uuid4())
    for route in ROUTES:
        path = route.path.replace("{id}", some_id)
        async with anon.request(route.method, f"{built}{path}") as r:
            assert r.status == 401, f"{route.method} {path}: {r.status}"
            assert (await r.json())["error"]["code"] == "unauthorized"
    for path in PUBLIC:
        async with anon.get(f"{built}{path}") as r:
            assert r.status == 200
    # The API's unknown paths stay the API's: JSON, never the dashboard's page.
    for path in ("/api/ai/no-such-thing", "/api/other", "/healthz", "/metrics"):
        async with anon.get(f"{built}{path}") as r:
            assert r.content_type != "text/html", path


async def test_what_was_never_built_says_how_to_build_it(
    unbuilt: str, anon: aiohttp.ClientSession
) -> None:
    for path in ("/", "/alerts"):
        async with anon.get(f"{unbuilt}{path}") as r:
            assert r.status == 503
            assert r.content_type == "text/html"
            assert "make web" in await r.text()
    async with anon.get(f"{unbuilt}/docs") as r:
        assert r.status == 503
        page = await r.text()
        assert "make docs" in page and "/api/ai/openapi.json" in page
    async with anon.get(f"{unbuilt}/api/ai/alerts") as r:
        assert r.status == 401
