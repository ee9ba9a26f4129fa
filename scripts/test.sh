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

# when_up NAME "WHO" PORT... -- ARGS: the suite on NAME when every port answers
when_up() {
  local name=$1 who=$2
  shift 2
  while [ "$1" != "--" ]; do
    if ! answers "$1"; then
      if [ "${REQUIRE_SERVICES:-0}" = 1 ]; then
        summary+=("$name: FAILED ($who does not answer)")
        status=1
      else
        summary+=("$name: skipped ($who does not answer)")
      fi
      return
    fi
    shift
  done
  shift
  run_suite "$name" "$@" || status=1
}

summary=()
status=0
run_suite embedded "$@" || status=1
when_up services "PostgreSQL on :5432 or Redis on :6379" 5432 6379 -- "$@"
when_up cluster "PostgreSQL, Redis or RabbitMQ on :5672" 5432 6379 5672 -- "$@"
printf '%s\n' "${summary[@]}"
exit $status
