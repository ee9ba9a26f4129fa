"""One execution of a subscription event for every subscriber that would get the same answer.

A new tweet reaches thousands of home timeline subscriptions at once; most send the same
document. When an event's payload names what its answer depends on (`share`: the tweet and
the viewer's flags on it) and the document asks only for fields that are read off the payload
itself (no resolver that looks at the viewer or the database), the first subscriber executes
it and the others, in any process task, take that result. Anything else executes as usual.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.execution import Executor

from engine.executor import EngineExecutor
from schema.context import settings_of

# fields answered from the payload's own attributes, the same for every subscriber
_PLAIN = frozenset(
    """__typename homeTimeline cursor node id text createdAt editedAt hashtags likeCount
    retweetCount replyCount author retweetOf viewerHasLiked viewerHasRetweeted handle
    displayName bio followerCount followingCount tweetCount media url previewUrl width height
    contentType alt blurhash""".split()
)
_RESULTS = 512
_shared: OrderedDict[Hashable, tuple[Any, Any, asyncio.Future[Any]]] = OrderedDict()
_plain: dict[int, tuple[OperationDefinitionNode, bool]] = {}


class SharedEventExecutor(EngineExecutor):
    @classmethod
    def build(
        cls,
        schema: GraphQLSchema,
        document: DocumentNode,
        root_value: Any = None,
        context_value: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> list[GraphQLError] | Executor[Any]:
        """As graphql-core's; with introspection off, the errors of variables suggest no names
        (as validation's do not: schema/validation.py)."""
        kwargs["hide_suggestions"] = not settings_of(context_value).introspection
        return super().build(schema, document, root_value, context_value, *args, **kwargs)

    def execute_operation(self, serially: bool | None = None) -> Any:
        share = getattr(self.root_value, "share", None)
        if share is None or not self._plain_document():
            return super().execute_operation(serially)
        variables = self.variable_values.coerced
        found = _execution(self.operation, variables, share)
        if found is not None:
            return asyncio.shield(found)  # a subscriber that leaves cancels only its own wait
        result = super().execute_operation(serially)
        future: asyncio.Future[Any]
        if self.is_awaitable(result):
            future = asyncio.ensure_future(result)
        else:
            future = asyncio.get_running_loop().create_future()
            future.set_result(result)
        _shared[(id(self.operation), share)] = (self.operation, variables, future)
        if len(_shared) > _RESULTS:
            _shared.popitem(last=False)
        return asyncio.shield(future)

    def _plain_document(self) -> bool:
        found = _plain.get(id(self.operation))
        if found is None or found[0] is not self.operation:
            plain = self._plain(self.operation.selection_set, {}, root=True)
            found = (self.operation, plain)
            _plain[id(self.operation)] = found
            if len(_plain) > _RESULTS:
                _plain.pop(next(iter(_plain)))
        return found[1]

    def _plain(
        self, selection_set: SelectionSetNode | None, read: dict[str, bool], *, root: bool = False
    ) -> bool:
        """Whether every field below is read off the payload (the subscription field's own
        arguments, such as `since`, only chose the events). `read` holds the answer for each
        fragment read so far: each is read once, however often it is spread."""
        for selection in selection_set.selections if selection_set else ():
            if selection.directives:
                return False
            if isinstance(selection, FieldNode):
                if selection.name.value not in _PLAIN or (selection.arguments and not root):
                    return False
                plain = self._plain(selection.selection_set, read)
            elif isinstance(selection, InlineFragmentNode):
                plain = self._plain(selection.selection_set, read)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in read:
                    fragment = self.fragments[name].definition
                    read[name] = self._plain(fragment.selection_set, read)
                plain = read[name]
            if not plain:
                return False
        return True


async def shared_data(
    operation: OperationDefinitionNode, variables: Any, share: Hashable
) -> Any | None:
    """The data of this event's execution for this operation (and `variables`, coerced) by
    another subscriber, once it completed without errors; None when none ran (this subscriber
    executes it), or it failed."""
    found = _execution(operation, variables, share)
    if found is None:
        return None
    try:
        result = await asyncio.shield(found)
    except Exception:  # noqa: BLE001 - the usual way reports it
        return None
    return None if result.errors else result.data


def _execution(
    operation: OperationDefinitionNode, variables: Any, share: Hashable
) -> asyncio.Future[Any] | None:
    """The execution of this event for this operation and these (coerced) variables, if one
    started and is still among the newest _RESULTS."""
    found = _shared.get((id(operation), share))
    if found is None or found[0] is not operation or found[1] != variables:
        return None
    return found[2]
