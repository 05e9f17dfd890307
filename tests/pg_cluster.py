"""A throwaway PostgreSQL cluster the test suite starts, stops and removes itself.

Every test that stops or restarts PostgreSQL uses one of these, never the
machine's server. `Cluster.create()` runs `initdb` into a temporary directory
with the server binaries under `/usr/lib/postgresql/<version>/bin` (the newest
version there), with trust authentication, listening on 127.0.0.1 on a free
port and keeping its unix socket in that directory, then `pg_ctl -w start`s it;
`remove()` stops it and deletes the directory. PostgreSQL refuses to run as
root, so as root every server command runs as the `postgres` OS user
(`runuser`), which owns the directory; otherwise they run as the current user.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import psycopg

from tests.processes import free_port

__all__ = ["SERVER_ROOT", "Cluster", "ClusterError", "server_bin_dir", "unavailable"]

SERVER_ROOT = Path("/usr/lib/postgresql")
"""Where Debian installs each PostgreSQL version's server binaries (`<version>/bin`)."""

_BINARIES = ("initdb", "pg_ctl", "postgres")
_SERVER_USER = "postgres"
_TIMEOUT_S = 30
_LOG_TAIL_LINES = 20


class ClusterError(RuntimeError):
    """A server command failed; the message holds its output and the server log's tail."""


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in bin_dir.parent.name.split(".") if part.isdigit())


def server_bin_dir(root: Path = SERVER_ROOT) -> Path | None:
    """The newest `<root>/<version>/bin` holding initdb, pg_ctl and postgres (None: none does)."""
    complete = [
        bin_dir
        for bin_dir in root.glob("*/bin")
        if all((bin_dir / name).is_file() for name in _BINARIES)
    ]
    return max(complete, key=_version_key, default=None)


def _runs_as_root() -> bool:
    return os.geteuid() == 0


def unavailable(root: Path = SERVER_ROOT) -> str | None:
    """None when a throwaway cluster can be made here, else why not."""
    if server_bin_dir(root) is None:
        return (
            f"no PostgreSQL server binaries ({', '.join(_BINARIES)}) under {root}/*/bin "
            "to make a throwaway cluster with (install the postgresql package)"
        )
    if not _runs_as_root():
        return None
    try:
        pwd.getpwnam(_SERVER_USER)
    except KeyError:
        return (
            f"running as root and there is no `{_SERVER_USER}` OS user to run the "
            "throwaway cluster as (PostgreSQL refuses to run as root)"
        )
    if shutil.which("runuser") is None:
        return f"running as root and `runuser` is not installed to run PostgreSQL as {_SERVER_USER}"
    return None


class Cluster:
    """One throwaway cluster in its own directory, listening on 127.0.0.1:`port`."""

    def __init__(self, bin_dir: Path, directory: Path, port: int) -> None:
        self.bin_dir = bin_dir
        self.directory = directory
        self.port = port

    @classmethod
    def create(cls, root: Path = SERVER_ROOT) -> Cluster:
        """Makes a cluster in a new temporary directory and starts it.

        Raises:
            ClusterError: No server binaries, or `initdb` or the first start failed
                (the directory is removed again).
        """
        reason = unavailable(root)
        bin_dir = server_bin_dir(root)
        if reason is not None or bin_dir is None:
            raise ClusterError(reason or "no PostgreSQL server binaries")
        directory = Path(tempfile.mkdtemp(prefix="clerk-relay-pg-"))
        cluster = cls(bin_dir, directory, free_port())
        try:
            if _runs_as_root():
                user = pwd.getpwnam(_SERVER_USER)
                os.chown(directory, user.pw_uid, user.pw_gid)
            cluster._run(
                "initdb",
                f"--pgdata={cluster.data}",
                f"--username={_SERVER_USER}",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",  # a throwaway cluster need not survive a machine crash
                "--no-instructions",
            )
            with (cluster.data / "postgresql.conf").open("a") as conf:
                conf.write(
                    "\n# clerk-relay test suite: a throwaway cluster\n"
                    "listen_addresses = '127.0.0.1'\n"
                    f"port = {cluster.port}\n"
                    f"unix_socket_directories = '{directory}'\n"
                )
            cluster.start()
        except BaseException:
            cluster.remove()
            raise
        return cluster

    @property
    def data(self) -> Path:
        """The data directory."""
        return self.directory / "data"

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self.directory / "server.log"

    @property
    def url(self) -> str:
        """The `postgres` database, as the `postgres` user over TCP."""
        return self.database_url("postgres")

    def database_url(self, database: str) -> str:
        """A database of this cluster, as the `postgres` user over TCP."""
        return f"postgresql://{_SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]
        if _runs_as_root():
            command = ["runuser", "-u", _SERVER_USER, "--", *command]
        done = subprocess.run(
            command,
            cwd=self.directory,  # the server user may not be allowed into the caller's
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_S + 30,
            check=False,
        )
        if done.returncode != 0:
            raise ClusterError(
                f"{program} {' '.join(args)} exited {done.returncode}: "
                f"{done.stdout}{done.stderr}\nserver log ({self.log}):\n{self._log_tail()}"
            )

    def _log_tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError as error:
            return f"(unreadable: {error})"
        return "\n".join(lines[-_LOG_TAIL_LINES:])

    def start(self) -> None:
        """Starts the server and waits until it accepts connections."""
        self._run(
            "pg_ctl",
            "start",
            f"--pgdata={self.data}",
            f"--log={self.log}",
            "--wait",
            f"--timeout={_TIMEOUT_S}",
        )

    def stop(self) -> None:
        """Stops the server in fast mode (active transactions are rolled back) and waits."""
        self._run(
            "pg_ctl",
            "stop",
            f"--pgdata={self.data}",
            "--mode=fast",
            "--wait",
            f"--timeout={_TIMEOUT_S}",
        )

    def is_running(self) -> bool:
        """The server accepts connections now."""
        try:
            with psycopg.connect(self.url, connect_timeout=2):
                return True
        except psycopg.Error:
            return False

    def ensure_running(self) -> None:
        """Starts the server unless it accepts connections already."""
        if not self.is_running():
            self.start()

    @asynccontextmanager
    async def outage(self) -> AsyncIterator[None]:
        """This cluster is down inside the block, and running again after it, whatever happens."""
        try:
            await asyncio.to_thread(self.stop)
            yield
        finally:
            await asyncio.to_thread(self.start)

    @contextmanager
    def fresh_database(self) -> Iterator[str]:
        """A new, empty database's URL; dropped afterwards (connections to it are ended)."""
        name = f"relay_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        try:
            yield self.database_url(name)
        finally:
            self.ensure_running()
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def remove(self) -> None:
        """Stops the server if it runs and deletes the directory (safe to call twice)."""
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
