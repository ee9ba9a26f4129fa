from models.base import Base
from models.outbox import OutboxEvent
from models.social import Follow, Like
from models.tweets import Tweet, TweetVersion
from models.users import User

__all__ = ["Base", "Follow", "Like", "OutboxEvent", "Tweet", "TweetVersion", "User"]
