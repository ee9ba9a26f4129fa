"""Counts and times every GraphQL operation by name and type, for /metrics.

Operation names come from clients: only NAMES_MAX distinct well-formed names get a series of
their own, the rest count as "other", so no client can grow the metrics without bound.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

from strawberry.extensions import SchemaExtension

from core.metrics import OPERATION_LATENCY, OPERATIONS

NAMES_MAX = 200
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_names: set[str] = set()
_series: dict[tuple[str, str], tuple[Any, Any]] = {}  # each label pair's counter and histogram


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
        series = _series.get(labels)
        if series is None:  # bounded: NAMES_MAX names and a few more, by a few kinds
            series = _series[labels] = (
                OPERATIONS.labels(*labels),
                OPERATION_LATENCY.labels(*labels),
            )
        series[0].inc()
        series[1].observe(time.perf_counter() - started)
