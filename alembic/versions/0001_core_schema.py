"""core schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 15:43:03.081487
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('users',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('handle', sa.String(length=15), nullable=False),
    sa.Column('display_name', sa.Text(), nullable=False),
    sa.Column('bio', sa.Text(), server_default='', nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('follower_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('following_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('tweet_count', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users'))
    )
    op.create_index('uq_users_handle_lower', 'users', [sa.literal_column('lower(handle)')], unique=True)
    op.create_table('follows',
    sa.Column('follower_id', sa.BigInteger(), nullable=False),
    sa.Column('followee_id', sa.BigInteger(), nullable=False),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['followee_id'], ['users.id'], name=op.f('fk_follows_followee_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['follower_id'], ['users.id'], name=op.f('fk_follows_follower_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('follower_id', 'followee_id', name=op.f('pk_follows')),
    sa.UniqueConstraint('id', name=op.f('uq_follows_id'))
    )
    op.create_index('ix_follows_followee_id_id', 'follows', ['followee_id', sa.literal_column('id DESC')], unique=False)
    op.create_index('ix_follows_follower_id_id', 'follows', ['follower_id', sa.literal_column('id DESC')], unique=False)
    op.create_table('tweets',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('author_id', sa.BigInteger(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('edit_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('reply_to_id', sa.BigInteger(), nullable=True),
    sa.Column('retweet_of_id', sa.BigInteger(), nullable=True),
    sa.Column('hashtags', sa.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('mentions', sa.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('like_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('retweet_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('reply_count', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_tweets_author_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reply_to_id'], ['tweets.id'], name=op.f('fk_tweets_reply_to_id_tweets'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['retweet_of_id'], ['tweets.id'], name=op.f('fk_tweets_retweet_of_id_tweets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tweets'))
    )
    op.create_index('ix_tweets_author_id_id', 'tweets', ['author_id', sa.literal_column('id DESC')], unique=False)
    op.create_index('ix_tweets_hashtags', 'tweets', ['hashtags'], unique=False, postgresql_using='gin')
    op.create_index('ix_tweets_reply_to_id_id', 'tweets', ['reply_to_id', 'id'], unique=False, postgresql_where=sa.text('reply_to_id IS NOT NULL'))
    op.create_index('uq_tweets_retweet', 'tweets', ['retweet_of_id', 'author_id'], unique=True, postgresql_where=sa.text('retweet_of_id IS NOT NULL'))
    op.create_table('likes',
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('tweet_id', sa.BigInteger(), nullable=False),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tweet_id'], ['tweets.id'], name=op.f('fk_likes_tweet_id_tweets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_likes_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'tweet_id', name=op.f('pk_likes')),
    sa.UniqueConstraint('id', name=op.f('uq_likes_id'))
    )
    op.create_index('ix_likes_tweet_id', 'likes', ['tweet_id'], unique=False)
    op.create_index('ix_likes_user_id_id', 'likes', ['user_id', sa.literal_column('id DESC')], unique=False)
    op.create_table('tweet_versions',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('tweet_id', sa.BigInteger(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tweet_id'], ['tweets.id'], name=op.f('fk_tweet_versions_tweet_id_tweets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tweet_versions'))
    )
    op.create_index(op.f('ix_tweet_versions_tweet_id'), 'tweet_versions', ['tweet_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_tweet_versions_tweet_id'), table_name='tweet_versions')
    op.drop_table('tweet_versions')
    op.drop_index('ix_likes_user_id_id', table_name='likes')
    op.drop_index('ix_likes_tweet_id', table_name='likes')
    op.drop_table('likes')
    op.drop_index('uq_tweets_retweet', table_name='tweets', postgresql_where=sa.text('retweet_of_id IS NOT NULL'))
    op.drop_index('ix_tweets_reply_to_id_id', table_name='tweets', postgresql_where=sa.text('reply_to_id IS NOT NULL'))
    op.drop_index('ix_tweets_hashtags', table_name='tweets', postgresql_using='gin')
    op.drop_index('ix_tweets_author_id_id', table_name='tweets')
    op.drop_table('tweets')
    op.drop_index('ix_follows_follower_id_id', table_name='follows')
    op.drop_index('ix_follows_followee_id_id', table_name='follows')
    op.drop_table('follows')
    op.drop_index('uq_users_handle_lower', table_name='users')
    op.drop_table('users')
