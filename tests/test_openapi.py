"""The OpenAPI document of /api/v1: valid OpenAPI 3.1, complete, and true (schemathesis)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests import images
from tests.graphql import unique_handle
from web.rest.routes import ENDPOINTS

EXAMPLES = 50  # cases per operation: about 20 s on each backend
# Not run: "a schema-valid request is accepted". Ids and cursors are opaque strings, and the
# text rules (NFC length, control characters) live in services/, so a schema-valid string may
# still be refused with a documented 400 BAD_USER_INPUT; every other check of schemathesis runs.
EXCLUDED_CHECKS = [positive_data_acceptance]


async def test_the_document_is_valid_openapi_3_1(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    validate(document)


async def test_every_endpoint_is_documented_with_its_errors(client: httpx.AsyncClient) -> None:
    document = (await client.get("/api/v1/openapi.json")).json()
    documented = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    assert documented == {(endpoint.method, endpoint.path) for endpoint in ENDPOINTS}
    for endpoint in ENDPOINTS:
        operation = document["paths"][endpoint.path][endpoint.method.lower()]
        statuses = set(operation["responses"])
        assert {"400", "429"} <= statuses, endpoint.path
        assert ("401" in statuses) == endpoint.signed_in or endpoint.path == "/login"
        assert ("413" in statuses) == ("requestBody" in operation)
        assert "Retry-After" in operation["responses"]["429"]["headers"]
        for name in endpoint.path_params:
            assert {"name": name, "in": "path"}.items() <= operation["parameters"][0].items()


@dataclass(frozen=True)
class Seeded:
    """A signed-in user with tweets, a follower and notifications: real ids to aim at."""

    token: str
    handle: str
    other_user_id: str
    tweet_ids: list[str]
    media_id: str


def test_schemathesis_finds_no_server_error_and_no_departure_from_the_document(
    live_server: str,
) -> None:
    """A bounded property-based run on every operation, signed in as a seeded user: half the
    cases as generated, half with the path's ids replaced by ids that exist."""
    seeded = _seed(live_server)
    schema = schemathesis.openapi.from_url(f"{live_server}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(ENDPOINTS)
    tried = {}
    started = time.monotonic()
    for operation in operations:
        tried[operation.label] = _run(operation, f"{live_server}/api/v1", seeded)
    seconds = time.monotonic() - started
    print(f"schemathesis: {len(tried)} operations, {sum(tried.values())} cases, {seconds:.0f} s")
    assert all(tried.values()), tried


def _run(operation: Any, base_url: str, seeded: Seeded) -> int:
    cases = 0
    generated = operation.as_strategy()
    aimed = st.tuples(generated, st.sampled_from(seeded.tweet_ids)).map(
        lambda pair: _aimed(pair[0], pair[1], seeded)
    )

    @given(case=st.one_of(generated, aimed))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def check(case: Any) -> None:
        nonlocal cases
        cases += 1
        case.call_and_validate(
            base_url=base_url,
            headers={"Authorization": f"Bearer {seeded.token}"},
            excluded_checks=EXCLUDED_CHECKS,
        )

    check()
    return cases


def _aimed(case: Any, tweet_id: str, seeded: Seeded) -> Any:
    real = {
        "tweet_id": tweet_id,
        "user_id": seeded.other_user_id,
        "handle": seeded.handle,
        "media_id": seeded.media_id,
    }
    for name in case.path_parameters or {}:
        case.path_parameters[name] = real[name]
    return case


def _seed(base_url: str) -> Seeded:
    with httpx.Client(base_url=f"{base_url}/api/v1") as http:
        accounts = []
        for _ in range(2):
            body = {"handle": unique_handle("st"), "password": "correct horse"}
            response = http.post("/register", json=body)
            assert response.status_code == 201, response.text
            accounts.append(response.json())
        me, other = ({"Authorization": f"Bearer {a['token']}"} for a in accounts)
        tweet_ids = []
        for number in range(10):
            response = http.post("/tweets", json={"text": f"seeded #{number}"}, headers=me)
            tweet_ids.append(response.json()["id"])
        http.post(f"/users/{accounts[0]['user']['id']}/follow", headers=other)
        http.post(f"/tweets/{tweet_ids[0]}/like", headers=other)
        http.post("/tweets", json={"text": "a reply", "replyToId": tweet_ids[0]}, headers=other)
        image = http.post(
            "/media", files={"file": ("a.png", images.png(), "image/png")}, headers=me
        )
        assert image.status_code == 201, image.text
        return Seeded(
            token=accounts[0]["token"],
            handle=accounts[0]["user"]["handle"],
            other_user_id=accounts[1]["user"]["id"],
            tweet_ids=tweet_ids,
            media_id=image.json()["id"],
        )
