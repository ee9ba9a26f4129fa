"""uvicorn's server, stopping in two steps on SIGTERM, for a balancer in front (serve.py's API
processes, deploy/haproxy.cfg).

First it drains: it stops accepting connections, so that the balancer's checks fail and new
connections go to the other processes (a refused connection is retried elsewhere, mutations
included), while the connections it has keep being served as usual for `drain_seconds`, the
time the balancer takes to mark it down. Then uvicorn's graceful shutdown: the requests in
progress finish, idle connections close (the balancer no longer sends on them), WebSockets close
with 1012 and their clients reconnect to another process. Without the first step, uvicorn would
close every idle keep-alive connection at once, and a request the balancer had just sent on one
would be lost with it. SIGINT (Ctrl-C) skips the drain.
"""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType

import uvicorn

log = logging.getLogger("chirp.serve")


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, *, drain_seconds: float) -> None:
        super().__init__(config)
        self._drain_seconds = drain_seconds
        self._drain_until: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and self._drain_until is None and not self.should_exit:
            self._drain_until = time.monotonic() + self._drain_seconds  # on_tick does the rest
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._drain_until is not None and not self.should_exit:
            if self.servers and self.servers[0].is_serving():
                log.info("Draining: no new connections, %ss for the open ones", self._drain_seconds)
                for server in self.servers:
                    server.close()
            self.should_exit = time.monotonic() >= self._drain_until
        return await super().on_tick(counter)
