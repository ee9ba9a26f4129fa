"""A bounded cache of what was worked out for objects, keyed by their identity.

Parsed documents and operations are kept by the parser cache and handed out again for the
same text, so what is derived from one (its validation, its measure, its plan) can be kept by
its identity: hashing a document by value walks all of its nodes, every request. Each entry
holds its objects, so that an id reused by a newer object is not taken for theirs; the least
recently used entry goes first. Servers of the tests share the module from several threads:
an entry another thread dropped meanwhile is only a miss.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from contextlib import suppress
from typing import Generic, TypeVar

V = TypeVar("V")


class IdentityCache(Generic[V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[tuple[object, ...], V]] = OrderedDict()

    def get(self, objects: tuple[object, ...], extra: Hashable = None) -> V | None:
        key = (*map(id, objects), extra)
        found = self._entries.get(key)
        if found is None:
            return None
        for kept, given in zip(found[0], objects, strict=True):
            if kept is not given:
                return None
        with suppress(KeyError):
            self._entries.move_to_end(key)
        return found[1]

    def put(self, objects: tuple[object, ...], value: V, extra: Hashable = None) -> V:
        self._entries[(*map(id, objects), extra)] = (objects, value)
        if len(self._entries) > self.size:
            with suppress(KeyError):
                self._entries.popitem(last=False)
        return value
