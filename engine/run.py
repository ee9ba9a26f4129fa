"""The completion of a root field's value, breadth-first, as graphql-core would complete it.

graphql-core completes a value depth-first, one field of one object at a time, each through a
handful of calls (resolve info, resolver, completion by type, error handling). Here each field
of a selection is completed for every object of the level at once, in a loop that reads a
Strawberry attribute with getattr and lets a string, an int or a boolean through as it is;
the objects it finds make the next level, until none is left. A resolver that is a coroutine
(a loader's read) is set aside; once the level's synchronous work is done, all of them are
awaited together, each then completing its own value the same way.

What clients see stays graphql-core's, to the byte:
- errors are located where graphql-core's handlers locate them (the field, or the list item),
  with its messages (its own functions raise them: leaf coercion, type resolution);
- a synchronous stretch records its errors in graphql-core's depth-first order (the order of
  their positions), all at the moment graphql-core would (when the stretch is done, before any
  coroutine under it starts), and then nulls the nearest nullable position above each, as its
  propagation does; what graphql-core would not have reached after such an error (under the
  nulled position) is dropped, and an error that reaches the root field is raised to
  graphql-core, which handles it as it handles its own;
- the coroutines set aside start in depth-first order too, as graphql-core's tasks do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, GraphQLObjectType, located_error
from graphql.execution.executor import Executor
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, Undefined, gather_with_cancel, inspect, is_iterable

from core.metrics import ENGINE_FALLBACKS
from engine.plan import BOOL, INT, LEAF, LIST, STR, FieldPlan, SelectionPlan, Shape

if TYPE_CHECKING:
    from graphql.type import GraphQLResolveInfo

_MIN_INT, _MAX_INT = -(2**31), 2**31 - 1


class Slot:
    """A position of the result: where a value sits (in `container`, under `key`)."""

    __slots__ = ("_path", "container", "key", "nullable", "order", "parent", "typename")

    def __init__(
        self,
        parent: Slot | None,
        key: str | int,
        typename: str | None,
        order: int,
        container: Any,
        nullable: bool,
        path: Path | None = None,
    ) -> None:
        self.parent = parent
        self.key = key
        self.typename = typename  # the parent's type for a field, None for a list item
        self.order = order  # the field's place in its selection, or the item's index
        self.container = container  # None for the root field's value: graphql-core holds it
        self.nullable = nullable
        self._path = path

    def path(self) -> Path:
        path = self._path
        if path is None:
            assert self.parent is not None  # the root slot is given its path
            path = self._path = Path(self.parent.path(), self.key, self.typename)
        return path

    def order_key(self) -> tuple[int, ...]:
        """The position in graphql-core's depth-first order."""
        keys = []
        slot: Slot | None = self
        while slot is not None and slot.parent is not None:
            keys.append(slot.order)
            slot = slot.parent
        keys.reverse()
        return tuple(keys)

    def field_slot(self) -> Slot:
        """The slot of the field this value belongs to (itself, or the list's field)."""
        slot = self
        while slot.typename is None and slot.parent is not None:
            slot = slot.parent
        return slot


# a level's objects of one selection: their sources, result dicts and slots
_Level = tuple[SelectionPlan, list[Any], list[dict[str, Any]], list[Slot]]


class _Parked:
    """An awaitable set aside until its stretch is done: a resolver's result (then completed
    here) or a value graphql-core completes itself (then taken as it is)."""

    __slots__ = ("awaitable", "complete", "plan", "shape", "slot")

    def __init__(
        self, slot: Slot, plan: FieldPlan, shape: Shape, awaitable: Any, complete: bool
    ) -> None:
        self.slot = slot
        self.plan = plan
        self.shape = shape
        self.awaitable = awaitable
        self.complete = complete


class _Stretch:
    """The synchronous work under one value: its levels, its errors, what it sets aside."""

    __slots__ = ("errors", "parked", "queue")

    def __init__(self) -> None:
        self.errors: list[tuple[Slot, GraphQLError]] = []
        self.parked: list[_Parked] = []
        self.queue: dict[int, _Level] = {}  # the next level, by selection


class Run:
    """One execution's completions (an operation, or one subscription event)."""

    __slots__ = ("_arguments", "executor")

    def __init__(self, executor: Executor[Any]) -> None:
        self.executor = executor
        self._arguments: dict[int, dict[str, Any] | Exception] = {}

    def complete_root(self, plan: FieldPlan, result: Any, path: Path) -> Any:
        """The root field's completed value, or an awaitable of it; raises what graphql-core's
        handler of the root field is to take."""
        root = Slot(None, path.key, path.typename, 0, None, plan.shape.nullable, path)
        stretch = _Stretch()
        completed = self._complete(stretch, plan, plan.shape, result, root)
        self._drain(stretch)
        self._settle(stretch)
        if not stretch.parked:
            return completed
        return self._after(completed, stretch.parked)

    async def _after(self, completed: Any, parked: list[_Parked]) -> Any:
        await self._await_all(parked)
        return completed

    # -- one stretch ------------------------------------------------------------------

    def _drain(self, stretch: _Stretch) -> None:
        queue = stretch.queue
        while queue:
            stretch.queue = {}
            for plan, sources, dicts, slots in queue.values():
                if sources:
                    self._fill(stretch, plan, sources, dicts, slots)
            queue = stretch.queue

    def _fill(
        self,
        stretch: _Stretch,
        plan: SelectionPlan,
        sources: list[Any],
        dicts: list[dict[str, Any]],
        slots: list[Slot],
    ) -> None:
        for field in plan.fields:
            key = field.key
            if field.typename:
                name = plan.type_name
                for result in dicts:
                    result[key] = name
                continue
            attr = field.attr
            if attr is None:
                self._resolve_each(stretch, field, sources, dicts, slots)
                continue
            try:
                values = [getattr(source, attr) for source in sources]
            except Exception:  # noqa: BLE001 - found again, object by object
                self._resolve_each(stretch, field, sources, dicts, slots)
                continue
            self._complete_each(stretch, field, values, dicts, slots)

    def _complete_each(
        self,
        stretch: _Stretch,
        field: FieldPlan,
        values: list[Any],
        dicts: list[dict[str, Any]],
        slots: list[Slot],
    ) -> None:
        key, shape, fast = field.key, field.shape, field.shape.fast
        complete = self._complete
        target = self._plain_objects(stretch, field, shape)
        if target is not None:  # objects of one type, checked without resolve info
            is_type_of, sources, results, children = target
            name, order, nullable = field.parent_name, field.order, shape.nullable
            for result, value, slot in zip(dicts, values, slots, strict=True):
                if (
                    value is None
                    or value is Undefined
                    or isinstance(value, Exception)
                    or (is_type_of is not None and not is_type_of(value, None))
                ):
                    result[key] = complete(stretch, field, shape, value, _at(field, slot, result))
                    continue
                child: dict[str, Any] = {}
                result[key] = child
                sources.append(value)
                results.append(child)
                children.append(Slot(slot, key, name, order, result, nullable))
        elif fast == STR:
            for result, value, slot in zip(dicts, values, slots, strict=True):
                if type(value) is str:
                    result[key] = value
                else:
                    result[key] = complete(stretch, field, shape, value, _at(field, slot, result))
        elif fast == INT:
            for result, value, slot in zip(dicts, values, slots, strict=True):
                if type(value) is int and _MIN_INT <= value <= _MAX_INT:
                    result[key] = value
                else:
                    result[key] = complete(stretch, field, shape, value, _at(field, slot, result))
        elif fast == BOOL:
            for result, value, slot in zip(dicts, values, slots, strict=True):
                if type(value) is bool:
                    result[key] = value
                else:
                    result[key] = complete(stretch, field, shape, value, _at(field, slot, result))
        elif shape.leaf is not None:  # another scalar, or an enum: its own coercion
            coerce = shape.leaf.coerce_output_value
            for result, value, slot in zip(dicts, values, slots, strict=True):
                coerced = None
                if (
                    value is not None
                    and value is not Undefined
                    and not isinstance(value, Exception)
                ):
                    try:
                        coerced = coerce(value)
                    except Exception:  # noqa: BLE001 - completed again below, with its error
                        coerced = None
                if coerced is None or coerced is Undefined:
                    coerced = complete(stretch, field, shape, value, _at(field, slot, result))
                result[key] = coerced
        else:
            for result, value, slot in zip(dicts, values, slots, strict=True):
                result[key] = complete(stretch, field, shape, value, _at(field, slot, result))

    def _resolve_each(
        self,
        stretch: _Stretch,
        field: FieldPlan,
        sources: list[Any],
        dicts: list[dict[str, Any]],
        slots: list[Slot],
    ) -> None:
        """Object by object: a field with a resolver, or a plain attribute whose reading raised
        for one of them."""
        key, resolve, attr = field.key, field.resolve, field.attr
        executor = self.executor
        build_info = executor.build_resolve_info
        is_awaitable = executor.is_awaitable
        arguments = self._arguments_of(field) if attr is None else {}
        for source, result, slot in zip(sources, dicts, slots, strict=True):
            here = _at(field, slot, result)
            try:
                if attr is not None:
                    value = getattr(source, attr)
                else:
                    if isinstance(arguments, Exception):
                        raise arguments
                    info = build_info(field.definition, field.nodes, field.parent_type, here.path())
                    value = resolve(source, info, **arguments)
            except Exception as error:  # noqa: BLE001 - the field's error, as graphql-core's
                self._fail(stretch, field, here, error)
                result[key] = None
                continue
            if is_awaitable(value):
                result[key] = None  # its place among the keys; the value comes later
                stretch.parked.append(_Parked(here, field, field.shape, value, True))
            else:
                result[key] = self._complete(stretch, field, field.shape, value, here)

    def _arguments_of(self, field: FieldPlan) -> dict[str, Any] | Exception:
        """The field's arguments: the plan's literals, else coerced once for this execution."""
        if field.args is not None:
            return field.args
        found = self._arguments.get(id(field))
        if found is None:
            executor = self.executor
            first = field.details[0]
            try:
                found = get_argument_values(
                    field.definition,
                    first.node,
                    executor.variable_values,
                    first.fragment_variable_values,
                    executor.hide_suggestions,
                )
            except Exception as error:  # noqa: BLE001 - each object's error
                found = error
            self._arguments[id(field)] = found
        return found

    def _complete(
        self, stretch: _Stretch, field: FieldPlan, shape: Shape, value: Any, slot: Slot
    ) -> Any:
        """A value completed at `slot` (an object's dict is filled by the next levels); None
        after an error, which is recorded at `slot`."""
        if isinstance(value, Exception):
            self._fail(stretch, field, slot, value)
            return None
        if value is None or value is Undefined:
            if not shape.nullable:
                self._fail(stretch, field, slot, TypeError(field.null_message))
            return None
        kind = shape.kind
        try:
            if kind == LEAF:
                assert shape.leaf is not None
                return Executor.complete_leaf_value(shape.leaf, value)
            if kind == LIST:
                return self._complete_list(stretch, field, shape, value, slot)
            runtime_type: Any = shape.object_type
            if runtime_type is None:
                runtime_type = self._runtime_type(field, shape, value, slot)
                if runtime_type is None:  # graphql-core completes it (an awaitable)
                    return self._delegate(stretch, field, shape, value, slot)
            is_type_of = runtime_type.is_type_of
            if is_type_of is not None and shape.plain_is_type_of:
                if not is_type_of(value, None):
                    raise GraphQLError(
                        f"Expected value of type '{runtime_type}' but got: {inspect(value)}.",
                        field.nodes,
                    )
            elif is_type_of is not None:
                matches = is_type_of(value, self._info(field, slot))
                if self.executor.is_awaitable(matches):
                    _close(matches)
                    return self._delegate(stretch, field, shape, value, slot)
                if not matches:
                    raise GraphQLError(
                        f"Expected value of type '{runtime_type}' but got: {inspect(value)}.",
                        field.nodes,
                    )
            selection = field.child(runtime_type, self.executor)
        except Exception as error:  # noqa: BLE001 - the error at this value, as graphql-core's
            self._fail(stretch, field, slot, error)
            return None
        result: dict[str, Any] = {}
        _, sources, results, slots = self._queued(stretch, selection)
        sources.append(value)
        results.append(result)
        slots.append(slot)
        return result

    @staticmethod
    def _queued(stretch: _Stretch, selection: SelectionPlan) -> _Level:
        """The next level's objects of `selection`, to add to."""
        queued = stretch.queue.get(id(selection))
        if queued is None:
            queued = stretch.queue[id(selection)] = (selection, [], [], [])
        return queued

    def _plain_objects(
        self, stretch: _Stretch, field: FieldPlan, shape: Shape
    ) -> tuple[Callable[..., Any] | None, list[Any], list[dict[str, Any]], list[Slot]] | None:
        """For values of one object type whose check needs no resolve info (none, or
        Strawberry's isinstance): the check and the next level's lists to add them to."""
        type_ = shape.object_type
        if type_ is None or (type_.is_type_of is not None and not shape.plain_is_type_of):
            return None
        try:
            selection = field.child(type_, self.executor)
        except Exception:  # noqa: BLE001 - each value meets the error on the usual way
            return None
        _, sources, results, slots = self._queued(stretch, selection)
        return type_.is_type_of, sources, results, slots

    def _complete_list(
        self, stretch: _Stretch, field: FieldPlan, shape: Shape, value: Any, slot: Slot
    ) -> Any:
        executor = self.executor
        if not isinstance(value, list | tuple):
            if executor.is_async_iterable(value):
                return self._delegate(stretch, field, shape, value, slot)
            if not is_iterable(value):
                raise GraphQLError(
                    "Expected Iterable, but did not find one for field"
                    f" '{field.parent_name}.{field.name}'."
                )
        item_shape = shape.item
        assert item_shape is not None
        items: list[Any] = []
        append = items.append
        fast = item_shape.fast
        nullable = item_shape.nullable
        is_awaitable = executor.is_awaitable
        target = self._plain_objects(stretch, field, item_shape)
        for index, item in enumerate(value):
            if fast == STR and type(item) is str:
                append(item)
                continue
            here = Slot(slot, index, None, index, items, nullable)
            if target is not None and not (
                item is None
                or item is Undefined
                or isinstance(item, Exception)
                or is_awaitable(item)
                or (target[0] is not None and not target[0](item, None))
            ):
                child: dict[str, Any] = {}
                append(child)
                target[1].append(item)
                target[2].append(child)
                target[3].append(here)
                continue
            append(None)
            if is_awaitable(item):
                stretch.parked.append(_Parked(here, field, item_shape, item, True))
            else:
                items[index] = self._complete(stretch, field, item_shape, item, here)
        return items

    def _runtime_type(
        self, field: FieldPlan, shape: Shape, value: Any, slot: Slot
    ) -> GraphQLObjectType | None:
        """The object type of an abstract value; None when it is awaitable."""
        executor = self.executor
        abstract = shape.abstract
        info = self._info(field, slot)
        resolve_type = abstract.resolve_type or executor.type_resolver
        name = resolve_type(value, info, abstract)
        if executor.is_awaitable(name):
            _close(name)
            return None
        return executor.ensure_valid_runtime_type(name, abstract, field.details, info, value)

    def _delegate(
        self, stretch: _Stretch, field: FieldPlan, shape: Shape, value: Any, slot: Slot
    ) -> Any:
        """What the engine leaves to graphql-core: the value completed by its executor."""
        ENGINE_FALLBACKS.labels("delegated").inc()
        executor = self.executor
        completed = Executor.complete_value(
            executor, shape.type, field.details, self._info(field, slot), slot.path(), value, None
        )
        if executor.is_awaitable(completed):
            stretch.parked.append(_Parked(slot, field, shape, completed, False))
            return None
        return completed

    def _info(self, field: FieldPlan, slot: Slot) -> GraphQLResolveInfo[Any]:
        """The resolve info of the field the value at `slot` belongs to."""
        path = slot.field_slot().path()
        return self.executor.build_resolve_info(
            field.definition, field.nodes, field.parent_type, path
        )

    def _fail(self, stretch: _Stretch, field: FieldPlan, slot: Slot, raw: Exception) -> None:
        stretch.errors.append((slot, located_error(raw, field.nodes, slot.path().as_list())))

    # -- after a stretch ------------------------------------------------------------------

    def _settle(self, stretch: _Stretch) -> None:
        """Records the stretch's errors as graphql-core would have, nulls where they land, and
        keeps what was set aside only where no null landed above it. Raises an error that
        lands on the root field (graphql-core's to handle)."""
        collected = self.executor.collected_errors
        try:
            errors = stretch.errors
            if len(errors) > 1:
                errors.sort(key=lambda entry: entry[0].order_key())
            for slot, error in errors:
                if collected.has_nulled_position(slot.path()):
                    continue  # graphql-core would not have come this far
                target = slot
                while not target.nullable and target.parent is not None:
                    target = target.parent
                if target.container is None:
                    raise error
                collected.add(error, target.path())
                target.container[target.key] = None
        except BaseException:
            for parked in stretch.parked:
                _close(parked.awaitable)
            stretch.parked = []
            raise
        if stretch.parked and collected.errors:
            kept = []
            for parked in stretch.parked:
                if collected.has_nulled_position(parked.slot.path()):
                    _close(parked.awaitable)
                else:
                    kept.append(parked)
            stretch.parked = kept
        if len(stretch.parked) > 1:
            stretch.parked.sort(key=lambda parked: parked.slot.order_key())

    async def _await_all(self, parked: list[_Parked]) -> None:
        if len(parked) == 1:
            await self._await_one(parked[0])
        elif parked:
            await gather_with_cancel(*(self._await_one(each) for each in parked))

    async def _await_one(self, parked: _Parked) -> None:
        slot, field = parked.slot, parked.plan
        stretch = _Stretch()
        try:
            value = await parked.awaitable
        except Exception as error:  # noqa: BLE001 - the field's error, as graphql-core's
            self._fail(stretch, field, slot, error)
            value = None
        else:
            if parked.complete:
                value = self._complete(stretch, field, parked.shape, value, slot)
                self._drain(stretch)
        if self.executor.collected_errors.has_nulled_position(slot.path()):
            for each in stretch.parked:  # graphql-core cancelled it: nothing of it is kept
                _close(each.awaitable)
            return
        slot.container[slot.key] = value
        self._settle(stretch)
        await self._await_all(stretch.parked)


def _at(field: FieldPlan, slot: Slot, result: dict[str, Any]) -> Slot:
    """The slot of `field` in the object at `slot` (whose dict is `result`)."""
    return Slot(slot, field.key, field.parent_name, field.order, result, field.shape.nullable)


def _close(awaitable: Awaitable[Any] | Any) -> None:
    """Disposes of an awaitable that will not be awaited (a coroutine warns otherwise)."""
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()
