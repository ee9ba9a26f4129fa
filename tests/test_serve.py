"""`make run` (serve.py) on the embedded default: serves, keeps data, stops cleanly on a signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from core.embedded import server_pids
from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
REGISTER = 'mutation { register(input: {handle: "keeper", password: "correct horse"}) { token } }'
LOGIN = 'mutation { login(input: {handle: "keeper", password: "correct horse"}) { token } }'


def _log(data_dir: Path) -> Path:
    """Where serve.py's output goes: beside DATA_DIR, for a failure to show."""
    return data_dir.parent / f"{data_dir.name}-serve.log"


def _start(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATA_DIR=str(data_dir), PORT=str(port), LOG_FORMAT="text")
    with _log(data_dir).open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "serve.py"], cwd=ROOT, env=env, stderr=log, stdout=log
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("serve.py did not become ready")


def _post(port: int, query: str) -> dict[str, object]:
    response = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=10)
    body: dict[str, object] = response.json()
    return body


def stopped_cleanly(data_dir: Path) -> None:
    """No process serves the data any more (the last ones may take a moment to exit)."""
    deadline = time.monotonic() + 10
    while (left := server_pids(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if left:
        import psutil

        running = [
            " ".join(psutil.Process(pid).cmdline()) for pid in left if psutil.pid_exists(pid)
        ]
        log = _log(data_dir)
        said = log.read_text()[-3000:] if log.exists() else ""
        raise AssertionError(f"still running: {running}\n{said}")


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_keeps_data_and_stops_cleanly(tmp_path: Path, stop_signal: signal.Signals) -> None:
    port = free_port()
    process = _start(tmp_path, port)
    assert "errors" not in _post(port, REGISTER)
    process.send_signal(stop_signal)
    assert process.wait(timeout=30) == 0
    stopped_cleanly(tmp_path)

    process = _start(tmp_path, port)
    assert "errors" not in _post(port, LOGIN)
    process.send_signal(stop_signal)
    assert process.wait(timeout=30) == 0
    stopped_cleanly(tmp_path)
