"""Persisted queries: Apollo's automatic persisted queries, and the PERSISTED_QUERIES_ONLY
allow-list."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import create_app
from core.config import Settings
from tests.test_query_limits import serving


def sha(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def persisted(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


def fresh_query() -> str:
    """A query no earlier run has registered."""
    return f"{{ x{uuid.uuid4().hex}: __typename }}"


def code(response: httpx.Response) -> str:
    value: str = response.json()["errors"][0]["extensions"]["code"]
    return value


async def test_an_unknown_hash_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"extensions": persisted(sha(fresh_query()))})
    assert response.status_code == 200
    assert response.json() == {
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ]
    }


async def test_a_registered_query_runs_by_hash_with_post_and_get(client: httpx.AsyncClient) -> None:
    query = fresh_query()
    alias = query.split(":")[0].strip("{ ")
    first = await client.post(
        "/graphql", json={"query": query, "extensions": persisted(sha(query))}
    )
    assert first.json()["data"] == {alias: "Query"}
    again = await client.post("/graphql", json={"extensions": persisted(sha(query))})
    assert again.json()["data"] == {alias: "Query"}
    params = {"extensions": json.dumps(persisted(sha(query)))}
    got = await client.get("/graphql", params=params, headers={"accept": "*/*"})
    assert got.status_code == 200 and got.json()["data"] == {alias: "Query"}


async def test_get_can_register_too(client: httpx.AsyncClient) -> None:
    query = fresh_query()
    params = {"query": query, "extensions": json.dumps(persisted(sha(query)))}
    assert "data" in (await client.get("/graphql", params=params)).json()
    params = {"extensions": json.dumps(persisted(sha(query)))}
    assert "data" in (await client.get("/graphql", params=params)).json()


async def test_a_wrong_hash_is_refused(client: httpx.AsyncClient) -> None:
    query = fresh_query()
    response = await client.post(
        "/graphql", json={"query": query, "extensions": persisted(sha(query + " "))}
    )
    assert response.status_code == 400
    assert code(response) == "BAD_USER_INPUT"
    assert response.json()["errors"][0]["message"] == "provided sha does not match query"
    hash_only = await client.post("/graphql", json={"extensions": persisted(sha(query))})
    assert code(hash_only) == "PERSISTED_QUERY_NOT_FOUND"  # nothing was kept


async def test_malformed_persisted_queries_are_bad_input(client: httpx.AsyncClient) -> None:
    for extension in (
        {"version": 2, "sha256Hash": sha("{ __typename }")},
        {"version": 1, "sha256Hash": "abc"},
        "not an object",
    ):
        response = await client.post("/graphql", json={"extensions": {"persistedQuery": extension}})
        assert code(response) == "BAD_USER_INPUT", extension


async def test_a_query_with_a_lone_surrogate_is_bad_input(client: httpx.AsyncClient) -> None:
    """A lone surrogate escape is valid JSON, but no UTF-8 can hold it: hashing the query
    raised UnicodeEncodeError (an HTTP 500)."""
    body = {"query": "{ __typename } # \ud800", "extensions": persisted("0" * 64)}
    response = await client.post(
        "/graphql", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert code(response) == "BAD_USER_INPUT"


async def test_an_invalid_or_refused_query_is_not_kept(client: httpx.AsyncClient) -> None:
    for query in (f"{{ nope{uuid.uuid4().hex} }}", "{ " + "a: __typename " * 31 + "}"):
        sent = await client.post(
            "/graphql", json={"query": query, "extensions": persisted(sha(query))}
        )
        assert "errors" in sent.json()
        later = await client.post("/graphql", json={"extensions": persisted(sha(query))})
        assert code(later) == "PERSISTED_QUERY_NOT_FOUND"


async def test_the_allow_list_serves_listed_queries_only(
    settings: Settings, tmp_path: Path
) -> None:
    listed = "query Listed { __typename }"
    manifest_query = "query FromManifest { __typename }"
    plain = tmp_path / "allowed.json"
    plain.write_text(json.dumps({sha(listed): listed}))
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [
                    {
                        "id": sha(manifest_query),
                        "name": "FromManifest",
                        "type": "query",
                        "body": manifest_query,
                    }
                ],
            }
        )
    )
    async with serving(settings, persisted_queries_only=str(plain)) as http:
        by_hash = await http.post("/graphql", json={"extensions": persisted(sha(listed))})
        assert by_hash.json()["data"] == {"__typename": "Query"}
        get = await http.get("/graphql", params={"extensions": json.dumps(persisted(sha(listed)))})
        assert get.json()["data"] == {"__typename": "Query"}
        as_text = await http.post("/graphql", json={"query": listed})
        assert as_text.json()["data"] == {"__typename": "Query"}  # its hash is listed
        ad_hoc = await http.post("/graphql", json={"query": "{ __typename }"})
        assert code(ad_hoc) == "FORBIDDEN" and "data" not in ad_hoc.json()
        unknown = fresh_query()
        registering = await http.post(
            "/graphql", json={"query": unknown, "extensions": persisted(sha(unknown))}
        )
        assert code(registering) == "FORBIDDEN"
        missing = await http.post("/graphql", json={"extensions": persisted(sha(unknown))})
        assert code(missing) == "PERSISTED_QUERY_NOT_FOUND"
    async with serving(settings, persisted_queries_only=str(manifest)) as http:
        from_manifest = await http.post(
            "/graphql", json={"extensions": persisted(sha(manifest_query))}
        )
        assert from_manifest.json()["data"] == {"__typename": "Query"}


def test_a_broken_allow_list_stops_the_start(settings: Settings, tmp_path: Path) -> None:
    import dataclasses

    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({sha("{ a }"): "{ b }"}))
    with pytest.raises(ValueError, match="not the SHA-256"):
        create_app(dataclasses.replace(settings, persisted_queries_only=str(wrong)))
