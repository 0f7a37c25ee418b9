"""A PostgreSQL cluster of the test's own: stopped, killed and started again at will.

``PostgresCluster().create()`` runs ``initdb`` into a temporary directory owned by the
``postgres`` OS user (trust auth, no fsync), ``start()`` serves it on a free loopback port
(its socket in that directory too), ``stop()`` / ``kill()`` end the server (a clean shutdown,
or ``immediate``: no checkpoint, crash recovery at the next start) and ``remove()`` stops it
and deletes the directory. The shared server is never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from tests.servers._process import free_port, wait_for

BINDIR = Path(
    subprocess.run(
        ["pg_config", "--bindir"], capture_output=True, text=True, check=True
    ).stdout.strip()
)
USER = "postgres"


class PostgresCluster:
    """One ``initdb`` cluster served by ``pg_ctl`` on ``127.0.0.1:port``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.directory: Path | None = None

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def settings(self, name: str) -> dict[str, str]:
        """A DATABASES entry for database ``name`` on this cluster."""
        return {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "USER": USER,
            "PASSWORD": "",
            "NAME": name,
        }

    def create(self) -> PostgresCluster:
        """``initdb`` a new cluster and start it."""
        self.directory = Path(tempfile.mkdtemp(prefix="omnitenant-postgres-"))
        shutil.chown(self.directory, user=USER)
        self._run(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", USER, "-E", "UTF8", "--no-sync"
        )
        self.start()
        return self

    def start(self, timeout: float = 15.0) -> None:
        """Start the server and wait until it accepts queries."""
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c fsync=off "
            f"-c full_page_writes=off -c unix_socket_directories={self.directory}"
        )
        log = self.directory / "server.log"
        self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            str(int(timeout)),
            "-D",
            str(self.data),
            "-l",
            str(log),
            "-o",
            options,
        )
        wait_for(self.answers, timeout, f"PostgreSQL on port {self.port} answering")

    def answers(self) -> bool:
        try:
            with psycopg.connect(
                host="127.0.0.1", port=self.port, user=USER, dbname="postgres", connect_timeout=2
            ) as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError:
            return False
        return True

    def stop(self) -> None:
        """A fast shutdown: sessions are ended, the server is gone when this returns."""
        self._pg_ctl_stop("fast")

    def kill(self) -> None:
        """An immediate shutdown, as after a crash: no checkpoint, recovery at next start."""
        self._pg_ctl_stop("immediate")

    def running(self) -> bool:
        result = subprocess.run(
            [str(BINDIR / "pg_ctl"), "status", "-D", str(self.data)],
            user=self._os_user(),
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def ensure_running(self) -> None:
        """Start the server again if a test left it stopped."""
        if not self.running():
            self.start()

    def remove(self) -> None:
        """Stop the server (if running) and delete the cluster's directory."""
        if self.directory is None:
            return
        if self.data.exists() and self.running():
            self._pg_ctl_stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None

    def _pg_ctl_stop(self, mode: str) -> None:
        self._run("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.data))

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run(
            [str(BINDIR / tool), *args],
            user=self._os_user(),
            cwd=self.directory,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            log = self.directory / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            msg = f"{tool} {' '.join(args)} failed:\n{result.stdout}{result.stderr}{tail}"
            raise RuntimeError(msg)

    @staticmethod
    def _os_user() -> str | None:
        # PostgreSQL refuses to run as root.
        return USER if os.geteuid() == 0 else None
