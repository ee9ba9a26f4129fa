from __future__ import annotations

import strawberry

from services.idempotency import KEPT_HOURS, KEY_MAX


@strawberry.input(description="A new account.")
class RegisterInput:
    handle: str = strawberry.field(
        description="1-15 of A-Z a-z 0-9 _, unique without regard to case."
    )
    password: str = strawberry.field(description="At least 8 characters.")
    display_name: str | None = strawberry.field(default=None, description="Defaults to the handle.")


@strawberry.input(description="Credentials to sign in with.")
class LoginInput:
    handle: str = strawberry.field(description="The account's handle, in any case.")
    password: str = strawberry.field(description="The account's password.")


@strawberry.input(description="Profile fields to change; those left null stay as they are.")
class UpdateProfileInput:
    display_name: str | None = strawberry.field(default=None, description="1 to 50 characters.")
    bio: str | None = strawberry.field(default=None, description="0 to 160 characters.")


@strawberry.input(description="A new tweet or reply.")
class CreateTweetInput:
    text: str = strawberry.field(
        description=(
            "1 to 280 characters (Unicode code points after NFC normalisation), "
            "not only whitespace; may be empty when mediaIds are given."
        )
    )
    reply_to_id: strawberry.ID | None = strawberry.field(
        default=None, description="The tweet this one replies to."
    )
    media_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description=(
            "Images uploaded by the viewer and not attached yet, at most 4, shown in this order."
        ),
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description=(
            f"A key the client chooses (1 to {KEY_MAX} characters) to make a retry safe: a "
            f"createTweet by the same user with the same key within {KEPT_HOURS} hours posts "
            "nothing new "
            "and answers the tweet the first one posted; the same key with another text or "
            "replyToId is CONFLICT. A first one that failed stored nothing: sent again, it runs "
            "again."
        ),
    )


@strawberry.input(description="A new text for one's own tweet.")
class EditTweetInput:
    id: strawberry.ID = strawberry.field(description="The tweet to edit.")
    text: str = strawberry.field(description="The new text, under the same rules as a new tweet.")
