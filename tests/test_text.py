"""Tweet text rules, hashtags and mentions."""

from __future__ import annotations

import httpx
import pytest

from core.errors import BadUserInput
from core.text import check_handle, clean_text, hashtags, mentions
from tests.graphql import POST, error_code, ok, register

# each renders as nothing (or as a blank, not being whitespace)
INVISIBLE = [
    "\u200b",  # zero-width space
    "\u200c\u200d",  # zero-width non-joiner, joiner
    "\u2060",  # word joiner
    "\ufeff",  # byte order mark, zero-width no-break space
    "\u00ad\u2062\u180e",  # soft hyphen, invisible times, Mongolian vowel separator
    "\u202e\u2066",  # bidirectional controls
    "\U000e0041\U000e007f",  # tag characters
    "\ufe0f\u034f",  # a variation selector, the combining grapheme joiner
    "\u3164\u2800",  # Hangul filler, blank Braille pattern
    " \u200b\n\ufeff\t",  # with real whitespace
]
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # man ZWJ woman ZWJ ...


def test_hashtags_in_order_lower_case_without_duplicates() -> None:
    assert hashtags("#One two #THREE #one, #Ünïcode #2024 #a_b#c") == [
        "one",
        "three",
        "ünïcode",
        "a_b",
    ]
    assert hashtags("no tags, a#b, &#39; # alone") == []


def test_mentions_in_order_lower_case_without_duplicates() -> None:
    assert mentions("@Ann hi @bob_1 and @ANN, mail a@b.c, @toolonghandle1234") == ["ann", "bob_1"]


def test_clean_text_counts_code_points_after_nfc() -> None:
    assert clean_text(" e\u0301 ", field="t", max_length=1) == "é"
    with pytest.raises(BadUserInput):
        clean_text("ab", field="t", max_length=1)
    with pytest.raises(BadUserInput):
        clean_text("\u200b\x00", field="t", max_length=10)


def test_handles() -> None:
    assert check_handle("A_1") == "A_1"
    for bad in ["", "a b", "a" * 16, "ä", "a-b"]:
        with pytest.raises(BadUserInput):
            check_handle(bad)


@pytest.mark.parametrize("blank", INVISIBLE)
def test_invisible_characters_count_as_whitespace(blank: str) -> None:
    with pytest.raises(BadUserInput, match="empty"):
        clean_text(blank, field="t", max_length=280)
    assert clean_text(blank, field="t", max_length=280, allow_empty=True) == ""


def test_invisible_characters_inside_real_text_are_kept() -> None:
    assert clean_text(f" {FAMILY} ", field="t", max_length=7) == FAMILY  # 7 code points
    with pytest.raises(BadUserInput):
        clean_text(FAMILY, field="t", max_length=6)
    for text in ("a\u200bb", "\u2764\ufe0f", "\u200bhi\u2060", "\u05d0\u200f!"):
        assert clean_text(text, field="t", max_length=10) == text


async def test_a_tweet_or_display_name_of_invisible_characters_is_refused(
    client: httpx.AsyncClient,
) -> None:
    ann = await register(client)
    profile = "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { displayName } }"
    for blank in INVISIBLE:
        variables = {"input": {"text": blank}}
        assert await error_code(client, POST, variables, token=ann.token) == "BAD_USER_INPUT"
        variables = {"i": {"displayName": blank}}
        assert await error_code(client, profile, variables, token=ann.token) == "BAD_USER_INPUT"
    posted = await ok(client, POST, {"input": {"text": FAMILY}}, token=ann.token)
    assert posted["createTweet"]["text"] == FAMILY
    named = await ok(client, profile, {"i": {"displayName": f"Ann {FAMILY}"}}, token=ann.token)
    assert named["updateProfile"]["displayName"] == f"Ann {FAMILY}"
