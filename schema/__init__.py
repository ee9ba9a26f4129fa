"""Strawberry types, one module per domain; the served schema is schema.build.schema."""
