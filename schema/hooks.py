"""The schema extensions' hooks, run as Strawberry runs them, for less per request.

Strawberry wraps every hook of every extension in a fresh `contextlib` context manager on each
phase of each operation (looking the hook up, `update_wrapper`, an exit stack): about a third
of what `{ __typename }` costs it. Here each extension class's hooks are looked up once, and a
phase drives the generators itself, with the semantics of an exit stack of context managers:
entered in order, left in reverse, an exception thrown into each (a hook that swallows it
suppresses it, one that raises another replaces it). As Strawberry's, a phase that fails to
enter (a hook raised before its `yield`) leaves the hooks it entered to the garbage collector.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import TracebackType
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner

_PLAIN, _GENERATOR, _COROUTINE, _ASYNC_GENERATOR = range(4)
_Hook = tuple[Callable[..., Any], int]


_found: dict[tuple[type[SchemaExtension], str], _Hook | None] = {}


def _hooks(kind: type[SchemaExtension], name: str) -> _Hook | None:
    key = (kind, name)
    if key not in _found:
        _found[key] = _hook_of(kind, name)
    return _found[key]


def _hook_of(kind: type[SchemaExtension], name: str) -> _Hook | None:
    function = getattr(kind, name)
    if function is getattr(SchemaExtension, name):
        return None
    if inspect.isgeneratorfunction(function):
        return function, _GENERATOR
    if inspect.isasyncgenfunction(function):
        return function, _ASYNC_GENERATOR
    if inspect.iscoroutinefunction(function):
        return function, _COROUTINE
    if callable(function):
        return function, _PLAIN
    raise ValueError(f"Hook {name} on {kind} must be callable, received {function!r}")


class _Phase:
    """One phase (operation, parsing, validation, execution) of every extension."""

    __slots__ = ("_extensions", "_name", "_running")

    def __init__(self, extensions: list[SchemaExtension], name: str) -> None:
        self._extensions = extensions
        self._name = name
        self._running: list[Any] = []  # the generators entered, in order

    def __enter__(self) -> None:
        for extension in self._extensions:
            hook = _hooks(type(extension), self._name)
            if hook is None:
                continue
            function, kind = hook
            if kind in (_COROUTINE, _ASYNC_GENERATOR):
                raise RuntimeError(
                    f"SchemaExtension hook {extension}.{self._name} "
                    "failed to complete synchronously."
                )
            if kind == _PLAIN:
                function(extension)
            else:
                generator = function(extension)
                next(generator)
                self._running.append(generator)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        return self._outcome(error, self._leave_sync(error))

    async def __aenter__(self) -> None:
        for extension in self._extensions:
            hook = _hooks(type(extension), self._name)
            if hook is None:
                continue
            function, kind = hook
            if kind == _PLAIN:
                function(extension)
            elif kind == _COROUTINE:
                await function(extension)
            elif kind == _GENERATOR:
                generator = function(extension)
                next(generator)
                self._running.append(generator)
            else:
                generator = function(extension)
                await anext(generator)
                self._running.append(generator)

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        return self._outcome(error, await self._leave(error))

    @staticmethod
    def _outcome(error: BaseException | None, pending: BaseException | None) -> bool:
        """True to suppress `error`; raises what replaced it."""
        if pending is None:
            return error is not None
        if pending is error:
            return False
        raise pending

    def _leave_sync(self, pending: BaseException | None) -> BaseException | None:
        while self._running:
            pending = _resume(self._running.pop(), pending)
        return pending

    async def _leave(self, pending: BaseException | None) -> BaseException | None:
        while self._running:
            generator = self._running.pop()
            if inspect.isasyncgen(generator):
                pending = await _resume_async(generator, pending)
            else:
                pending = _resume(generator, pending)
        return pending


def _resume(generator: Any, pending: BaseException | None) -> BaseException | None:
    """Runs a hook's generator past its `yield`: what is pending after it (None when nothing
    is, or it swallowed what was)."""
    try:
        if pending is None:
            next(generator)
        else:
            generator.throw(pending)
    except StopIteration:
        return None
    except BaseException as error:
        return error
    return RuntimeError("generator didn't stop")


async def _resume_async(generator: Any, pending: BaseException | None) -> BaseException | None:
    try:
        if pending is None:
            await anext(generator)
        else:
            await generator.athrow(pending)
    except StopAsyncIteration:
        return None
    except BaseException as error:
        return error
    return RuntimeError("generator didn't stop")


class HookRunner(SchemaExtensionsRunner):
    def operation(self) -> Any:
        return _Phase(self.extensions, "on_operation")

    def validation(self) -> Any:
        return _Phase(self.extensions, "on_validate")

    def parsing(self) -> Any:
        return _Phase(self.extensions, "on_parse")

    def executing(self) -> Any:
        return _Phase(self.extensions, "on_execute")
