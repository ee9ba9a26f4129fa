"""The OpenAPI 3.1 document of the REST API, built from the endpoint table and handler types.

Nothing here is written by hand per endpoint: parameters, bodies and responses come from the
handlers' annotations (JSON Schema 2020-12 from pydantic, which OpenAPI 3.1 uses as it is),
the error responses from the ApiError classes the table lists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import TypeAdapter

from core.errors import BadUserInput, RateLimited, Unauthenticated
from web.rest.errors import STATUSES, Error, PayloadTooLarge

if TYPE_CHECKING:
    from web.rest.endpoint import Endpoint

_REF = "#/components/schemas/{model}"
_JSON = "application/json"
_FORM = "multipart/form-data"
_BEARER: dict[str, list[str]] = {"bearer": []}
_DESCRIPTION = (
    "The REST face of the chirp API: the same services, rules, limits, ids and field names as "
    "GraphQL (POST /graphql). Sign in with POST /login or POST /register and send the token as "
    '`Authorization: Bearer <token>`. Every expected failure is `{"error": {"code", '
    '"message"}}` with the code GraphQL would give in `extensions.code`.'
)


def document(endpoints: list[Endpoint], *, server: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, schemas)
    _schema(Error, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "chirp REST API", "version": "1", "description": _DESCRIPTION},
        "servers": [{"url": server}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _operation(endpoint: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.handler.__name__,
        "summary": endpoint.summary,
        "security": [_BEARER] if endpoint.signed_in else [{}, _BEARER],
        "parameters": _parameters(endpoint, schemas),
        "responses": {
            str(endpoint.success_status): _success(endpoint, schemas),
            **{str(status): _error(status) for status in _error_statuses(endpoint)},
        },
    }
    if endpoint.body_type is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {_JSON: {"schema": _schema(endpoint.body_type, schemas, "validation")}},
        }
    if endpoint.form is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {_FORM: {"schema": _schema(endpoint.form, schemas, "validation")}},
        }
    return operation


def _parameters(endpoint: Endpoint, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    parameters = []
    for name in endpoint.path_params:
        schema = _schema(endpoint.hints[name], schemas, "validation")
        parameters.append(_parameter(name, "path", True, schema))
    for where, fields_type in (("query", endpoint.query_type), ("header", endpoint.headers_type)):
        if fields_type is None:
            continue
        fields = _schema(fields_type, schemas, "validation", inline=True)
        required = set(fields.get("required", []))
        for name, schema in fields["properties"].items():
            shown = _header_name(name) if where == "header" else name
            parameters.append(_parameter(shown, where, name in required, dict(schema)))
    return parameters


def _header_name(name: str) -> str:
    """idempotency-key, as Starlette gives it, is Idempotency-Key (HTTP ignores the case)."""
    return "-".join(part.capitalize() for part in name.split("-"))


def _parameter(name: str, where: str, required: bool, schema: dict[str, Any]) -> dict[str, Any]:
    schema.pop("title", None)
    parameter = {"name": name, "in": where, "required": required, "schema": schema}
    if "description" in schema:
        parameter["description"] = schema.pop("description")
    return parameter


def _success(endpoint: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    if endpoint.success_status == 204:
        return {"description": "Done; no content."}
    response: dict[str, Any] = {
        "description": endpoint.summary,
        "content": {_JSON: {"schema": _schema(endpoint.response_type, schemas)}},
    }
    if endpoint.pages:
        response["headers"] = {
            "Link": {
                "description": 'The next page: `<absolute URL>; rel="next"`; absent on the last.',
                "schema": {"type": "string"},
            }
        }
    if endpoint.location is not None:
        response["headers"] = {
            "Location": {
                "description": "Where what was created can be read.",
                "required": True,
                "schema": {"type": "string"},
            }
        }
    return response


def _error_statuses(endpoint: Endpoint) -> list[int]:
    statuses = {BadUserInput.http_status, RateLimited.http_status}
    statuses |= {error.http_status for error in endpoint.errors}
    if endpoint.signed_in:
        statuses.add(Unauthenticated.http_status)
    if endpoint.body_type is not None or endpoint.form is not None:
        statuses.add(PayloadTooLarge.http_status)
    if endpoint.path_params:
        statuses.add(404)  # also what the router answers when a segment is empty or odd
    return sorted(statuses)


def _error(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": STATUSES[status],
        "content": {_JSON: {"schema": {"$ref": _REF.format(model="Error")}}},
    }
    if status == RateLimited.http_status:
        response["headers"] = {
            "Retry-After": {
                "description": "Whole seconds to wait before trying again.",
                "required": True,
                "schema": {"type": "integer", "minimum": 0},
            }
        }
    if status == Unauthenticated.http_status:
        response["headers"] = {
            "WWW-Authenticate": {
                "description": 'The scheme that signs in: `Bearer realm="chirp"`.',
                "required": True,
                "schema": {"type": "string"},
            }
        }
    return response


def _schema(
    type_: Any,
    schemas: dict[str, Any],
    mode: Literal["validation", "serialization"] = "serialization",
    *,
    inline: bool = False,
) -> dict[str, Any]:
    """The JSON Schema of `type_`; named types go to components, referred to by name."""
    schema = TypeAdapter(type_).json_schema(ref_template=_REF, mode=mode)
    schemas.update(schema.pop("$defs", {}))
    if inline or "$ref" in schema or schema.get("type") != "object" or "title" not in schema:
        return schema
    name = schema["title"]
    schemas[name] = schema
    return {"$ref": _REF.format(model=name)}
