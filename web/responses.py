"""Starlette's JSONResponse, rendered by orjson (core/jsons.py): the same bytes, sooner."""

from __future__ import annotations

from typing import Any

from starlette import responses

from core import jsons


class JSONResponse(responses.JSONResponse):
    def render(self, content: Any) -> bytes:
        return jsons.dumps(content)
