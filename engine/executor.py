"""graphql-core's executor, with the engine completing each root field's value.

graphql-core still runs the operation: variables, the root fields (serially for a mutation,
each exactly once), their resolvers, the handling of what they raise, and one execution per
subscription event. Only the completion of each root field's value (everything below the
root) is the engine's (engine/run.py), from a plan compiled once per operation (engine/plan.py).
What the engine leaves to graphql-core is counted in /metrics (graphql_engine_fallbacks_total,
by reason): an execution with field middleware, fragment arguments, disabled error propagation
or an abort signal; introspection's root fields; values it cannot complete synchronously
(type resolution that awaits, asynchronous iterables).
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLOutputType, get_named_type
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import AwaitableOrValue, Path
from graphql.type import GraphQLResolveInfo
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from core.metrics import ENGINE_FALLBACKS
from engine import differential
from engine.plan import Plan, plan_for
from engine.run import Run


class EngineExecutor(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.engine_plan: Plan | None = None
        self.engine_run: Run | None = None

    def execute_operation(self, serially: bool | None = None) -> Any:
        self.engine_plan = self._engine_plan()
        self.engine_run = None if self.engine_plan is None else Run(self)
        return super().execute_operation(serially)

    def _engine_plan(self) -> Plan | None:
        if not _setting(self.context_value, "graphql_engine", True):
            return None
        manager = self.middleware_manager
        if manager is not None and manager.middlewares:
            reason = "middleware"
        elif not self.error_propagation:
            reason = "error_propagation"
        elif self.abort_signal is not None:
            reason = "abort_signal"
        else:
            found = plan_for(self)
            if isinstance(found, Plan):
                return found
            reason = found
        ENGINE_FALLBACKS.labels(reason).inc()
        return None

    def complete_value(
        self,
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[Any]:
        run, plan = self.engine_run, self.engine_plan
        # the engine takes a root field's value as a whole (graphql-core calls this again for
        # what is below it, and for the inner type of a non-null one, when it completes it)
        if (
            run is None
            or plan is None
            or path.prev is not None
            or return_type is not info.return_type
        ):
            return super().complete_value(
                return_type, field_details_list, info, path, result, position_context
            )
        field = plan.root(info.parent_type, field_details_list, self)
        if field is None or get_named_type(return_type).name.startswith("__"):
            ENGINE_FALLBACKS.labels("introspection").inc()
            return super().complete_value(
                return_type, field_details_list, info, path, result, position_context
            )
        if _setting(self.context_value, "graphql_engine_differential", False):
            return differential.compare_field(self, run, field, info, path, result)
        return run.complete_root(field, result, path)


def _setting(context: Any, name: str, default: bool) -> bool:
    """A setting of the context's (schema/context.py); the default for another context."""
    return bool(getattr(getattr(context, "settings", None), name, default))
