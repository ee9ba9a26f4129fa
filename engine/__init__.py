"""The GraphQL execution engine: plans compiled once per operation (plan.py), values completed
breadth-first (run.py) under graphql-core's executor (executor.py), checked against it in the
tests (differential.py). README, "The execution engine"."""
