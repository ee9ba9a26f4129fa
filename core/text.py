"""Validation and parsing of user-written text: tweets, handles, hashtags, mentions."""

from __future__ import annotations

import re
import unicodedata

from core.errors import BadUserInput

HANDLE_RE = re.compile(r"^[A-Za-z0-9_]{1,15}$")
_HASHTAG_RE = re.compile(r"(?<![\w&#])#(\w*[^\W\d_]\w*)")
_MENTION_RE = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{1,15})(?![A-Za-z0-9_])")
_ALLOWED_CONTROLS = {"\n", "\t"}


def clean_text(text: str, *, field: str, max_length: int, allow_empty: bool = False) -> str:
    """NFC-normalised, trimmed text of at most `max_length` code points, else BAD_USER_INPUT."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadUserInput(f"{field} is not valid Unicode.") from None
    text = unicodedata.normalize("NFC", text).strip()
    if any(unicodedata.category(ch) == "Cc" and ch not in _ALLOWED_CONTROLS for ch in text):
        raise BadUserInput(f"{field} contains control characters.")
    if not text and not allow_empty:
        raise BadUserInput(f"{field} must not be empty.")
    if len(text) > max_length:
        raise BadUserInput(f"{field} is longer than {max_length} characters.")
    return text


def is_handle(handle: str) -> bool:
    # the whole string: `$` alone also matches before a final newline
    return HANDLE_RE.fullmatch(handle) is not None


def check_handle(handle: str) -> str:
    if not is_handle(handle):
        raise BadUserInput("A handle is 1 to 15 letters, digits or underscores.")
    return handle


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def hashtags(text: str) -> list[str]:
    """Lower-case tags without the #, in order of first appearance, no duplicates."""
    return _unique([tag.lower() for tag in _HASHTAG_RE.findall(text)])


def mentions(text: str) -> list[str]:
    """Lower-case handles without the @, in order of first appearance, no duplicates."""
    return _unique([handle.lower() for handle in _MENTION_RE.findall(text)])
