"""What REST requests carry: path parameters, query strings and JSON bodies, as types.

Only types are checked here: lengths, formats and ranges are checked by the services
(core/text.py, core/pagination.py, ...), exactly as for GraphQL. Where the document states one
(a pattern, a length, a range), it quotes the services' own constant, and enforces nothing.
"""

from __future__ import annotations

from typing import Annotated, NotRequired

from pydantic import Field, WithJsonSchema
from typing_extensions import TypedDict

from core.pagination import PAGE_MAX
from core.text import HANDLE_RE
from services.accounts import PASSWORD_MAX, PASSWORD_MIN
from services.idempotency import KEPT_HOURS, KEY_MAX
from services.media import PER_TWEET
from services.search import QUERY_MAX
from services.tweets import TWEET_MAX

TweetId = Annotated[str, Field(description="A tweet's opaque global id, as in GraphQL.")]
UserId = Annotated[str, Field(description="A user's opaque global id, as in GraphQL.")]
Handle = Annotated[str, Field(description="A user's handle, in any case.")]
Limit = Annotated[
    int,
    WithJsonSchema(
        {
            "type": "integer",
            "minimum": 1,
            "maximum": PAGE_MAX,
            "default": 20,
            "description": f"How many entries, 1 to {PAGE_MAX} (GraphQL's `first`).",
        }
    ),
]
PageCursor = Annotated[
    str,
    Field(description="`nextCursor` of the previous page: entries after it (GraphQL's `after`)."),
]


class PageQuery(TypedDict):
    limit: NotRequired[Limit]
    cursor: NotRequired[PageCursor]


class SearchQuery(PageQuery):
    q: Annotated[
        str,
        Field(
            description=f"At most {QUERY_MAX} characters: words, quoted phrases, #hashtags and "
            "@handles, all required."
        ),
    ]


class Register(TypedDict):
    """A new account (GraphQL's `RegisterInput`)."""

    handle: Annotated[
        str,
        WithJsonSchema(
            {
                "type": "string",
                "pattern": HANDLE_RE.pattern,
                "description": "1-15 of A-Z a-z 0-9 _, unique without regard to case.",
            }
        ),
    ]
    password: Annotated[
        str,
        WithJsonSchema(
            {
                "type": "string",
                "minLength": PASSWORD_MIN,
                "maxLength": PASSWORD_MAX,
                "description": f"{PASSWORD_MIN} to {PASSWORD_MAX} characters.",
            }
        ),
    ]
    displayName: NotRequired[Annotated[str | None, Field(description="Defaults to the handle.")]]


class Login(TypedDict):
    """Credentials (GraphQL's `LoginInput`)."""

    handle: str
    password: str


class NewTweet(TypedDict):
    """A new tweet or reply (GraphQL's `CreateTweetInput`)."""

    text: Annotated[
        str,
        Field(
            description=f"1 to {TWEET_MAX} characters (Unicode code points after NFC "
            "normalisation and trimming), not only whitespace."
        ),
    ]
    replyToId: NotRequired[Annotated[str | None, Field(description="The tweet it replies to.")]]
    mediaIds: NotRequired[
        Annotated[
            list[str] | None,
            Field(
                description=f"Images uploaded by the viewer (POST /media) and not attached "
                f"yet, at most {PER_TWEET}, shown in this order; with them, text may be empty."
            ),
        ]
    ]


class TweetEdit(TypedDict):
    """A new text for one's own tweet (GraphQL's `EditTweetInput`, the id in the path)."""

    text: Annotated[str, Field(description="Under the same rules as a new tweet.")]


# the header's name as Starlette gives it, lower-case; the document spells it Idempotency-Key
NewTweetHeaders = TypedDict(
    "NewTweetHeaders",
    {
        "idempotency-key": NotRequired[
            Annotated[
                str,
                WithJsonSchema(
                    {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": KEY_MAX,
                        "description": f"A key the client chooses (1 to {KEY_MAX} characters, "
                        "no control characters) to make a retry safe: a POST by the same user "
                        f"with the same key within {KEPT_HOURS} hours posts nothing new and "
                        "answers the tweet the first one posted (201 again); the same key with "
                        "another body is 409 CONFLICT. A first one that failed stored nothing: "
                        "sent again, it runs again. GraphQL's `idempotencyKey`.",
                    }
                ),
            ]
        ]
    },
)
