"""Malformed and hostile WebSocket messages, on both protocols, with real clients: each gets a
close code or an error with a contract code, and nothing is logged as a crash."""

from __future__ import annotations

import logging

import httpx
import pytest
import websockets

from tests.graphql import register
from tests.ws import LEGACY_WS, TRANSPORT_WS, Socket

DEEP = "[" * 50_000 + "]" * 50_000
UNPARSED = {  # json.loads raised RecursionError on these
    "deep": DEEP,
    "deep payload": '{"type": "ping", "payload": {"a": ' + DEEP + "}}",
}
MALFORMED = UNPARSED | {
    "array": "[1, 2]",
    "string": '"connection_init"',
    "payload not an object": '{"id": "1", "type": "subscribe", "payload": "{ __typename }"}',
    "query not a string": '{"id": "1", "type": "subscribe", "payload": {"query": 1}}',
    "id not a string": '{"id": [1], "type": "subscribe", "payload": {"query": "{ __typename }"}}',
    "no type": '{"id": "1"}',
    "no id": '{"type": "subscribe", "payload": {"query": "{ __typename }"}}',
}


def _no_crash_logged(caplog: pytest.LogCaptureFixture) -> None:
    crashes = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert crashes == [], [r.getMessage() for r in crashes]


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@pytest.mark.parametrize("message", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_a_malformed_message_closes_with_4400(
    live_server: str, protocol: str, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    socket = await Socket.open(live_server, protocol=protocol)
    unparsed = message in UNPARSED.values()
    if protocol == LEGACY_WS:
        message = message.replace('"subscribe"', '"start"').replace('"ping"', '"stop"')
    await socket.connection.send(message)
    if protocol == LEGACY_WS and unparsed:
        # the legacy protocol ignores what is not JSON (Strawberry's handler): still in service
        await socket.send({"id": "1", "type": "start", "payload": {"query": "{ __typename }"}})
        assert (await socket.next())["data"] == {"__typename": "Query"}
        await socket.close()
    else:
        assert await socket.closed_with() == 4400
    _no_crash_logged(caplog)


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_an_operation_name_naming_no_operation_is_bad_user_input(
    live_server: str, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    socket = await Socket.open(live_server, protocol=protocol)
    start = "subscribe" if protocol == TRANSPORT_WS else "start"
    payload = {"query": "query A { __typename }", "operationName": "X"}
    await socket.send({"id": "1", "type": start, "payload": payload})
    message = await socket.receive()
    assert message["type"] == "error"
    # graphql-transport-ws sends a list of errors, the legacy protocol one error
    [error] = message["payload"] if protocol == TRANSPORT_WS else [message["payload"]]
    assert error["message"] == 'Unknown operation named "X".'
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    await socket.close()
    _no_crash_logged(caplog)


async def test_mutations_run_on_the_legacy_protocol(
    client: httpx.AsyncClient, live_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    """As on graphql-transport-ws, and as Apollo's servers of the legacy protocol did: a data
    message, then complete (Strawberry's handler ran subscriptions only: INTERNAL_SERVER_ERROR)."""
    account = await register(client)
    socket = await Socket.open(live_server, account.token, protocol=LEGACY_WS)
    mutation = 'mutation { createTweet(input: {text: "over the old protocol"}) { text } }'
    await socket.send({"id": "1", "type": "start", "payload": {"query": mutation}})
    result = await socket.next()
    assert result["data"] == {"createTweet": {"text": "over the old protocol"}}
    assert (await socket.receive())["type"] == "complete"
    await socket.send({"id": "2", "type": "start", "payload": {"query": "{ viewer { handle } }"}})
    assert (await socket.next())["data"] == {"viewer": {"handle": account.handle}}
    await socket.close()
    _no_crash_logged(caplog)


async def test_a_bad_token_closes_the_legacy_socket_with_4403(live_server: str) -> None:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await Socket.open(live_server, "not-a-token", protocol=LEGACY_WS)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
