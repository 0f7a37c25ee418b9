"""Runs the sample site as a user would: manage.py, gunicorn and a Celery worker as subprocesses.

Two variants: "embedded" (no services: SQLite file per tenant, file cache, eager Celery) and
"postgres" (DATABASE_URL, REDIS_URL, CELERY_BROKER_URL: schema per tenant, Redis, a worker).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
SITE_DIR = ROOT / "sample_site"
VARIANTS = ["embedded", "postgres"]
SERVICE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")


def postgres_url() -> str:
    user = os.environ.get("PGUSER", "postgres")
    password = os.environ.get("PGPASSWORD", "")
    credentials = f"{user}:{password}" if password else user
    host = os.environ.get("PGHOST", "127.0.0.1")
    port = os.environ.get("PGPORT", "5432")
    return f"postgres://{credentials}@{host}:{port}/{site_database_name()}"


def site_database_name() -> str:
    return f"{os.environ.get('OMNITENANT_TEST_DB', 'omnitenant')}_site"


def site_env(variant: str, data_dir: Path) -> dict[str, str]:
    """The environment of the sample site's processes for one variant."""
    env = {key: value for key, value in os.environ.items() if key not in SERVICE_VARIABLES}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["SAMPLE_DATA_DIR"] = str(data_dir)
    env["DJANGO_SECRET_KEY"] = "sample-site-tests"
    if variant == "postgres":
        redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1")
        env.update(DATABASE_URL=postgres_url(), REDIS_URL=redis_url, CELERY_BROKER_URL=redis_url)
    return env


def reset_postgres() -> None:
    """Drop and create the sample site's PostgreSQL database, so each run starts clean."""
    import psycopg

    name = site_database_name()
    with psycopg.connect(
        host=os.environ.get("PGHOST", "127.0.0.1"),
        port=os.environ.get("PGPORT", "5432"),
        user=os.environ.get("PGUSER", "postgres"),
        password=os.environ.get("PGPASSWORD", ""),
        dbname="postgres",
        autocommit=True,
    ) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def forget_cached_entries(redis_url: str) -> None:
    """Delete the sample site's cache entries left by an earlier run (KEY_PREFIX "sample")."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(match="sample:*", count=500):
            client.delete(key)
    finally:
        client.close()


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py args`` for the sample site; raise with its output when it fails."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=SITE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"manage.py {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


def shell(env: dict[str, str], code: str) -> str:
    """The last line ``code`` prints when run by ``manage.py shell`` (after any banner)."""
    return manage(env, "shell", "-c", code).stdout.strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited early:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.2)
    raise AssertionError(f"the server did not listen on {port}:\n{log.read_text()}")


def wait_for_log(line: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Wait until ``log`` contains ``line`` (e.g. Celery's "ready." once it consumes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the process exited early:\n{log.read_text()}")
        if line in log.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"{line!r} did not appear in {log.name}:\n{log.read_text()}")


class RunningSite:
    """A sample site served by gunicorn (and a Celery worker with a broker) on 127.0.0.1."""

    def __init__(self, variant: str, data_dir: Path) -> None:
        self.variant = variant
        self.data_dir = data_dir
        self.env = site_env(variant, data_dir)
        self.port = free_port()
        self._processes: list[subprocess.Popen] = []
        self._logs: list[Path] = []

    def url(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"

    def client(self, host: str) -> SiteClient:
        return SiteClient(self.port, host)

    def start(self) -> None:
        if self.variant == "postgres":
            reset_postgres()
        manage(self.env, "demo_setup")
        if self.variant == "postgres":
            forget_cached_entries(self.env["REDIS_URL"])
        # Threaded workers: a browser's idle keep-alive connections must not block a worker.
        server = self._spawn(
            "gunicorn",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "demo.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--threads",
                "4",
            ],
        )
        wait_for_port(self.port, server, self._logs[-1])
        if self.env.get("CELERY_BROKER_URL"):
            worker_cmd = [sys.executable, "-m", "celery", "-A", "demo", "worker", "--pool=solo"]
            worker = self._spawn(
                "worker",
                [*worker_cmd, "--purge", "--without-gossip", "--without-mingle", "-l", "info"],
            )
            # --purge runs at startup: a task queued before the worker is ready would be erased.
            wait_for_log(" ready.", worker, self._logs[-1])

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        log = self.data_dir / f"{name}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                command, cwd=SITE_DIR, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self._processes.append(process)
        self._logs.append(log)
        return process

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()}" for log in self._logs)

    def stop(self) -> None:
        for process in reversed(self._processes):
            process.send_signal(signal.SIGTERM)
        for process in reversed(self._processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Response:
    def __init__(self, status: int, headers: dict[str, str], text: str) -> None:
        self.status = status
        self.headers = headers
        self.text = text


class SiteClient:
    """A tiny HTTP client for one host of the site (cookies and CSRF kept per host)."""

    def __init__(self, port: int, host: str) -> None:
        self.port = port
        self.host = host
        self.cookies: dict[str, str] = {}

    def get(self, path: str = "/", headers: dict[str, str] | None = None) -> Response:
        return self._request("GET", path, None, headers or {})

    def post(self, path: str, data: dict[str, str], headers: dict[str, str] | None = None):
        if "csrftoken" not in self.cookies:
            self.get("/")
        form = {"csrfmiddlewaretoken": self.cookies.get("csrftoken", ""), **data}
        extra = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self._request("POST", path, urlencode(form), extra)

    def _request(self, method, path, body, headers) -> Response:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Host": f"{self.host}:{self.port}", **headers}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    match = re.match(r"([^=]+)=([^;]*)", value)
                    if match:
                        self.cookies[match[1]] = match[2]
            return Response(response.status, dict(response.getheaders()), text)
        finally:
            connection.close()
