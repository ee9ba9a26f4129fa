"""Blocks, mutes, muted words, reports and moderation (contract-safety.graphql)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from core.errors import BadUserInput, NotFound
from core.ids import expect_global_id, parse_global_id
from resolvers.graph import act_on_user
from schema.context import Info
from schema.relay import AFTER, FIRST, PageInfo, UserIdArg
from schema.safety import (
    ModerationAction,
    MutedWord,
    MuteWordInput,
    Report,
    ReportConnection,
    ReportEdge,
    ReportInput,
    ReportStatus,
)
from schema.users import User, UserConnection
from services import blocks, moderation, mutes
from views import pages

First = Annotated[int | None, strawberry.argument(description=FIRST)]
After = Annotated[str | None, strawberry.argument(description=AFTER)]
ExpiresIn = Annotated[
    int | None, strawberry.argument(description="Seconds, at least 60; null: never.")
]


async def block(info: Info, user_id: UserIdArg) -> User:
    return await act_on_user(info, user_id, blocks.block)


async def unblock(info: Info, user_id: UserIdArg) -> User:
    return await act_on_user(info, user_id, blocks.unblock)


async def mute(info: Info, user_id: UserIdArg, expires_in: ExpiresIn = None) -> User:
    return await act_on_user(info, user_id, mutes.mute, expires_in=expires_in)


async def unmute(info: Info, user_id: UserIdArg) -> User:
    return await act_on_user(info, user_id, mutes.unmute)


async def mute_word(
    info: Info,
    input: Annotated[MuteWordInput, strawberry.argument(description="The word and its expiry.")],
) -> MutedWord:
    viewer = info.context.viewer()
    async with info.context.work() as work:
        word_id = await mutes.mute_word(
            work, user_id=viewer, word=input.word, expires_in=input.expires_in
        )
    async with info.context.reads.connection() as connection:
        found = await mutes.muted_word(connection, user_id=viewer, word_id=word_id)
    if found is None:  # lapsed or unmuted in between
        raise NotFound("No such muted word.")
    return MutedWord.of(found)


async def unmute_word(
    info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="A MutedWord's id.")]
) -> strawberry.ID:
    word_id = expect_global_id(id, "MutedWord")
    async with info.context.work() as work:
        await mutes.unmute_word(work, user_id=info.context.viewer(), word_id=word_id)
    return id


async def report(
    info: Info,
    input: Annotated[ReportInput, strawberry.argument(description="What is reported, and why.")],
) -> Report:
    kind, subject = parse_global_id(input.subject_id)
    if kind not in ("Tweet", "User"):
        raise BadUserInput("subjectId is the id of a Tweet or of a User.")
    async with info.context.work() as work:
        report_id = await moderation.report(
            work,
            reporter_id=info.context.viewer(),
            tweet_id=subject if kind == "Tweet" else None,
            user_id=subject if kind == "User" else None,
            reason=input.reason.value,
            comment=input.comment,
            limiter=info.context.limiter,
        )
    return await _report(info, report_id)


async def resolve_report(
    info: Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="A Report's id.")],
    action: Annotated[ModerationAction, strawberry.argument(description="What to do.")],
) -> Report:
    report_id = expect_global_id(id, "Report")
    async with info.context.work() as work:
        await moderation.resolve(
            work, moderator_id=info.context.viewer(), report_id=report_id, action=action.name
        )
    return await _report(info, report_id)


async def _report(info: Info, report_id: int) -> Report:
    async with info.context.reads.connection(primary=True) as connection:
        found = await moderation.report_row(connection, report_id)
    if found is None:
        raise NotFound("No such report.")
    return Report.of(found)


async def blocked_users(info: Info, first: First = 20, after: After = None) -> UserConnection:
    viewer = info.context.viewer()
    listed = await pages.listed_users(
        info.context, blocks.blocked_page, viewer_id=viewer, first=first, after=after
    )
    return UserConnection.of(listed)


async def muted_users(info: Info, first: First = 20, after: After = None) -> UserConnection:
    viewer = info.context.viewer()
    listed = await pages.listed_users(
        info.context, mutes.muted_page, viewer_id=viewer, first=first, after=after
    )
    return UserConnection.of(listed)


async def muted_words(info: Info) -> list[MutedWord]:
    viewer = info.context.viewer()
    rows = await info.context.reads.run(
        lambda connection: mutes.muted_words(connection, viewer_id=viewer)
    )
    return [MutedWord.of(row) for row in rows]


async def reports(
    info: Info,
    status: Annotated[
        ReportStatus | None, strawberry.argument(description="Reports with this status.")
    ] = ReportStatus.OPEN,
    first: First = 20,
    after: After = None,
) -> ReportConnection:
    viewer = info.context.viewer()
    # on the primary: who moderates is decided here, and a revoked role must not linger
    async with info.context.reads.connection(primary=True) as connection:
        await moderation.ensure_moderator(connection, viewer)
        wanted = (status or ReportStatus.OPEN).value
        page = await moderation.reports_page(connection, status=wanted, first=first, after=after)
        rows = await moderation.report_rows(connection, page.node_ids)
    edges = [
        ReportEdge(cursor=cursor, node=Report.of(rows[report_id]))
        for cursor, report_id in zip(page.cursors, page.node_ids, strict=True)
        if report_id in rows
    ]
    return ReportConnection(edges=edges, page_info=PageInfo.of(page))
