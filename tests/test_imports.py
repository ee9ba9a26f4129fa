"""Every module of the service imports on its own: no import cycle hides behind the order in
which the app happens to import them.

Each module is imported first thing in a process of its own, forked from one fresh interpreter
that has loaded only the third-party libraries (none of the service's modules), so a hundred
modules cost seconds, not a hundred interpreter starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "core",
    "models",
    "services",
    "dataloaders",
    "schema",
    "resolvers",
    "views",
    "web",
    "workers",
)
LIBRARIES = (
    "strawberry",
    "graphql",
    "sqlalchemy",
    "asyncpg",
    "redis",
    "starlette",
    "uvicorn",
    "pydantic",
    "dramatiq",
    "prometheus_client",
    "argon2",
    "jwt",
    "meilisearch_python_sdk",
    "alembic",
    "httpx",
    "websockets",
)
_EACH_ALONE = """
import importlib, json, os, sys
for library in sys.argv[2:]:
    importlib.import_module(library)
failed = {}
for module in json.loads(sys.argv[1]):
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read)
        try:
            importlib.import_module(module)
        except BaseException as error:
            os.write(write, f"{type(error).__name__}: {error}".encode())
            os._exit(1)
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as reason:
        said = reason.read()
    if os.waitpid(child, 0)[1] != 0:
        failed[module] = said or "exited"
print(json.dumps(failed))
"""


def _modules() -> list[str]:
    found = ["app", "serve"]
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def test_every_module_imports_first_in_a_process_of_its_own() -> None:
    modules = _modules()
    assert "resolvers.tweets" in modules and "web.rest.tweets" in modules
    env = os.environ | {"REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:1/0")}
    done = subprocess.run(
        [sys.executable, "-c", _EACH_ALONE, json.dumps(modules), *LIBRARIES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {}


def test_rest_adapters_never_import_the_graphql_resolvers() -> None:
    for path in (ROOT / "web" / "rest").glob("*.py"):
        text = path.read_text()
        assert "from resolvers" not in text and "import resolvers" not in text, path
        assert "from schema import" not in text, path  # GraphQL's types neither
