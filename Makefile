# The two commands of the README are `make run` and `make test`; both set up .venv on first use.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run worker balancer test lint typecheck contract seed reindex bench profile drill clean moderator

$(STAMP): requirements.lock
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	@touch $@

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/python serve.py

worker: $(STAMP)
	$(BIN)/python -m workers

# HAProxy in front of the API processes of `make run` (README, "Production")
balancer:
	@command -v haproxy >/dev/null || { echo "make balancer needs haproxy: apt-get install haproxy"; exit 1; }
	haproxy -W -db -f deploy/haproxy.cfg

test: $(STAMP)
	bash scripts/test.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

contract: $(STAMP)
	@mkdir -p var
	@$(BIN)/python -c "from schema.build import schema; print(schema.as_str())" > var/schema.graphql
	@$(BIN)/python ../shared/tools/check_contract.py var/schema.graphql contract-writes.graphql contract-safety.graphql contract-posts.graphql $(if $(filter 1,$(CONTRACT_STRICT)),,|| true)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

bench: $(STAMP)
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install wrk"; exit 1; }
	$(BIN)/python -m bench.run $(ARGS)
	$(BIN)/python -m bench.capacity

profile: $(STAMP)
	$(BIN)/python -m bench.profile $(ARGS)

# the fault drill on servers of its own (README, "Faults"); ARGS="--smoke" for the tiniest one
drill: $(STAMP)
	$(BIN)/python -m scripts.drill $(ARGS)

seed: $(STAMP)
	$(BIN)/python -m bench.seed $(ARGS)

# the operator names a moderator (ARGS=--revoke takes the role away); works with or without `make run`
moderator: $(STAMP)
	@test -n "$(HANDLE)" || { echo "usage: make moderator HANDLE=<handle> [ARGS=--revoke]"; exit 2; }
	$(BIN)/python -m services.moderators "$(HANDLE)" $(ARGS)

# the search index from the database; ARGS="--restart" ignores the checkpoint of a stopped run
reindex: $(STAMP)
	$(BIN)/python -m services.reindex $(ARGS)
