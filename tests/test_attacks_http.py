"""Connection-level attacks on the server as serve.py runs it (web/http_protocol.py), with raw
sockets: heads that never end, stalled bodies, oversized heads, and connections held open by
the thousand. Each is refused or closed; nothing is logged as a crash."""

from __future__ import annotations

import logging
import os
import resource
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from app import create_app
from core.config import Settings
from tests.conftest import ROOT, serving
from tests.ports import free_port

TIMEOUT = 1  # the server's head and body timeouts here
WAIT = 10.0  # how long a test waits for the server to act (ten times the timeout)
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
SCALE = int(os.environ.get("ATTACK_SCALE", "1"))  # README, "Attacks": longer runs


@pytest.fixture(scope="module")
def strict(settings: Settings) -> Iterator[tuple[str, int]]:
    """(host, port) of a server with one-second timeouts and room for 50 connections."""
    limited = replace(
        settings,
        http_header_timeout_seconds=TIMEOUT,
        http_body_timeout_seconds=TIMEOUT,
        max_connections=50,
    )
    with serving(create_app(limited), limited) as url:
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port)


def _connect(address: tuple[str, int]) -> socket.socket:
    return socket.create_connection(address, timeout=WAIT)


def _answer(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (within WAIT seconds)."""
    answer = b""
    while chunk := connection.recv(65536):
        answer += chunk
    return answer


def _no_crash_logged(caplog: pytest.LogCaptureFixture) -> None:
    crashes = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert crashes == [], [r.getMessage() for r in crashes]


def test_a_head_that_never_ends_is_408(
    strict: tuple[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    """Slowloris: a header line now and then, never the blank line that ends the head."""
    with _connect(strict) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        connection.settimeout(TIMEOUT / 5)
        answer, deadline = b"", time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                connection.sendall(b"X-More: 1\r\n")
                chunk = connection.recv(65536)
            except TimeoutError:
                continue
            except OSError:  # closed while we were sending
                break
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b'"code": "BAD_USER_INPUT"' in answer and b"connection: close" in answer
    _no_crash_logged(caplog)


def test_a_connection_that_sends_nothing_is_closed(strict: tuple[str, int]) -> None:
    with _connect(strict) as connection:
        assert _answer(connection) == b""  # closed, with nothing to say to a silent client


def test_a_stalled_body_is_408(strict: tuple[str, int], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="chirp.access")
    with _connect(strict) as connection:
        connection.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"query": '
        )
        answer = _answer(connection)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"The request body stopped coming within 1 seconds." in answer
    deadline = time.monotonic() + WAIT  # the app's own way out of the request: its access line
    while not any(r.name == "chirp.access" for r in caplog.records):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    _no_crash_logged(caplog)


@pytest.mark.parametrize("after", [b"", HEALTHZ], ids=["first", "after-a-request"])
@pytest.mark.parametrize(
    "headers",
    [
        b"X-Big: " + b"x" * 40_000 + b"\r\n",  # one header over 32 KiB
        b"".join(b"X-%d: 1\r\n" % n for n in range(101)),  # over 100 headers
    ],
    ids=["bytes", "count"],
)
def test_oversized_heads_are_431(
    strict: tuple[str, int], headers: bytes, after: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with _connect(strict) as connection:
        if after:  # a request answered first: the connection is kept alive, then refused
            connection.sendall(after)
            assert connection.recv(65536).startswith(b"HTTP/1.1 200 ")
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        answer = _answer(connection)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    _no_crash_logged(caplog)


def test_an_endless_header_is_cut_off(strict: tuple[str, int]) -> None:
    """A header of 100 MB was read in full (and answered 200): now the server stops reading,
    and closes, within its limit and a read or two; what the client has sent by then is only
    what the sockets' buffers took."""
    sent, chunk = 0, b"x" * 65536
    with _connect(strict) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        try:
            while sent < 100 * 1024 * 1024:
                connection.sendall(chunk)
                sent += len(chunk)
        except OSError:  # reset or closed by the server
            pass
    assert sent < 100 * 1024 * 1024


def test_connections_past_the_limit_close_idle_ones(strict: tuple[str, int]) -> None:
    """200 connections (x ATTACK_SCALE) that never finish a request, 50 allowed: each new one
    closes an idle one, so a real request still gets through."""
    flood = 200 * SCALE
    held = [_connect(strict) for _ in range(flood)]
    try:
        response = httpx.get(f"http://{strict[0]}:{strict[1]}/healthz", timeout=WAIT)
        assert response.status_code == 200 and response.text == "ok"
        deadline, closed = time.monotonic() + WAIT, 0
        while closed < flood - 50 and time.monotonic() < deadline:
            readable, _, _ = select.select(held, [], [], 0.1)  # readable: closed by the server
            closed = len(readable)
        assert closed >= flood - 50
    finally:
        for connection in held:
            connection.close()


def _low_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (512, 512))


def test_more_connections_than_file_descriptors(settings: Settings, tmp_path: Path) -> None:
    """serve.py's defaults, in a process allowed 512 open files: 1,000 connections that send
    nothing used to take every descriptor (the accept loop failing with EMFILE), and /healthz no
    longer answered; MAX_CONNECTIONS, unset, leaves a quarter of them free."""
    port = free_port()
    env = os.environ | {
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "JWT_SECRET": settings.resolved_jwt_secret(),
        "WORKER_ID": "7",
        "PORT": str(port),
        "DATA_DIR": str(tmp_path),
    }
    server = subprocess.Popen(
        [sys.executable, "serve.py", "--api"],
        cwd=ROOT,
        env=env,
        preexec_fn=_low_file_limit,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    held: list[socket.socket] = []
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "did not start"
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        held += [_connect(("127.0.0.1", port)) for _ in range(1000 * SCALE)]
        response = httpx.get(url, timeout=WAIT)
        assert response.status_code == 200 and response.text == "ok"
    finally:
        for connection in held:
            connection.close()
        server.terminate()
        server.wait(timeout=30)
