#!/usr/bin/env bash
# The whole suite on the embedded servers, then on the machine's PostgreSQL and Redis when they
# answer (each run in a fresh database of its own), then on the cluster profile when RabbitMQ
# answers too: a PostgreSQL primary with a streaming replica and a Redis Cluster of three
# masters with a replica each, which the tests start (tests/replicas.py, tests/redis_cluster.py).
# REQUIRE_SERVICES=1 turns a missing service or browser into a failure instead of a skip.
set -uo pipefail
cd "$(dirname "$0")/.."

answers() {
  .venv/bin/python - "$1" <<'PY'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

run_suite() {
  echo "=== pytest on the $1 backend ==="
  TEST_BACKEND=$1 .venv/bin/pytest "${@:2}"
  local code=$?
  [ $code -eq 5 ] && echo "no tests ran on the $1 backend" && code=1
  summary+=("$1: $([ $code -eq 0 ] && echo passed || echo "FAILED (exit $code)")")
  return $code
}

summary=()
status=0
run_suite embedded "$@" || status=1
if answers 5432 && answers 6379; then
  run_suite services "$@" || status=1
elif [ "${REQUIRE_SERVICES:-0}" = 1 ]; then
  summary+=("services: FAILED (PostgreSQL on :5432 or Redis on :6379 does not answer)")
  status=1
else
  summary+=("services: skipped (PostgreSQL on :5432 or Redis on :6379 does not answer)")
fi
if answers 5432 && answers 6379 && answers 5672; then
  run_suite cluster "$@" || status=1
elif [ "${REQUIRE_SERVICES:-0}" = 1 ]; then
  summary+=("cluster: FAILED (PostgreSQL, Redis or RabbitMQ on :5672 does not answer)")
  status=1
else
  summary+=("cluster: skipped (PostgreSQL, Redis or RabbitMQ on :5672 does not answer)")
fi
printf '%s\n' "${summary[@]}"
exit $status
