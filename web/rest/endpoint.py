"""One REST endpoint: parse the request by the handler's types, call it, shape the answer.

A handler is `async def name(call, *, <path parameters>, query=..., body=..., headers=...) ->
ResponseType`. Its annotations say everything: the path parameters are the arguments named in
the path, `query`, `body` and `headers` are typed dicts that pydantic parses (and describes, for
the OpenAPI document; header names lower-case), the return type is the response body (None:
204). Rules stay in services/: parsing only checks types.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, get_type_hints

from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from core.errors import ApiError, BadUserInput
from schema.context import Context
from web.context import build_context
from web.origins import public_origin
from web.request_body import BodyTooLarge, read_body
from web.responses import JSONResponse
from web.rest.errors import PayloadTooLarge, error_response, unexpected_response

Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Call:
    """One REST request: what a GraphQL resolver's `info` carries (the same Context)."""

    request: Request
    context: Context

    def viewer(self) -> int:
        return self.context.viewer()


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    status: int = 200
    errors: tuple[type[ApiError], ...] = ()
    signed_in: bool = False  # documents the bearer token; the handler asks for the viewer
    location: str | None = None  # of what a 201 created: a path under /api/v1, from the answer
    form: Any | None = None  # the parts of a multipart/form-data body the handler reads itself
    hints: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hints", get_type_hints(self.handler, include_extras=True))

    @property
    def path_params(self) -> list[str]:
        names = inspect.signature(self.handler).parameters
        return [name for name in names if "{" + name + "}" in self.path]

    @property
    def query_type(self) -> Any | None:
        return self.hints.get("query")

    @property
    def body_type(self) -> Any | None:
        return self.hints.get("body")

    @property
    def headers_type(self) -> Any | None:
        return self.hints.get("headers")

    @property
    def response_type(self) -> Any:
        return self.hints["return"]

    @property
    def success_status(self) -> int:
        return 204 if self.response_type is type(None) else self.status

    @property
    def pages(self) -> bool:
        """Answers a page: the response has `nextCursor`, and a Link header to the next page."""
        annotations = getattr(self.response_type, "__annotations__", {})
        return "nextCursor" in annotations

    @cached_property
    def _adapters(self) -> dict[str, TypeAdapter[Any]]:
        return {
            name: TypeAdapter(self.hints[name])
            for name in ("query", "body", "headers")
            if name in self.hints
        }

    async def __call__(self, request: Request) -> Response:
        context = await build_context(request)
        try:
            result = await self.handler(Call(request, context), **await self._arguments(request))
            return self._response(request, result)
        except ApiError as error:
            return error_response(error)
        except BodyTooLarge as error:
            return error_response(PayloadTooLarge(str(error)))
        except Exception:
            return unexpected_response()
        finally:
            await context.close()

    async def _arguments(self, request: Request) -> dict[str, Any]:
        arguments: dict[str, Any] = {name: request.path_params[name] for name in self.path_params}
        adapters = self._adapters
        if "query" in adapters:
            arguments["query"] = _parsed(adapters["query"].validate_python, request.query_params)
        if "body" in adapters:
            arguments["body"] = _parsed(adapters["body"].validate_json, await read_body(request))
        if "headers" in adapters:
            arguments["headers"] = _parsed(adapters["headers"].validate_python, request.headers)
        return arguments

    def _response(self, request: Request, result: Any) -> Response:
        if result is None:
            return Response(status_code=204)
        headers = {}
        if self.location is not None:
            headers["Location"] = request.scope["root_path"] + self.location.format(**result)
        if self.pages and result["nextCursor"] is not None:
            next_page = request.url.include_query_params(cursor=result["nextCursor"])
            url = f"{public_origin(request)}{next_page.path}?{next_page.query}"
            headers["Link"] = f'<{url}>; rel="next"'
        return JSONResponse(result, status_code=self.status, headers=headers)


def _parsed(parse: Callable[[Any], Any], raw: Any) -> Any:
    try:
        return parse(dict(raw) if not isinstance(raw, bytes) else raw)
    except ValidationError as error:
        raise BadUserInput(_message(error)) from None


def _message(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]
