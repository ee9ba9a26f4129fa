"""Tweet text rules, hashtags and mentions."""

from __future__ import annotations

import pytest

from core.errors import BadUserInput
from core.text import check_handle, clean_text, hashtags, mentions


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
