"""The REST API under /api/v1: one table, from which both the routes and the document come."""

from __future__ import annotations

import re
from itertools import groupby

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from core.errors import Conflict, Forbidden, NotFound, Unauthenticated
from web.rest import accounts, graph, media, reads, tweets
from web.rest.endpoint import Endpoint
from web.rest.errors import MethodNotAllowed, PayloadTooLarge, error_response
from web.rest.openapi import document

PREFIX = "/api/v1"

ENDPOINTS = [
    Endpoint(
        "POST",
        "/register",
        accounts.register,
        "Create an account",
        201,
        (Conflict,),
        location="/users/{user[handle]}",
    ),
    Endpoint(
        "POST",
        "/login",
        accounts.login,
        "Sign in (the same token as GraphQL)",
        200,
        (Unauthenticated,),
    ),
    Endpoint(
        "GET",
        "/me",
        accounts.me,
        "The signed-in user (whom a stored token signs in)",
        signed_in=True,
    ),
    Endpoint(
        "POST",
        "/tweets",
        tweets.create_tweet,
        "Post a tweet or reply (Idempotency-Key: a retry posts nothing twice)",
        201,
        (NotFound, Conflict),
        True,
        location="/tweets/{id}",
    ),
    Endpoint("GET", "/tweets/{tweet_id}", tweets.get_tweet, "A tweet", errors=(NotFound,)),
    Endpoint(
        "POST",
        "/media",
        media.upload_media,
        "Upload an image (multipart/form-data: `file`, optional `alt`); attach it with "
        "POST /tweets `mediaIds` within 24 hours",
        201,
        (PayloadTooLarge,),
        True,
        location="/media/{id}",
        form=media.Upload,
    ),
    Endpoint(
        "GET",
        "/media/{media_id}",
        media.get_media,
        "An image (before it is attached: its owner only)",
        errors=(NotFound,),
    ),
    Endpoint(
        "PUT",
        "/tweets/{tweet_id}",
        tweets.edit_tweet,
        "Edit one's tweet (within the edit window and limit); the same text again changes nothing",
        errors=(Forbidden, NotFound, Conflict),
        signed_in=True,
    ),
    Endpoint(
        "DELETE",
        "/tweets/{tweet_id}",
        tweets.delete_tweet,
        "Delete one's tweet, with its retweets",
        errors=(Forbidden, NotFound),
        signed_in=True,
    ),
    Endpoint(
        "POST", "/tweets/{tweet_id}/like", tweets.like, "Like (idempotent)", 200, (NotFound,), True
    ),
    Endpoint(
        "DELETE",
        "/tweets/{tweet_id}/like",
        tweets.unlike,
        "Unlike (idempotent)",
        errors=(NotFound,),
        signed_in=True,
    ),
    Endpoint(
        "POST",
        "/tweets/{tweet_id}/retweet",
        tweets.retweet,
        "Retweet the original (idempotent); answers the original",
        errors=(NotFound,),
        signed_in=True,
    ),
    Endpoint(
        "DELETE",
        "/tweets/{tweet_id}/retweet",
        tweets.undo_retweet,
        "Undo a retweet (idempotent); answers the original",
        errors=(NotFound,),
        signed_in=True,
    ),
    Endpoint(
        "GET",
        "/timeline",
        graph.timeline,
        "The home timeline, newest first",
        signed_in=True,
    ),
    Endpoint(
        "POST",
        "/users/{user_id}/follow",
        graph.follow,
        "Follow (idempotent); answers the followed user",
        errors=(NotFound,),
        signed_in=True,
    ),
    Endpoint(
        "DELETE",
        "/users/{user_id}/follow",
        graph.unfollow,
        "Unfollow (idempotent); answers the unfollowed user",
        errors=(NotFound,),
        signed_in=True,
    ),
    Endpoint("GET", "/users/{handle}", accounts.user, "A user by handle", errors=(NotFound,)),
    Endpoint(
        "GET",
        "/users/{handle}/tweets",
        reads.user_tweets,
        "A user's tweets, replies and retweets, newest first",
        errors=(NotFound,),
    ),
    Endpoint("GET", "/search/tweets", reads.search_tweets, "Search tweets, most recent first"),
    Endpoint(
        "GET",
        "/notifications",
        reads.notifications_page,
        "The viewer's notifications, newest first",
        signed_in=True,
    ),
]


class _Methods:
    """The endpoints of one path; another method is a JSON 405 with Allow."""

    def __init__(self, endpoints: list[Endpoint]) -> None:
        self.by_method = {endpoint.method: endpoint for endpoint in endpoints}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        endpoint = self.by_method.get(request.method)
        response = await endpoint(request) if endpoint else self._not_allowed()
        await response(scope, receive, send)

    def _not_allowed(self) -> Response:
        allowed = {"Allow": ", ".join(self.by_method)}
        return error_response(MethodNotAllowed("Method not allowed."), allowed)


class _Mount(Mount):
    """A Mount whose rest of the path may hold any character: an id with a newline in it is
    still the API's (a JSON 404 or 400), not the application's plain-text 404."""

    def __init__(self, path: str, app: ASGIApp) -> None:
        super().__init__(path, app=app)
        self.path_regex = re.compile(self.path_regex.pattern, re.DOTALL)


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    body = {"error": {"code": "NOT_FOUND", "message": "No such endpoint."}}
    await JSONResponse(body, status_code=404)(scope, receive, send)


async def _openapi(request: Request) -> Response:
    return JSONResponse(document(ENDPOINTS, server=PREFIX))


def rest_routes() -> list[BaseRoute]:
    by_path = sorted(ENDPOINTS, key=lambda endpoint: endpoint.path)
    routes: list[BaseRoute] = [
        Route(path, _Methods(list(endpoints)))
        for path, endpoints in groupby(by_path, key=lambda endpoint: endpoint.path)
    ]
    routes.append(Route("/openapi.json", _openapi, methods=["GET"]))
    return [_Mount(PREFIX, Router(routes, redirect_slashes=False, default=_not_found))]
