from models.base import Base
from models.social import Follow, Like
from models.tweets import Tweet, TweetVersion
from models.users import User

__all__ = ["Base", "Follow", "Like", "Tweet", "TweetVersion", "User"]
