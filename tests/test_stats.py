"""The /stats page charts this service's /metrics live, with nothing fetched from elsewhere."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from tests.graphql import ok, register
from tests.test_graphiql import CHROMIUM, CHROMIUM_ARGS

QUERIES = 4  # after one registration: the page must count exactly these requests
BLUE = (0x25, 0x63, 0xEB)  # the first line colour of stats.js, used by the HTTP rate

# A function, not an expression: the page's CSP forbids the eval() an expression would need.
_POLLS = "polls => window.stats.polls >= polls"

# The area under a rate line since `since`: the number of requests the page counted. A line
# starts at the first poll that saw its label, so the polls' times come from the HTTP line.
_COUNTED = """([name, since]) => {
    const times = window.stats.series['requests/http'].map(([t]) => t);
    let total = 0;
    for (const [t, v] of window.stats.series[name]) {
        if (t > since && v !== null) total += v * (t - times[times.indexOf(t) - 1]) / 1000;
    }
    return total;
}"""

_PIXELS = """([id, rgb]) => {
    const canvas = document.getElementById(id);
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0, coloured = 0;
    for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] > 0) painted++;
        if (data[i + 3] > 200 && Math.abs(data[i] - rgb[0]) + Math.abs(data[i + 1] - rgb[1])
            + Math.abs(data[i + 2] - rgb[2]) < 30) coloured++;
    }
    return [painted, coloured];
}"""


async def test_page_and_assets_are_local(client: httpx.AsyncClient) -> None:
    page = await client.get("/stats")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe" not in policy
    assert re.findall(r"<script(?![^>]*\bsrc=)", page.text) == []
    assets = re.findall(r'(?:src|href)="(?!data:)([^"]+)"', page.text)
    assert len(assets) == 2
    bodies = [page.text]
    for asset in assets:
        assert urlparse(asset).netloc == "", asset
        response = await client.get(asset)
        assert response.status_code == 200, asset
        assert response.headers["content-type"].split(";")[0] in {
            "text/javascript",
            "application/javascript",
            "text/css",
        }
        bodies.append(response.text)
    for body in bodies:
        assert "http://" not in body and "https://" not in body and "//cdn" not in body


async def test_page_charts_live_traffic_in_chromium(live_server: str, tmp_path: Path) -> None:
    if CHROMIUM is None:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("Chromium is needed for the /stats test (apt-get install chromium)")
        pytest.skip("no Chromium installed (apt-get install chromium)")
    from playwright.async_api import async_playwright

    outside: list[str] = []
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page()
        page.on(
            "request",
            lambda request: (
                outside.append(request.url)
                if urlparse(request.url).hostname not in {"127.0.0.1", None}
                else None
            ),
        )
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on(
            "console",
            lambda message: problems.append(message.text) if message.type == "error" else None,
        )
        await page.goto(f"{live_server}/stats")
        await page.wait_for_function(_POLLS, arg=2, timeout=20_000)
        since = await page.evaluate("window.stats.last.t")

        async with httpx.AsyncClient(base_url=live_server) as http:
            account = await register(http)
            for _ in range(QUERIES):
                await ok(http, "{ viewer { handle } }", token=account.token)
            # the middleware counts a request just after answering it: two polls make sure
            polls = await page.evaluate("window.stats.polls")
            await page.wait_for_function(_POLLS, arg=polls + 2, timeout=20_000)
            exported = (await http.get("/metrics")).text

        stats: dict[str, Any] = await page.evaluate(
            "({series: window.stats.series, error: window.stats.error})"
        )
        counted = await page.evaluate(_COUNTED, ["requests/http", since])
        canvases = await page.eval_on_selector_all("canvas", "all => all.map(c => c.id)")
        pixels = {id: await page.evaluate(_PIXELS, [id, BLUE]) for id in canvases}
        shown = await page.locator("#chart-requests").evaluate(
            "canvas => canvas.parentElement.querySelector('.value').textContent"
        )
        graphql = {
            kind: await page.evaluate(_COUNTED, [f"requests/graphql {kind}", since])
            for kind in ("query", "mutation")
            if f"requests/graphql {kind}" in stats["series"]
        }
        await page.screenshot(path=str(tmp_path / "stats.png"), full_page=True)
        await browser.close()

    assert stats["error"] is None and problems == [] and outside == []
    assert counted == pytest.approx(1 + QUERIES, abs=0.01)
    assert max(v for _, v in stats["series"]["requests/http"] if v is not None) > 0
    assert re.fullmatch(r"\d+(\.\d+)?/s", shown), shown
    assert len(canvases) == 9
    assert all(painted > 0 for painted, _ in pixels.values()), pixels
    assert pixels["chart-requests"][1] > 10, "the HTTP rate line was not drawn"
    assert all(v is None for _, v in stats["series"]["lag/p99"]), "no fan-out ran"
    if 'type="mutation"' in exported:  # GraphQL operations are counted by schema extension
        assert graphql == pytest.approx({"query": QUERIES, "mutation": 1}, abs=0.01)
        assert any(v for _, v in stats["series"]["latency/p99"]), "no latency from the buckets"
