"""A throwaway PostgreSQL server for tests and benchmarks (never a user's database).

``initdb`` into a fresh folder, ``pg_ctl`` on one address and a free port, trust
authentication for that address's network only, ``fsync`` off (the data is thrown away).
PostgreSQL refuses to run as root, so under root (CI) the server runs as ``nobody``. The
binaries: ``$PROMPTLIFT_PG_BIN``, else the newest ``/usr/lib/postgresql/*/bin`` (Debian's
layout; ``.ci/run`` installs postgresql-15), else ``initdb`` on the PATH.
"""

from __future__ import annotations

import glob
import ipaddress
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries here, or the server would not start (the message says which)."""


def bin_dir() -> Path:
    if os.environ.get("PROMPTLIFT_PG_BIN"):
        return Path(os.environ["PROMPTLIFT_PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    if shutil.which("initdb"):
        return Path(shutil.which("initdb")).parent
    raise PostgresUnavailable("PostgreSQL is not installed (apt-get install postgresql-15; .ci/run does)")


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class PostgresServer:
    """``start()``, ``stop()`` (and ``start()`` again: a restart keeps the data), ``close()``."""

    def __init__(self, host: str = "127.0.0.1", *, network: str | None = None, port: int | None = None) -> None:
        self.bin = bin_dir()
        self.host = host
        self.port = port or free_port(host)
        self.network = network or f"{host}/32"
        self.root = Path(tempfile.mkdtemp(prefix="promptlift-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.user = "nobody" if os.geteuid() == 0 else None
        if self.user:
            shutil.chown(self.root, self.user)
        self._initdb()

    def _run(self, *argv: str) -> str:
        command = [str(self.bin / argv[0]), *argv[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.root, timeout=120)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise PostgresUnavailable(f"{argv[0]} failed ({done.returncode}): {' / '.join(tail)}")
        return done.stdout

    def _initdb(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8",
                  "--locale=C")
        network = ipaddress.ip_network(self.network, strict=False)
        (self.data / "pg_hba.conf").write_text(f"local all all trust\nhost all all {network} trust\n")

    def start(self) -> None:
        options = (f"-c listen_addresses={self.host} -c port={self.port} -c unix_socket_directories={self.root} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
                   # a host whose cable is cut mid-transaction must not hold its row locks for hours
                   "-c idle_in_transaction_session_timeout=5s -c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def create_database(self, name: str) -> str:
        """A new, empty database; returns its SQLAlchemy URL."""
        self._run("createdb", "-h", str(self.root), "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    def close(self) -> None:
        try:
            self.stop("immediate")
        except PostgresUnavailable:
            pass  # already stopped
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
