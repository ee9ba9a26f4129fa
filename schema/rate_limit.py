"""Costly operations take more of the client's request budget, before they execute.

An operation weighs one unit per started RATE_LIMIT_COST_UNIT (100) of its estimated cost
(context.estimated_cost, set by the cost estimate that runs before this extension), at least
one, and at most the whole budget (so that any operation within the cost limit can run on a
full budget). Over HTTP the middleware (web/rate_limit.py) already took one unit; on a
WebSocket each operation pays its whole weight, charged to the signed-in user, else to the
address of the connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension

from schema.context import Context
from services.rate_limits import CLIENT, client_key, refusal, weight


class RequestBudget(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context) and context.client_budget is not None:
            await charge(context)
        yield


async def charge(context: Context) -> None:
    """Takes the operation's weight, less what was prepaid; RATE_LIMITED when over."""
    budget, limiter = context.client_budget, context.limiter
    if budget is None or limiter.requests.limit <= 0:
        return
    units = weight(context.estimated_cost, context.settings.rate_limit_cost_unit)
    units = min(units, limiter.requests.limit) - budget.prepaid
    if units <= 0:
        return
    key = client_key(context.viewer_id, budget.address)
    decision = await limiter.take(CLIENT, key, rate=limiter.requests, cost=units)
    budget.decision = decision
    if not decision.allowed:
        raise refusal(CLIENT, decision)
