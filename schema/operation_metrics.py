"""Counts and times every GraphQL operation by name and type, for /metrics.

Operation names come from clients: only NAMES_MAX distinct well-formed names get a series of
their own, the rest count as "other", so no client can grow the metrics without bound.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from core.metrics import OPERATION_LATENCY, OPERATIONS, series

NAMES_MAX = 200
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_names: set[str] = set()


def _label(name: str | None) -> str:
    if not name:
        return "anonymous"
    if name in _names:
        return name
    if _NAME.fullmatch(name) and len(_names) < NAMES_MAX:
        _names.add(name)
        return name
    return "other"


class OperationMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        try:
            kind = context.operation_type.value
        except RuntimeError:  # the document did not parse: no operation to speak of
            kind = "invalid"
        labels = (_label(context.operation_name), kind)
        series(OPERATIONS, *labels).inc()
        series(OPERATION_LATENCY, *labels).observe(time.perf_counter() - started)
