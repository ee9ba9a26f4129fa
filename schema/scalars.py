from __future__ import annotations

from datetime import UTC, datetime

import strawberry


def serialize_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("DateTime must be an ISO-8601 string.")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


DATETIME = strawberry.scalar(
    name="DateTime",
    description="An ISO-8601 timestamp in UTC, e.g. 2026-11-22T10:42:31.123Z.",
    serialize=serialize_datetime,
    parse_value=_parse,
)
