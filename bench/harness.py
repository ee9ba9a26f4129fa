"""Processes and load: start a server process, drive it with wrk, read its figures."""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from core import redis_clients

ROOT = Path(__file__).resolve().parent.parent

_WRK_SCRIPT = """
local bodies = {%(bodies)s}
local headers = {%(headers)s}
local path = "%(path)s"
local method = "%(method)s"
local counter = 0
request = function()
  counter = counter + 1
  local i = (counter %% #headers) + 1
  local h = {["Content-Type"] = "application/json"}
  if headers[i] ~= "" then h["Authorization"] = headers[i] end
  if method == "GET" then
    return wrk.format("GET", path .. bodies[(counter %% #bodies) + 1], h)
  end
  return wrk.format(method, path, h, bodies[(counter %% #bodies) + 1])
end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    'RESULT {"requests": %%d, "seconds": %%f, "errors": %%d, ' ..
    '"p50": %%f, "p95": %%f, "p99": %%f}\\n',
    summary.requests, summary.duration / 1e6, errors,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


@dataclass(frozen=True)
class LoadResult:
    throughput: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests: int
    errors: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# a few clients on one address make thousands of requests: the limiters' work is measured,
# never a refusal
NO_REFUSALS = {"RATE_LIMIT_PER_MINUTE": "1000000000", "TWEET_RATE_LIMIT": "1000000000"}


@contextmanager
def server(app: str, env: dict[str, str], *, port: int | None = None) -> Iterator[str]:
    """Runs `app` (an app factory) in a uvicorn process of its own; yields its base URL."""
    port = port or free_port()
    command = [sys.executable, "-m", "uvicorn", app, "--factory", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log", "--ws-per-message-deflate", "false"]
    log_path = Path(tempfile.mkstemp(prefix="bench-server-", suffix=".log")[1])
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **NO_REFUSALS, **env}, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not start: {log.read_text()[-2000:]}")


def wrk(
    url: str,
    *,
    method: str,
    bodies: list[str],
    authorizations: list[str],
    seconds: float,
    connections: int,
) -> LoadResult:
    """Drives `url` with wrk (one thread: the other core is the server's)."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    script = _WRK_SCRIPT % {
        "bodies": ", ".join(_lua(body) for body in bodies),
        "headers": ", ".join(_lua(header) for header in authorizations),
        "path": httpx.URL(url).raw_path.decode(),
        "method": method,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as file:
        file.write(script)
        file.flush()
        base = str(httpx.URL(url).copy_with(path="/", query=None))
        completed = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "-s",
                file.name,
                base,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        )
    line = next(line for line in completed.stdout.splitlines() if line.startswith("RESULT "))
    raw = json.loads(line.removeprefix("RESULT "))
    return LoadResult(
        throughput=raw["requests"] / raw["seconds"],
        p50_ms=raw["p50"],
        p95_ms=raw["p95"],
        p99_ms=raw["p99"],
        requests=raw["requests"],
        errors=raw["errors"],
    )


def measure(
    run: Callable[[str, float], LoadResult],
    url: str,
    *,
    warmup: float,
    seconds: float,
    repeats: int,
) -> list[LoadResult]:
    """A warm-up, then `repeats` measured runs of `seconds` each."""
    run(url, warmup)
    return [run(url, seconds) for _ in range(repeats)]


def median(results: list[LoadResult], field: str) -> float:
    return float(statistics.median(getattr(result, field) for result in results))


def _lua(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid Lua string literal for our ASCII bodies


def busy_cpu_percent(sample_seconds: float = 1.0) -> float:
    """How much CPU other work is using right now, 0-100 over all cores."""
    return float(psutil.cpu_percent(interval=sample_seconds))


def metric(url: str, name: str) -> float:
    """A counter's value from the server's /metrics."""
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def flush_redis(redis_url: str) -> None:
    client = redis_clients.connect(redis_url, timeout=redis_clients.BACKGROUND_TIMEOUT_SECONDS)
    try:
        await client.flushdb()  # every master's on a cluster
    finally:
        await client.aclose()
