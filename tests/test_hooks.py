"""The schema extensions' hooks (schema/hooks.py) run as Strawberry's own runner runs them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

import pytest
import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from schema.build import Schema
from schema.hooks import _Phase

calls: list[str] = []


class Outer(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        calls.append("outer in")
        try:
            yield
        except Exception as error:
            calls.append(f"outer saw {error}")
            raise
        calls.append("outer out")

    def on_parse(self) -> None:
        calls.append("outer parse")


class Inner(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        calls.append("inner in")
        yield
        calls.append("inner out")

    async def on_execute(self) -> None:
        calls.append("inner execute")


class Refusing(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        calls.append("refusing in")
        raise ValueError("refused")
        yield  # a generator: the hook raises before its yield


class Replacing(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        yield
        raise RuntimeError("replaced")


class Swallowing(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        try:
            yield
        except ZeroDivisionError:
            calls.append("swallowed")


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        calls.append("resolver")
        return "hi"


def run(kind: type[strawberry.Schema], *extensions: type[SchemaExtension]) -> tuple[object, ...]:
    """What an operation gives and which hooks ran, with this schema class's runner."""
    calls.clear()
    result = kind(query=Query, extensions=list(extensions)).execute_sync("{ hello }")
    return result.data, _messages(result.errors), list(calls)


async def run_async(kind: type[strawberry.Schema], *extensions: type[SchemaExtension]) -> object:
    calls.clear()
    result = await kind(query=Query, extensions=list(extensions)).execute("{ hello }")
    return result.data, _messages(result.errors), list(calls)


def _messages(errors: list[GraphQLError] | None) -> list[str]:
    return [re.sub(r" at 0x[0-9a-f]+", "", error.message) for error in errors or []]


async def test_hooks_enter_in_order_and_leave_in_reverse() -> None:
    ours = await run_async(Schema, Outer, Inner)
    assert ours == await run_async(strawberry.Schema, Outer, Inner)
    order = ["outer in", "inner in", "outer parse", "inner execute", "resolver"]
    assert ours == ({"hello": "hi"}, [], [*order, "inner out", "outer out"])


@pytest.mark.parametrize(
    "extensions",
    [(Outer, Refusing, Inner), (Outer, Replacing), (Swallowing, Outer), (Inner,)],
    ids=["raises-before-yield", "raises-after-yield", "swallowing", "async-hooks"],
)
async def test_errors_in_hooks_end_the_operation_as_strawberrys_runner_ends_it(
    extensions: tuple[type[SchemaExtension], ...],
) -> None:
    ours = await run_async(Schema, *extensions)
    assert ours == await run_async(strawberry.Schema, *extensions)
    assert run(Schema, *extensions) == run(strawberry.Schema, *extensions)


async def test_a_hook_that_raises_is_the_operations_error() -> None:
    data, messages, ran = await run_async(Schema, Outer, Refusing, Inner)
    assert data is None and messages == ["refused"]
    assert "resolver" not in ran and ran[-1] == "outer saw refused"
    message = "SchemaExtension hook <tests.test_hooks.Inner object>.on_operation failed to "
    assert run(Schema, Inner)[1] == [message + "complete synchronously."]


def test_a_hook_that_swallows_an_exception_suppresses_it() -> None:
    calls.clear()
    with _Phase([Swallowing()], "on_execute"):
        raise ZeroDivisionError
    assert calls == ["swallowed"]
    with pytest.raises(KeyError), _Phase([Swallowing()], "on_execute"):
        raise KeyError("not swallowed")
