"""Reports, moderators and suspension (CONTRACT.md, "Safety").

Anyone signed in may report a tweet or an account, not their own, at most REPORTS_PER_HOUR
times an hour; reporting the same subject again while the first report is open answers that
report. Moderators are named by the operator only (`make moderator HANDLE=...`); one resolves a
report, and every other open report of its subject with it: DISMISS, REMOVE_TWEET (deleted as
its author would) or SUSPEND_USER (services: `suspend`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core import ids
from core.errors import BadUserInput, Forbidden, NotFound
from core.pagination import Keyset, Page
from core.text import clean_text, is_handle
from models import Report, User
from services import tweets
from services.events import UserSuspended
from services.rate_limits import REPORTS, Limiter
from services.work import Work

REASONS = ("SPAM", "ABUSE", "HARASSMENT", "MISINFORMATION", "ILLEGAL", "OTHER")
OPEN, ACTIONED, DISMISSED = "OPEN", "ACTIONED", "DISMISSED"
DISMISS, REMOVE_TWEET, SUSPEND_USER = "DISMISS", "REMOVE_TWEET", "SUSPEND_USER"
COMMENT_MAX = 1000
REPORTS_SCOPE = "report"  # the cursor scope


async def report(
    work: Work,
    *,
    reporter_id: int,
    tweet_id: int | None = None,
    user_id: int | None = None,
    reason: str,
    comment: str | None,
    limiter: Limiter | None,
) -> int:
    """Reports a tweet (and its author) or an account; returns the report's id."""
    session = work.session
    if reason not in REASONS:
        raise BadUserInput(f"reason is one of {', '.join(REASONS)}.")
    comment = clean_text(comment or "", field="comment", max_length=COMMENT_MAX, allow_empty=True)
    if tweet_id is not None:
        _, user_id = await tweets.original(session, tweet_id)
        subject = f"tweet:{tweet_id}"
    elif user_id is not None:
        if await _user(session, user_id) is None:
            raise NotFound("No such user.")
        subject = f"user:{user_id}"
    else:
        raise BadUserInput("Report a tweet or a user.")
    if user_id == reporter_id:
        raise BadUserInput("You cannot report yourself.")
    found = await _open(session, reporter_id, subject)
    if found is not None:
        return found
    if limiter is not None:
        await limiter.enforce(REPORTS, str(reporter_id), rate=limiter.reports)
    report_id = ids.new_id()
    inserted = await session.scalar(
        insert(Report)
        .values(
            id=report_id,
            reporter_id=reporter_id,
            user_id=user_id,
            tweet_id=tweet_id,
            subject=subject,
            reason=reason,
            comment=comment,
            created_at=ids.snowflake_time(report_id),
        )
        .on_conflict_do_nothing(
            index_elements=["reporter_id", "subject"], index_where=text("status = 'OPEN'")
        )
        .returning(Report.id)
    )
    if inserted is None:  # the same report, racing: the one that got in
        found = await _open(session, reporter_id, subject)
        assert found is not None
        return found
    return report_id


async def resolve(work: Work, *, moderator_id: int, report_id: int, action: str) -> int:
    """Resolves the report and every other open report of its subject."""
    session = work.session
    await ensure_moderator(session, moderator_id)
    found = await session.scalar(select(Report).where(Report.id == report_id).with_for_update())
    if found is None:
        raise NotFound("No such report.")
    if found.status != OPEN:
        return report_id  # resolved meanwhile, by this moderator or another
    if action == REMOVE_TWEET:
        if not found.subject.startswith("tweet:"):
            raise BadUserInput("REMOVE_TWEET resolves a report of a tweet.")
        if found.tweet_id is not None:  # else deleted meanwhile
            await tweets.delete_tweet(work, actor_id=found.user_id, tweet_id=found.tweet_id)
    elif action == SUSPEND_USER:
        await suspend(work, user_id=found.user_id)
    elif action != DISMISS:
        raise BadUserInput(f"action is one of {DISMISS}, {REMOVE_TWEET}, {SUSPEND_USER}.")
    await session.execute(
        update(Report)
        .where(Report.subject == found.subject, Report.status == OPEN)
        .values(
            status=DISMISSED if action == DISMISS else ACTIONED,
            resolved_at=datetime.now(UTC),
            resolved_by=moderator_id,
        )
    )
    return report_id


_UNCOUNT = text("""
WITH targets AS (
  SELECT reply_to_id AS id, 1 AS replies, 0 AS retweets, 0 AS quotes
  FROM tweets WHERE author_id = :user AND reply_to_id IS NOT NULL
  UNION ALL
  SELECT retweet_of_id, 0, 1, 0 FROM tweets WHERE author_id = :user AND retweet_of_id IS NOT NULL
  UNION ALL
  SELECT quote_of_id, 0, 0, 1 FROM tweets WHERE author_id = :user AND quote_of_id IS NOT NULL
), counted AS (
  SELECT id, sum(replies) AS replies, sum(retweets) AS retweets, sum(quotes) AS quotes
  FROM targets GROUP BY id
)
UPDATE tweets SET reply_count = reply_count - counted.replies,
                  retweet_count = retweet_count - counted.retweets,
                  quote_count = quote_count - counted.quotes
FROM counted WHERE tweets.id = counted.id AND tweets.author_id <> :user
RETURNING tweets.id
""")


async def suspend(work: Work, *, user_id: int) -> None:
    """Suspends the account: its tokens stop working, its tweets, retweets and quotes leave
    every read and every count of others' tweets, as if deleted, but stay stored. Idempotent."""
    session = work.session
    suspended = await session.scalar(
        update(User)
        .where(User.id == user_id, User.suspended_at.is_(None))
        .values(suspended_at=func.now(), token_generation=User.token_generation + 1)
        .returning(User.id)
    )
    if suspended is None:
        if await _user(session, user_id) is None:
            raise NotFound("No such user.")
        return
    counted = [row.id for row in await session.execute(_UNCOUNT, {"user": user_id})]
    work.record(UserSuspended(user_id, counted=tuple(sorted(counted))))


async def ensure_moderator(session: AsyncSession | AsyncConnection, user_id: int) -> None:
    if not await is_moderator(session, user_id):
        raise Forbidden("Moderators only.")


async def is_moderator(session: AsyncSession | AsyncConnection, user_id: int) -> bool:
    return bool(await session.scalar(select(User.moderator).where(User.id == user_id)))


async def reports_page(
    connection: AsyncConnection, *, status: str, first: int | None, after: str | None
) -> Page:
    """Reports with this status, oldest first: the moderators' queue."""
    return await _REPORTS.page(connection, first=first, after=after, status=status)


_REPORTS = Keyset(
    select(Report.id, Report.id).where(Report.status == bindparam("status", type_=Text)),
    key=Report.id,
    scope=REPORTS_SCOPE,
    ascending=True,
)


async def name_moderator(work: Work, *, handle: str, granted: bool = True) -> int:
    """Grants (or takes away) the moderator role: for the operator's `make moderator` only."""
    if not is_handle(handle):
        raise BadUserInput("A handle is 1 to 15 letters, digits or underscores.")
    user_id = await work.session.scalar(
        update(User)
        .where(func.lower(User.handle) == handle.lower())
        .values(moderator=granted)
        .returning(User.id)
    )
    if user_id is None:
        raise NotFound("No such user.")
    return int(user_id)


async def _user(session: AsyncSession, user_id: int) -> int | None:
    found: int | None = await session.scalar(select(User.id).where(User.id == user_id))
    return found


async def _open(session: AsyncSession, reporter_id: int, subject: str) -> int | None:
    found: int | None = await session.scalar(
        select(Report.id).where(
            Report.reporter_id == reporter_id, Report.subject == subject, Report.status == OPEN
        )
    )
    return found


async def report_rows(connection: AsyncConnection, report_ids: list[int]) -> dict[int, Any]:
    query = select(*Report.__table__.columns).where(Report.id.in_(report_ids))
    return {row.id: row for row in await connection.execute(query)}


async def report_row(connection: AsyncConnection, report_id: int) -> Any | None:
    return (await report_rows(connection, [report_id])).get(report_id)
