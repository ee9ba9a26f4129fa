"""IdentityCache (core/identity_cache.py): by identity, bounded, never another object's."""

from __future__ import annotations

from core.identity_cache import IdentityCache


class Document:
    pass


def test_a_value_is_found_by_the_same_objects_only() -> None:
    cache: IdentityCache[str] = IdentityCache(4)
    first, second = Document(), Document()
    cache.put((first, second), "measured", extra=("rules", True))
    assert cache.get((first, second), ("rules", True)) == "measured"
    assert cache.get((first, second), ("rules", False)) is None
    assert cache.get((second, first), ("rules", True)) is None


def test_an_id_reused_by_a_new_object_is_a_miss() -> None:
    cache: IdentityCache[str] = IdentityCache(4)
    kept = Document()
    cache.put((kept,), "old")
    forged = Document()
    key = next(iter(cache._entries))
    cache._entries[(id(forged), None)] = cache._entries.pop(key)  # as if the id came again
    assert cache.get((forged,)) is None


def test_the_least_recently_used_goes_first() -> None:
    cache: IdentityCache[int] = IdentityCache(2)
    a, b, c = Document(), Document(), Document()
    cache.put((a,), 1)
    cache.put((b,), 2)
    assert cache.get((a,)) == 1  # a is now the most recent
    cache.put((c,), 3)
    assert cache.get((b,)) is None and cache.get((a,)) == 1 and cache.get((c,)) == 3
