"""Validation and parsing of user-written text: tweets, handles, hashtags, mentions."""

from __future__ import annotations

import re
import unicodedata

from core.errors import BadUserInput

HANDLE_RE = re.compile(r"^[A-Za-z0-9_]{1,15}$")
_HASHTAG_RE = re.compile(r"(?<![\w&#])#(\w*[^\W\d_]\w*)")
_MENTION_RE = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{1,15})(?![A-Za-z0-9_])")
_ALLOWED_CONTROLS = {"\n", "\t"}
# Render as nothing, or as a blank, without being whitespace: default-ignorable code points that
# are not format characters (category Cf: zero-width space, joiners, BOM, bidi and tag
# characters), the Hangul fillers and the blank Braille pattern.
_INVISIBLE = frozenset(
    chr(point)
    for first, last in (
        (0x034F, 0x034F),  # combining grapheme joiner
        (0x115F, 0x1160),
        (0x17B4, 0x17B5),
        (0x180B, 0x180F),  # Mongolian variation selectors
        (0x2800, 0x2800),
        (0x3164, 0x3164),
        (0xFE00, 0xFE0F),  # variation selectors
        (0xFFA0, 0xFFA0),
        (0xE0100, 0xE01EF),
    )
    for point in range(first, last + 1)
)


def clean_text(text: str, *, field: str, max_length: int, allow_empty: bool = False) -> str:
    """NFC-normalised, trimmed text of at most `max_length` code points, else BAD_USER_INPUT.
    Text that shows nothing (whitespace and invisible characters only) is empty."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadUserInput(f"{field} is not valid Unicode.") from None
    text = unicodedata.normalize("NFC", text).strip()
    if any(unicodedata.category(ch) == "Cc" and ch not in _ALLOWED_CONTROLS for ch in text):
        raise BadUserInput(f"{field} contains control characters.")
    if all(_blank(ch) for ch in text):  # kept inside text that shows: ZWJ makes emoji sequences
        if not allow_empty:
            raise BadUserInput(f"{field} must not be empty.")
        text = ""
    if len(text) > max_length:
        raise BadUserInput(f"{field} is longer than {max_length} characters.")
    return text


def _blank(ch: str) -> bool:
    return ch.isspace() or ch in _INVISIBLE or unicodedata.category(ch) == "Cf"


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
