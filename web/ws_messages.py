"""What a client's WebSocket message must look like before Strawberry's handlers read it.

They index messages as they expect them (`message["payload"]["query"]`): a JSON array, a payload
that is a string, an id that is a list, raised TypeError and ended the socket with 1006 and a
traceback. Checked here, such a message closes the socket with 4400, on both protocols.
"""

from __future__ import annotations

from typing import Any

INVALID = 4400
_WITH_ID = {"subscribe", "complete", "start", "stop"}  # graphql-transport-ws, then graphql-ws
_STARTS = {"subscribe", "start"}


def malformed(message: Any) -> str | None:
    """Why the message cannot be handled; None when it has the shape its type needs."""
    if not isinstance(message, dict):
        return "A message must be a JSON object."
    kind = message.get("type")
    if not isinstance(kind, str):
        return "A message needs a `type` string."
    if kind in _WITH_ID and not isinstance(message.get("id"), str):
        return f"A {kind} message needs an `id` string."
    payload = message.get("payload")
    if kind in _STARTS:
        return _operation(payload)
    if payload is not None and not isinstance(payload, dict):
        return "A message's `payload` must be an object."
    return None


def _operation(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return "The `payload` of an operation must be an object."
    if not isinstance(payload.get("query"), str):
        return "An operation needs a `query` string."
    if not isinstance(payload.get("operationName"), str | None):
        return "`operationName` must be a string."
    for name in ("variables", "extensions"):
        if not isinstance(payload.get(name), dict | None):
            return f"`{name}` must be an object."
    return None
