from models.base import Base
from models.idempotency import IdempotencyKey
from models.media import Media
from models.notifications import Notification
from models.outbox import OutboxEvent
from models.safety import Block, Mute, MutedWord, Report
from models.social import Follow, Like
from models.tweets import Tweet, TweetVersion
from models.users import User
from models.workers import WorkerId

__all__ = [
    "Base",
    "Block",
    "Follow",
    "IdempotencyKey",
    "Like",
    "Media",
    "Mute",
    "MutedWord",
    "Notification",
    "OutboxEvent",
    "Report",
    "Tweet",
    "TweetVersion",
    "User",
    "WorkerId",
]
