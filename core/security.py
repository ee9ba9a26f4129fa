"""Password hashing (argon2id) and bearer tokens (JWT, HS256)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id with the library's recommended cost
_DUMMY_HASH = _hasher.hash("not a real password")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account exists, so timing tells nothing."""

    def verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
        except (VerificationError, InvalidHashError, UnicodeError):
            return False

    return await asyncio.to_thread(verify)


@dataclass(frozen=True)
class Identity:
    user_id: int
    expires_at: float  # Unix time


@dataclass(frozen=True)
class TokenCodec:
    secret: str
    issuer: str
    ttl_seconds: int

    def issue(self, user_id: int) -> str:
        now = int(time.time())
        claims = {
            "sub": str(user_id),
            "iat": now,
            "exp": now + self.ttl_seconds,
            "iss": self.issuer,
        }
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def user_id(self, token: str) -> int | None:
        """The signed-in user's id, or None for any token that is not valid now."""
        found = self.identity(token)
        return None if found is None else found.user_id

    def identity(self, token: str) -> Identity | None:
        """Who the token signs in, and until when; None for any token that is not valid now."""
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                issuer=self.issuer,
                options={"require": ["sub", "iat", "exp", "iss"]},
            )
            return Identity(user_id=int(claims["sub"]), expires_at=float(claims["exp"]))
        except (jwt.PyJWTError, ValueError, TypeError):
            return None


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
