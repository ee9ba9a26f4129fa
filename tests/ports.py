"""Ports for the servers the tests start: free, and below the kernel's ephemeral range.

A port the kernel hands out for binding 0 is an ephemeral one, and an outgoing connection (the
suite opens thousands: pools, a Redis Cluster's nodes) may take it as its local port between the
probe and the server's bind ("address already in use"). Ports from below that range are only
ever taken by a bind.
"""

from __future__ import annotations

import random

from core.embedded import port_free

_LOW, _HIGH = 20_000, 32_000  # Linux's ephemeral ports start at 32,768 by default


def free_port(count: int = 1) -> int:
    """A port whose `count` ports from it on are free now (a server on each)."""
    while True:
        first = random.randrange(_LOW, _HIGH - count)
        if all(port_free(port) for port in range(first, first + count)):
            return first
