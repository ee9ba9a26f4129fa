"""GraphiQL is served by the service itself and works with no internet."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def test_page_and_assets_are_local(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in page.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == policy["script-src"] == "'self'"  # no 'unsafe-eval'
    assert policy["connect-src"] == "'self' ws://127.0.0.1:8000"  # HOST and PORT: no PUBLIC_URL
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) >= 6
    for asset in assets:
        assert urlparse(asset).netloc == "", asset
        response = await client.get(asset)
        assert response.status_code == 200, asset
        assert response.headers["content-type"].split(";")[0] in {
            "text/javascript",
            "application/javascript",
            "text/css",
        }


async def test_json_clients_never_get_the_page(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql", params={"query": "{ __typename }"}, headers={"accept": "text/html"}
    )
    assert response.json()["data"] == {"__typename": "Query"}


async def test_graphiql_runs_a_query_in_chromium(live_server: str, tmp_path: Path) -> None:
    if CHROMIUM is None:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("Chromium is needed for the GraphiQL test (apt-get install chromium)")
        pytest.skip("no Chromium installed (apt-get install chromium)")
    from playwright.async_api import async_playwright

    outside: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page()
        await page.add_init_script(
            """window.violations = [];
            document.addEventListener("securitypolicyviolation", (event) =>
                window.violations.push(event.violatedDirective + " " + event.blockedURI));"""
        )
        page.on(
            "request",
            lambda request: (
                outside.append(request.url)
                if urlparse(request.url).hostname not in {"127.0.0.1", None}
                and not request.url.startswith("data:")
                else None
            ),
        )
        await page.goto(f"{live_server}/graphql", wait_until="networkidle")
        await page.wait_for_selector(".graphiql-execute-button", timeout=20_000)
        await page.evaluate(
            """() => {
                const editor = document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror;
                editor.setValue('{ __typename viewer { handle } }');
            }"""
        )
        await page.click(".graphiql-execute-button")
        result = page.locator(".result-window")
        await result.filter(has_text="__typename").wait_for(timeout=20_000)
        text = await result.inner_text()
        # its own WebSocket URL is allowed, another host's is not
        await page.evaluate(
            """() => {
                new WebSocket(location.origin.replace("http", "ws") + "/graphql").close();
                new WebSocket("ws://evil.example/graphql");
            }"""
        )
        await page.wait_for_function("() => window.violations.length > 0")
        violations = await page.evaluate("window.violations")
        await page.screenshot(path=str(tmp_path / "graphiql.png"))
        await browser.close()
    assert '"__typename": "Query"' in text and '"viewer": null' in text
    assert violations == ["connect-src ws://evil.example/graphql"]  # and nothing the page does
    assert outside == []
