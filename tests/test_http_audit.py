"""graphql-http's reference audit of the GraphQL-over-HTTP specification passes with no warning."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE_PREFIX = ROOT / "var" / "node"
PACKAGES = ["graphql-http@1.23.1", "graphql@16.11.0"]


def _install() -> Path | None:
    """graphql-http from the npm registry, once, under var/node; None when node or npm is missing."""
    if not (shutil.which("node") and shutil.which("npm")):
        return None
    modules = NODE_PREFIX / "node_modules"
    if not (modules / "graphql-http").exists():
        subprocess.run(
            [
                "npm",
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(NODE_PREFIX),
                *PACKAGES,
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return modules


def test_graphql_over_http_audit(live_server: str) -> None:
    modules = _install()
    if modules is None:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("node and npm are needed for the GraphQL-over-HTTP audit")
        pytest.skip("node/npm not installed: the GraphQL-over-HTTP audit needs them")
    completed = subprocess.run(
        ["node", str(ROOT / "tests" / "graphql_http_audit.cjs"), f"{live_server}/graphql"],
        env={**os.environ, "NODE_PATH": str(modules)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    results = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
    assert len(results) > 20
    failing = [r for r in results if r["status"] != "ok"]
    assert failing == [], "\n".join(f"{r['status']} {r['name']}: {r['reason']}" for r in failing)
