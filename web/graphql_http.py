"""GraphQL over HTTP (the GraphQL-over-HTTP specification), GET and POST on /graphql."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from core.errors import ApiError, format_api_error
from web import persisted
from web.context import build_context
from web.errors import format_errors, is_request_error, refused_before_execution
from web.graphiql import graphiql_page, wants_graphiql
from web.request_body import BodyTooLarge, parse_json, read_body
from web.responses import JSONResponse

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


class RequestRejected(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class GraphQLApp:
    """The endpoint as a plain ASGI app (Starlette routes to an instance as it is): its
    request/response wrapper, for exception handlers this app does not have, would cost every
    request a layer."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await graphql_endpoint(Request(scope, receive, send))
        await response(scope, receive, send)


async def graphql_endpoint(request: Request) -> Response:
    if request.method == "GET" and request.app.state.settings.graphiql and wants_graphiql(request):
        return graphiql_page(request)
    try:
        media_type = _negotiate(request.headers.get("accept"))
        params = await _params(request)
        stored = await persisted.resolve(request, params)
        return await _execute(request, params, media_type, stored)
    except RequestRejected as rejected:
        body = {"errors": [{"message": rejected.message, "extensions": {"code": "BAD_USER_INPUT"}}]}
        return JSONResponse(body, status_code=rejected.status, headers=rejected.headers)
    except ApiError as refused:  # a persisted query that cannot be had
        body = {"errors": [format_api_error(refused)]}
        return JSONResponse(body, status_code=refused.http_status)


async def _execute(
    request: Request,
    params: dict[str, Any],
    media_type: str,
    stored: persisted.Persisted | None = None,
) -> Response:
    allowed = {OperationType.QUERY} if request.method == "GET" else None
    schema = request.app.state.schema
    context = await build_context(request)
    result: ExecutionResult
    try:
        result = await schema.execute(
            params["query"],
            variable_values=params.get("variables"),
            context_value=context,
            operation_name=params.get("operationName"),
            allowed_operation_types=allowed,
        )
    except MissingQueryError:
        raise RequestRejected(400, "No GraphQL query found in the request.") from None
    except CannotGetOperationTypeError as error:  # operationName names none of the document's
        unknown = GraphQLError(error.as_http_error_reason(), original_error=error)
        result = PreExecutionError(data=None, errors=[unknown])
    except InvalidOperationTypeError:
        raise RequestRejected(
            405, "Only queries can be sent with GET.", {"Allow": "POST"}
        ) from None
    finally:
        await context.close()
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = format_errors(result)
    if not is_request_error(result):
        body["data"] = result.data
    if result.extensions:
        body["extensions"] = result.extensions
    if not is_request_error(result):
        await persisted.register(request, stored, params["query"])
    status = 400 if media_type == GRAPHQL_RESPONSE and is_request_error(result) else 200
    headers = {}
    if (refused := refused_before_execution(result)) is not None:
        status, headers = 429, {"Retry-After": str(refused.retry_after)}
    return JSONResponse(body, status_code=status, media_type=media_type, headers=headers)


def _negotiate(accept: str | None) -> str:
    if not accept:
        return JSON
    offered = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    for media_type in offered:
        if media_type == GRAPHQL_RESPONSE:
            return GRAPHQL_RESPONSE
        if media_type in (JSON, "application/*", "*/*", "text/html"):
            return JSON  # text/html: a browser that sent a query of its own gets JSON
    raise RequestRejected(406, f"Accept {GRAPHQL_RESPONSE} or {JSON}.")


async def _params(request: Request) -> dict[str, Any]:
    if request.method == "GET":
        params: dict[str, Any] = dict(request.query_params)
        for key in ("variables", "extensions"):
            if key in params:
                params[key] = _json(params[key])
    else:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in (JSON, GRAPHQL_RESPONSE):
            raise RequestRejected(415, f"Send the request as {JSON}.")
        params = _json(await _body(request))
    return _checked(params)


async def _body(request: Request) -> bytes:
    try:
        return await read_body(request)
    except BodyTooLarge as error:
        raise RequestRejected(413, str(error)) from None


def _json(raw: str | bytes) -> Any:
    try:
        return parse_json(raw)
    except ValueError:
        raise RequestRejected(400, "The request body is not valid JSON.") from None


def _checked(params: Any) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise RequestRejected(400, "The request must be a JSON object.")
    if not isinstance(params.get("query"), str) and not _names_persisted(params):
        raise RequestRejected(400, "The request needs a `query` string.")
    if not isinstance(params.get("variables"), dict | None):
        raise RequestRejected(400, "`variables` must be an object.")
    if not isinstance(params.get("operationName"), str | None):
        raise RequestRejected(400, "`operationName` must be a string.")
    if not isinstance(params.get("extensions"), dict | None):
        raise RequestRejected(400, "`extensions` must be an object.")
    return params


def _names_persisted(params: dict[str, Any]) -> bool:
    extensions = params.get("extensions")
    named = isinstance(extensions, dict) and "persistedQuery" in extensions
    return named and params.get("query") is None
