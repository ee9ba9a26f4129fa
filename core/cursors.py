"""Opaque, tamper-checked keyset cursors.

A cursor carries a scope (which ordering it belongs to) and the sort key of the
last entry seen. It is signed, so a client can hold it but not forge or edit it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct

from core.errors import BadUserInput

_MAC_BYTES = 10
_KEPT = 50_000
_key = b"unset"
_kept: dict[tuple[str, tuple[int, ...]], str] = {}  # cursors made, signed with _kept_for
_kept_for = _key


def configure(secret: str) -> None:
    global _key
    _key = hashlib.sha256(b"cursor:" + secret.encode()).digest()


def _mac(body: bytes) -> bytes:
    return hmac.digest(_key, body, "sha256")[:_MAC_BYTES]  # hmac.new's, in one C call


def encode(scope: str, *key: int) -> str:
    """The cursor of an entry, kept: every page of a popular list signs the same entries (a
    MAC and base64 per edge were ~4% of a timeline page)."""
    global _kept_for
    if _kept_for is not _key or len(_kept) >= _KEPT:
        _kept.clear()
        _kept_for = _key
    found = _kept.get((scope, key))
    if found is None:
        body = scope.encode() + b":" + struct.pack(f">{len(key)}q", *key)
        found = base64.urlsafe_b64encode(body + _mac(body)).decode().rstrip("=")
        _kept[(scope, key)] = found
    return found


def decode(cursor: str, scope: str, size: int = 1) -> tuple[int, ...]:
    """The sort key in `cursor`; BAD_USER_INPUT when malformed, forged or of another scope."""
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode("ascii"))
    except (ValueError, binascii.Error):
        raise BadUserInput("Malformed cursor.") from None
    body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    prefix = scope.encode() + b":"
    if (
        not hmac.compare_digest(mac, _mac(body))
        or not body.startswith(prefix)
        or len(body) != len(prefix) + 8 * size
    ):
        raise BadUserInput("Malformed cursor.")
    return struct.unpack(f">{size}q", body[len(prefix) :])
