"""A real PgBouncer in transaction pooling mode, in front of the test PostgreSQL server.

``PgBouncer(host, port).start()`` writes its configuration into a temporary directory,
runs ``/usr/sbin/pgbouncer`` on a free loopback port (as the ``postgres`` OS user when run
as root) and waits until it accepts connections; ``stop()`` ends it and removes the directory.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

BINARY = "/usr/sbin/pgbouncer"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgBouncer:
    """One PgBouncer process: every database of ``host:port``, ``pool_size`` server connections."""

    def __init__(self, host, port, *, user="postgres", pool_size=2):
        self.server = (host, port)
        self.user = user
        self.pool_size = pool_size
        self.port = free_port()
        self.process = None
        self.directory = None

    def start(self, timeout=15.0):
        self.directory = Path(tempfile.mkdtemp(prefix="omnitenant-pgbouncer-"))
        (self.directory / "userlist.txt").write_text(f'"{self.user}" ""\n')
        (self.directory / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={self.server[0]} port={self.server[1]}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.directory / 'userlist.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\n"
            "min_pool_size = 0\n"
            "reserve_pool_size = 0\n"
            "max_client_conn = 2000\n"
            "max_db_connections = 0\n"
            f"logfile = {self.directory / 'pgbouncer.log'}\n"
        )
        shutil.chown(self.directory, user="postgres")
        for path in self.directory.iterdir():
            shutil.chown(path, user="postgres")
        # pgbouncer refuses to run as root; the process itself is the one to stop and reap.
        self.process = subprocess.Popen(
            [BINARY, str(self.directory / "pgbouncer.ini")],
            user="postgres" if os.geteuid() == 0 else None,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {self.process.stderr.read().decode()}")
            try:
                with psycopg.connect(**self.params("postgres"), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return self
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.05)

    def params(self, dbname):
        return {"host": "127.0.0.1", "port": self.port, "user": self.user, "dbname": dbname}

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            self.process.stderr.close()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
