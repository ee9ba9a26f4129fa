"""Password hashing (argon2id) and bearer tokens (JWT, HS256, with key ids for rotation)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.config import Settings
from core.ids import parse_raw_id

VERIFIED_KEPT = 10_000  # tokens an API process keeps verified
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
    generation: int  # the user's token generation when it was issued: changes revoke it


@dataclass(frozen=True)
class TokenCodec:
    """HS256 tokens with a `kid`: the first key signs, every key listed verifies, so a key can
    be rotated in before it signs and out once its tokens have expired. A client sends the
    same token with every request: the tokens verified lately are kept (VERIFIED_KEPT), and
    one found there is only checked for expiry again (its signature and claims do not change;
    revocation is the caller's, web/context.py)."""

    keys: tuple[tuple[str, str], ...]  # (kid, secret)
    issuer: str = "chirp"
    audience: str = "chirp-api"
    ttl_seconds: int = 7 * 24 * 3600
    leeway_seconds: int = 30  # clock skew allowed on exp and iat
    _verified: dict[str, Identity] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def for_secret(cls, secret: str, **options: Any) -> TokenCodec:
        """One key with the kid Settings derives from it (JWT_SECRET without JWT_KEYS)."""
        return cls(keys=Settings(jwt_secret=secret).resolved_jwt_keys(), **options)

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenCodec:
        return cls(
            keys=settings.resolved_jwt_keys(),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=settings.jwt_ttl_seconds,
            leeway_seconds=settings.jwt_leeway_seconds,
        )

    def issue(self, user_id: int, *, generation: int = 0) -> str:
        now = int(time.time())
        claims = {
            "sub": str(user_id),
            "iat": now,
            "exp": now + self.ttl_seconds,
            "iss": self.issuer,
            "aud": self.audience,
            "gen": generation,
        }
        kid, secret = self.keys[0]
        return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": kid})

    def user_id(self, token: str) -> int | None:
        """The user id the token signs in, or None for any token that is not valid now; the
        signature and claims only: web/context.py also checks it was not revoked."""
        found = self.identity(token)
        return None if found is None else found.user_id

    def identity(self, token: str) -> Identity | None:
        """Who the token signs in, and until when; None for any token that is not valid now
        (signature, kid, expiry, issuer, audience)."""
        known = self._verified.get(token)
        if known is not None:
            if time.time() <= known.expires_at + self.leeway_seconds:
                return known
            self._verified.pop(token, None)
            return None
        found = self._verify(token)
        if found is not None:
            if len(self._verified) >= VERIFIED_KEPT:
                self._verified.clear()  # a sweep now and then: cheaper than an LRU a request
            self._verified[token] = found
        return found

    def _verify(self, token: str) -> Identity | None:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            secret = dict(self.keys).get(kid) if isinstance(kid, str) else None
            if secret is None:
                return None
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway_seconds,
                options={"require": ["sub", "iat", "exp", "iss", "aud", "gen"]},
            )
            generation, user_id = claims["gen"], parse_raw_id(claims["sub"])
            if not isinstance(generation, int) or isinstance(generation, bool) or user_id is None:
                return None  # signed, yet no user's: only a leaked key makes these
            return Identity(
                user_id=user_id,
                expires_at=float(claims["exp"]),
                generation=generation,
            )
        except (jwt.PyJWTError, ValueError, TypeError):
            return None


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
